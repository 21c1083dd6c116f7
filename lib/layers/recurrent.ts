// The recurrent layer shared by RNN, GRU and LSTM: PyTorch's nn.RNN/GRU/LSTM
// semantics (time-major [T,B,I], batch-first [B,T,I] or unbatched [T,I],
// packed-sequence lengths, PyTorch parameter names, LSTM's proj_size) over one
// native call per pass. Parameters and gradients each live in one flat
// Float32Array (Float64Array with dtype 'float64'), so optimizers, clipping and
// saving are one pass.

import { checkBoolean, checkLengths, checkNumberInRange, checkObject, checkPositiveInteger, checkSeed, checkTensor, describe, formatShape } from '../check';
import { RnnkitError, shapeError, typeError, valueError } from '../errors';
import { native, NativeCell, type NativeRecurrentStack } from '../native';
import { Random } from '../random';
import type { ArrayOf, DType, FloatArray, Tensor } from '../tensor';
import { checkElementCount } from './allocation';
import { gateCount } from './cell-kind';
import { swapLeadingAxes } from './batch-layout';
import { checkDType } from './dtype';
import { ParameterModule } from './module';

export interface RecurrentOptions<D extends DType = 'float32'> {
  inputSize: number;
  hiddenSize: number;
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** Run a second direction over the reversed sequence and concatenate (default false). */
  bidirectional?: boolean;
  /** Dropout probability on the inputs of layers 2..numLayers, in training only (default 0). */
  dropout?: number;
  /** Use b_ih and b_hh (default true). */
  bias?: boolean;
  /** Seed of initialisation and dropout (default 0). */
  seed?: number;
  /** Refuse shapes whose native workspace would exceed this many bytes (default 4 GiB). */
  workspaceLimitBytes?: number;
  /**
   * x, output, dOutput and dx are [B, T, F] instead of [T, B, F] (PyTorch's batch_first; default false).
   * h0, c0, hN, cN and their gradients stay [numLayers*D, B, H]. The native loop reads time-major, so
   * each pass copies its input and output once (a few percent of a forward, bench/batch-first.ts).
   */
  batchFirst?: boolean;
  /**
   * Element type of parameters, gradients, inputs and outputs (default 'float32'). 'float64' runs the
   * kernels in double: every Tensor the layer takes or gives holds a Float64Array. For gradient checks and
   * users who need the precision; a float64 layer trains with SGD/Adam/AdamW and clipGradNorm, but cannot
   * be part of a structure (ManyToOne, ...) or be exported to ONNX.
   */
  dtype?: D;
}

export interface ForwardOptions<A extends FloatArray = Float32Array> {
  /**
   * Initial hidden state [numLayers*D, B, Hout], or [numLayers*D, Hout] for an unbatched x (default zeros);
   * Hout is projSize for a projected LSTM, else hiddenSize.
   */
  h0?: Tensor<A>;
  /** Initial cell state [numLayers*D, B, hiddenSize] (unbatched: [numLayers*D, hiddenSize]), LSTM only (default zeros). */
  c0?: Tensor<A>;
  /** Valid steps of each sequence, in [1, T]; steps past them are padding. */
  lengths?: Int32Array;
  /** Keep what backward needs and apply dropout (default false). */
  training?: boolean;
  /** Seed of this call's dropout masks (default: drawn from the layer's own seeded stream). */
  dropoutSeed?: number;
}

export interface RecurrentOutput<A extends FloatArray = Float32Array> {
  /**
   * [T, B, D*Hout] ([B, T, D*Hout] with batchFirst, [T, D*Hout] for an unbatched x); zeros at padded steps.
   * Hout is projSize for a projected LSTM, else hiddenSize.
   */
  output: Tensor<A>;
  /** `[numLayers*D, B, Hout]` (`[numLayers*D, Hout]` unbatched): each sequence's state after its last valid step. */
  hN: Tensor<A>;
  /** `[numLayers*D, B, hiddenSize]` (unbatched: without B), LSTM only. */
  cN?: Tensor<A>;
}

/** Shaped like the last training forward's output, hN and cN. */
export interface OutputGradients<A extends FloatArray = Float32Array> {
  dOutput?: Tensor<A>;
  dhN?: Tensor<A>;
  dcN?: Tensor<A>;
}

/** Shaped like that forward's x, h0 and c0. */
export interface InputGradients<A extends FloatArray = Float32Array> {
  dx: Tensor<A>;
  dh0: Tensor<A>;
  /** LSTM only. */
  dc0?: Tensor<A>;
}

/** How x of one forward was laid out: backward takes and returns the same layout. */
interface Recorded { steps: number; batch: number; unbatched: boolean }

const DEFAULT_WORKSPACE_LIMIT = 4 * 1024 ** 3;

/** D: the dtype ('float32' unless made with dtype: 'float64'), whose typed array every Tensor it takes and gives holds. */
export abstract class Recurrent<D extends DType = 'float32'> extends ParameterModule<ArrayOf<D>> {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly dropout: number;
  readonly bias: boolean;
  /** x, output, dOutput and dx are [B, T, F]; states stay [numLayers*D, B, H]. */
  readonly batchFirst: boolean;
  /** LSTM's projection (PyTorch's proj_size): h = W_hr (o * tanh(c)) has projSize units; 0: none. */
  readonly projSize: number;
  declare readonly dtype: D;

  private readonly stack: NativeRecurrentStack;
  private readonly workspaceLimitBytes: number;
  private readonly gates: number;
  private readonly random: Random;
  private readonly usesCellState: boolean;
  private recorded: Recorded | null = null;
  private randomBeforeForward: number[] | null = null;
  private disposed = false;

  protected constructor(cell: NativeCell, options: RecurrentOptions<D> & { projSize?: number }, className: string) {
    const c = resolveOptions(cell, options, className);
    super(recurrentParameterSpecs(cell, c), 'layer', c.dtype);
    this.inputSize = c.inputSize;
    this.hiddenSize = c.hiddenSize;
    this.numLayers = c.numLayers;
    this.bidirectional = c.bidirectional;
    this.bias = c.bias;
    this.dropout = c.dropout;
    this.batchFirst = c.batchFirst;
    this.projSize = c.projSize;
    this.usesCellState = cell === NativeCell.Lstm;
    this.workspaceLimitBytes = c.workspaceLimitBytes;
    this.gates = gateCount(cell);
    this.stack = new native.RecurrentStack({
      cell, numLayers: c.numLayers, numDirections: this.numDirections, inputSize: c.inputSize,
      hiddenSize: c.hiddenSize, bias: c.bias, dropout: c.dropout, workspaceLimitBytes: c.workspaceLimitBytes,
      ...(c.projSize > 0 ? { projSize: c.projSize } : {}), ...(c.dtype === 'float64' ? { dtype: c.dtype } : {}),
    });
    if (this.stack.paramCount() !== this.numParameters) {
      throw new RnnkitError(`internal: parameter layout ${this.numParameters} != native ${this.stack.paramCount()}`,
        'ERR_RNNKIT_INTERNAL');
    }
    this.random = new Random(c.seed);
    this.resetParameters();
  }

  get numDirections(): number {
    return this.bidirectional ? 2 : 1;
  }

  /** Width of h per direction (hN, h0 and each direction's output columns): projSize when set, else hiddenSize. */
  get hiddenStateSize(): number {
    return this.projSize > 0 ? this.projSize : this.hiddenSize;
  }

  /** True for LSTM: forward takes c0 and returns cN. */
  get hasCellState(): boolean {
    return this.usesCellState;
  }

  /** PyTorch's default: every weight and bias from U(-1/sqrt(H), 1/sqrt(H)). */
  resetParameters(): void {
    this.assertIdle();
    const k = 1 / Math.sqrt(this.hiddenSize);
    for (let i = 0; i < this.parameters.length; i++) this.parameters[i] = this.random.uniform(-k, k);
  }

  protected override onParametersLoaded(): void {
    this.recorded = null;  // a pending backward would mix old activations with new weights
  }

  forward(x: Tensor<ArrayOf<D>>, options: ForwardOptions<ArrayOf<D>> = {}): RecurrentOutput<ArrayOf<D>> {
    const call = this.prepareForward(x, options);
    this.refusedKeepsRandom(() => this.stack.forward(...call.args));
    this.recorded = call.record;
    return call.finish();
  }

  /** Same as forward, computed on a native worker thread; the event loop stays free. */
  async forwardAsync(x: Tensor<ArrayOf<D>>, options: ForwardOptions<ArrayOf<D>> = {}): Promise<RecurrentOutput<ArrayOf<D>>> {
    const call = this.prepareForward(x, options);
    await this.busy.track(this.refusedKeepsRandom(() => this.stack.forwardAsync(...call.args)));
    this.recorded = call.record;
    return call.finish();
  }

  /** The dropout seed was drawn before the native checks ran: a refused call puts it back. */
  private refusedKeepsRandom<T>(run: () => T): T {
    const before = this.randomBeforeForward;
    try {
      return run();
    } catch (error) {
      if (before) this.random.setState(before);
      throw error;
    }
  }

  /**
   * BPTT through the last training forward. Accumulates parameter gradients
   * into `gradients`; returns the gradients of x, h0 (and c0).
   */
  backward(grads: OutputGradients<ArrayOf<D>> = {}): InputGradients<ArrayOf<D>> {
    const call = this.prepareBackward(grads);
    this.stack.backward(...call.args);
    return call.finish();
  }

  async backwardAsync(grads: OutputGradients<ArrayOf<D>> = {}): Promise<InputGradients<ArrayOf<D>>> {
    const call = this.prepareBackward(grads);
    await this.busy.track(this.stack.backwardAsync(...call.args));
    return call.finish();
  }

  /** Frees native memory now; later calls throw. */
  dispose(): void {
    if (this.disposed) return;
    this.assertIdle();
    this.stack.dispose();
    this.disposed = true;
  }

  private prepareForward(x: Tensor<ArrayOf<D>>, options: ForwardOptions<ArrayOf<D>>) {
    this.assertIdle();
    this.randomBeforeForward = null;
    const o = checkObject('options', options);
    const I = this.inputSize, H = this.hiddenSize, W = this.hiddenStateSize, S = this.numLayers * this.numDirections;
    const DW = this.numDirections * W;
    const input = this.checkInput(x);
    const unbatched = input.shape.length === 2;
    const [T, B] = unbatched ? [input.shape[0], 1] : this.batchFirst ? [input.shape[1], input.shape[0]] : input.shape;
    if (T < 1 || B < 1) throw shapeError(`x: expected T >= 1 and B >= 1, got shape ${formatShape(input.shape)}`);
    const { shape: stateShape, note: stateNote } = this.stateLayout(W, B, unbatched, false);
    const { shape: cellShape, note: cellNote } = this.stateLayout(H, B, unbatched, false);
    const h0 = o.h0 === undefined ? null : this.checkArray('h0', o.h0, stateShape, stateNote);
    let c0: ArrayOf<D> | null = null;
    if (o.c0 !== undefined) {
      if (!this.usesCellState) throw typeError('c0: only LSTM has a cell state');
      c0 = this.checkArray('c0', o.c0, cellShape, cellNote);
    }
    const lengths = o.lengths === undefined ? null : checkLengths('lengths', o.lengths, B, T);
    const training = o.training === undefined ? false : checkBoolean('training', o.training);
    this.checkWorkspace(T, B, training);  // before the outputs are allocated: the addon checks again
    let dropoutSeed = 0;
    if (o.dropoutSeed !== undefined) {
      dropoutSeed = checkSeed('dropoutSeed', o.dropoutSeed);
      if (dropoutSeed < 0) throw valueError(`dropoutSeed: expected a non-negative integer, got ${dropoutSeed}`);
    }
    // Every check passed: from here on nothing throws before the native call.
    // [B, T, F] with B = 1 or T = 1 is the same memory as [T, B, F], and so is unbatched [T, F] as [T, 1, F].
    const swap = this.batchFirst && !unbatched && T > 1 && B > 1;
    const xTimeMajor = swap ? swapLeadingAxes(input.data, B, T, I) : input.data;
    const output = this.callBuffer('output', T * B * DW);
    const hN = this.callBuffer('hN', S * B * W);
    const cN = this.usesCellState ? this.callBuffer('cN', S * B * H) : null;
    if (o.dropoutSeed === undefined && training) {
      this.randomBeforeForward = this.random.getState();
      dropoutSeed = this.random.nextSafeInteger();
    }
    const args = [this.parameters, xTimeMajor, T, B, h0, c0, lengths, training, dropoutSeed, output, hN, cN] as const;
    const finish = (): RecurrentOutput<ArrayOf<D>> => {
      const result: RecurrentOutput<ArrayOf<D>> = {
        output: unbatched ? { data: output, shape: [T, DW] }
          : this.batchFirst ? { data: swap ? swapLeadingAxes(output, T, B, DW) : output, shape: [B, T, DW] }
            : { data: output, shape: [T, B, DW] },
        hN: { data: hN, shape: [...stateShape] },
      };
      if (cN) result.cN = { data: cN, shape: [...cellShape] };
      return result;
    };
    const record: Recorded | null = training ? { steps: T, batch: B, unbatched } : this.recorded;
    return { args, finish, record };
  }

  /** x as this layer takes it: [T, B, I], [B, T, I] with batchFirst, or [T, I] unbatched. */
  private checkInput(x: Tensor<ArrayOf<D>>): Tensor<ArrayOf<D>> {
    const I = this.inputSize;
    const shape = typeof x === 'object' && x !== null ? (x as { shape?: unknown }).shape : undefined;
    if (Array.isArray(shape) && shape.length === 2) {
      return checkTensor('x', x, [-1, I], `[T, inputSize=${I}], unbatched`, this.dtype);
    }
    const batched = this.batchFirst ? `[B, T, inputSize=${I}] (batchFirst)` : `[T, B, inputSize=${I}]`;
    return checkTensor('x', x, [-1, -1, I], `${batched}, or [T, inputSize=${I}] unbatched`, this.dtype);
  }

  /** A state tensor's data, checked to be of this layer's dtype and shape. */
  private checkArray(name: string, t: unknown, shape: readonly number[], note: string): ArrayOf<D> {
    return checkTensor(name, t, shape, note, this.dtype).data;
  }

  /**
   * The shape of a state tensor of `width` units ([S, B, width], or [S, width] unbatched) and the words that
   * describe it; `afterTraining`: as the last training forward left it.
   */
  private stateLayout(width: number, B: number, unbatched: boolean, afterTraining: boolean): { shape: number[]; note: string } {
    const S = this.numLayers * this.numDirections;
    const units = width === this.hiddenSize ? `hiddenSize=${width}` : `projSize=${width}`;
    if (unbatched) {
      const why = afterTraining ? 'as the last training forward was unbatched' : 'as x is unbatched';
      return { shape: [S, width], note: `[numLayers*numDirections=${S}, ${units}], ${why}` };
    }
    return { shape: [S, B, width], note: `[numLayers*numDirections=${S}, B=${B}, ${units}]` };
  }

  /** The addon's size checks, made before anything is allocated for the call (same messages). */
  private checkWorkspace(T: number, B: number, training: boolean): void {
    checkElementCount('output', T * B * this.numDirections * this.hiddenSize * this.gates);
    const bytes = this.stack.workspaceBytes(T, B, training);
    if (bytes > this.workspaceLimitBytes) {
      throw valueError(`workspace: T=${T}, B=${B} needs ${(bytes / 1048576).toFixed(6)} MiB, above the limit of ` +
        `${(this.workspaceLimitBytes / 1048576).toFixed(6)} MiB (raise workspaceLimitBytes to allow it)`);
    }
  }

  private prepareBackward(grads: OutputGradients<ArrayOf<D>>) {
    this.assertIdle();
    const g = checkObject('grads', grads);
    if (!this.recorded) {
      throw new RnnkitError('backward: no training forward to differentiate; call forward(x, { training: true }) first',
        'ERR_RNNKIT_STATE');
    }
    const { steps: T, batch: B, unbatched } = this.recorded;
    const I = this.inputSize, H = this.hiddenSize, W = this.hiddenStateSize, S = this.numLayers * this.numDirections;
    const DW = this.numDirections * W;
    const outputShape = unbatched ? [T, DW] : this.batchFirst ? [B, T, DW] : [T, B, DW];
    const { shape: stateShape, note: stateNote } = this.stateLayout(W, B, unbatched, true);
    const { shape: cellShape, note: cellNote } = this.stateLayout(H, B, unbatched, true);
    const outputNote = `the shape of the last training forward's output${unbatched ? ', unbatched' : this.batchFirst ? ', batchFirst' : ''}`;
    const dOutputData = g.dOutput === undefined ? null : this.checkArray('dOutput', g.dOutput, outputShape, outputNote);
    const dhN = g.dhN === undefined ? null : this.checkArray('dhN', g.dhN, stateShape, stateNote);
    let dcN: ArrayOf<D> | null = null;
    if (g.dcN !== undefined) {
      if (!this.usesCellState) throw typeError('dcN: only LSTM has a cell state');
      dcN = this.checkArray('dcN', g.dcN, cellShape, cellNote);
    }
    // dOutput and dx in the forward's layout; the native loop reads and writes time-major.
    const swap = this.batchFirst && !unbatched && T > 1 && B > 1;
    const dOutput = dOutputData === null ? null : swap ? swapLeadingAxes(dOutputData, B, T, DW) : dOutputData;
    const dx = this.callBuffer('dx', T * B * I);
    const dh0 = this.callBuffer('dh0', S * B * W);
    const dc0 = this.usesCellState ? this.callBuffer('dc0', S * B * H) : null;
    const args = [this.parameters, this.gradients, dOutput, dhN, dcN, dx, dh0, dc0] as const;
    const finish = (): InputGradients<ArrayOf<D>> => {
      const result: InputGradients<ArrayOf<D>> = {
        dx: unbatched ? { data: dx, shape: [T, I] }
          : this.batchFirst ? { data: swap ? swapLeadingAxes(dx, T, B, I) : dx, shape: [B, T, I] }
            : { data: dx, shape: [T, B, I] },
        dh0: { data: dh0, shape: [...stateShape] },
      };
      if (dc0) result.dc0 = { data: dc0, shape: [...cellShape] };
      return result;
    };
    return { args, finish };
  }

  protected override assertIdle(): void {
    if (this.disposed) throw new RnnkitError('this layer was disposed; create a new one', 'ERR_RNNKIT_DISPOSED');
    super.assertIdle();
  }
}

interface ResolvedOptions {
  inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; bias: boolean;
  dropout: number; seed: number; workspaceLimitBytes: number; batchFirst: boolean; projSize: number; dtype: DType;
}

function resolveOptions(cell: NativeCell, options: RecurrentOptions<DType> & { projSize?: unknown }, className: string): ResolvedOptions {
  const o = checkObject(`${className} options`, options);
  const dropout = o.dropout === undefined ? 0 : checkNumberInRange('dropout', o.dropout, 0, 1);
  const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
  const limit = o.workspaceLimitBytes ?? DEFAULT_WORKSPACE_LIMIT;
  if (typeof limit !== 'number') throw typeError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
  if (!(limit > 0)) throw valueError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
  const hiddenSize = checkPositiveInteger('hiddenSize', o.hiddenSize);
  return {
    inputSize: checkPositiveInteger('inputSize', o.inputSize),
    hiddenSize,
    numLayers: o.numLayers === undefined ? 1 : checkPositiveInteger('numLayers', o.numLayers, 1024),
    bidirectional: o.bidirectional === undefined ? false : checkBoolean('bidirectional', o.bidirectional),
    bias: o.bias === undefined ? true : checkBoolean('bias', o.bias),
    batchFirst: o.batchFirst === undefined ? false : checkBoolean('batchFirst', o.batchFirst),
    projSize: checkProjSize('projSize', o.projSize, cell === NativeCell.Lstm ? null : className, hiddenSize),
    dtype: checkDType('dtype', o.dtype),
    dropout, seed, workspaceLimitBytes: limit,
  };
}

/**
 * LSTM's projSize (PyTorch's proj_size): absent or 0 is none, else an integer in [1, hiddenSize), as PyTorch
 * requires. `otherCell` names the layer when it is not an LSTM: then the option is refused, as PyTorch's
 * RNN and GRU refuse proj_size.
 */
export function checkProjSize(name: string, value: unknown, otherCell: string | null, hiddenSize: number): number {
  if (value === undefined) return 0;
  if (otherCell !== null) {
    throw valueError(`${name}: only LSTM has a projection (PyTorch's proj_size); ${otherCell} takes no ${name}, ` +
      `got ${describe(value)}`);
  }
  if (typeof value !== 'number') throw typeError(`${name}: expected a non-negative integer, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 0) throw valueError(`${name}: expected a non-negative integer, got ${describe(value)}`);
  if (value === 0) return 0;
  if (value >= hiddenSize) {
    throw valueError(`${name}: expected an integer smaller than hiddenSize (${hiddenSize}), as PyTorch's proj_size ` +
      `must be, got ${value}`);
  }
  return value;
}

/**
 * PyTorch's names and shapes, in its order: per layer, per direction: w_ih, w_hh, b_ih, b_hh, then w_hr
 * [projSize, hiddenSize] of a projected LSTM (whose w_hh is [G*H, projSize] and later layers take D*projSize).
 */
function recurrentParameterSpecs(cell: NativeCell, c: ResolvedOptions): Array<[string, number[]]> {
  const gates = gateCount(cell);
  const GH = gates * c.hiddenSize, H = c.hiddenSize, P = c.projSize, W = P > 0 ? P : H, D = c.bidirectional ? 2 : 1;
  const specs: Array<[string, number[]]> = [];
  for (let l = 0; l < c.numLayers; l++) {
    const inputs = l === 0 ? c.inputSize : D * W;
    for (let d = 0; d < D; d++) {
      const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
      specs.push([`weight_ih_${suffix}`, [GH, inputs]], [`weight_hh_${suffix}`, [GH, W]]);
      if (c.bias) specs.push([`bias_ih_${suffix}`, [GH]], [`bias_hh_${suffix}`, [GH]]);
      if (P > 0) specs.push([`weight_hr_${suffix}`, [P, H]]);
    }
  }
  return specs;
}
