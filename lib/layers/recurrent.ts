// The recurrent layer shared by RNN, GRU and LSTM: PyTorch's nn.RNN/GRU/LSTM
// semantics (time-major [T,B,I], batch-first [B,T,I] or unbatched [T,I],
// packed-sequence lengths, PyTorch parameter names) over one native call per
// pass. Parameters and gradients each live in one flat Float32Array, so
// optimizers, clipping and saving are one pass.

import { checkBoolean, checkLengths, checkNumberInRange, checkObject, checkPositiveInteger, checkSeed, checkTensor, describe, formatShape } from '../check';
import { RnnkitError, shapeError, typeError, valueError } from '../errors';
import { native, NativeCell, type NativeRecurrentStack } from '../native';
import { Random } from '../random';
import type { Tensor } from '../tensor';
import { checkElementCount } from './allocation';
import { gateCount } from './cell-kind';
import { swapLeadingAxes } from './batch-layout';
import { ParameterModule } from './module';

export interface RecurrentOptions {
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
}

export interface ForwardOptions {
  /** Initial hidden state [numLayers*D, B, H], or [numLayers*D, H] for an unbatched x (default zeros). */
  h0?: Tensor;
  /** Initial cell state, shaped like h0, LSTM only (default zeros). */
  c0?: Tensor;
  /** Valid steps of each sequence, in [1, T]; steps past them are padding. */
  lengths?: Int32Array;
  /** Keep what backward needs and apply dropout (default false). */
  training?: boolean;
  /** Seed of this call's dropout masks (default: drawn from the layer's own seeded stream). */
  dropoutSeed?: number;
}

export interface RecurrentOutput {
  /** [T, B, D*H] ([B, T, D*H] with batchFirst, [T, D*H] for an unbatched x); zeros at padded steps. */
  output: Tensor;
  /** `[numLayers*D, B, H]` (`[numLayers*D, H]` unbatched): each sequence's state after its last valid step. */
  hN: Tensor;
  /** Shaped like hN, LSTM only. */
  cN?: Tensor;
}

/** Shaped like the last training forward's output, hN and cN. */
export interface OutputGradients {
  dOutput?: Tensor;
  dhN?: Tensor;
  dcN?: Tensor;
}

/** Shaped like that forward's x, h0 and c0. */
export interface InputGradients {
  dx: Tensor;
  dh0: Tensor;
  /** LSTM only. */
  dc0?: Tensor;
}

/** How x of one forward was laid out: backward takes and returns the same layout. */
interface Recorded { steps: number; batch: number; unbatched: boolean }

const DEFAULT_WORKSPACE_LIMIT = 4 * 1024 ** 3;

export abstract class Recurrent extends ParameterModule {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly dropout: number;
  readonly bias: boolean;
  /** x, output, dOutput and dx are [B, T, F]; states stay [numLayers*D, B, H]. */
  readonly batchFirst: boolean;

  private readonly stack: NativeRecurrentStack;
  private readonly workspaceLimitBytes: number;
  private readonly gates: number;
  private readonly random: Random;
  private readonly usesCellState: boolean;
  private recorded: Recorded | null = null;
  private randomBeforeForward: number[] | null = null;
  private disposed = false;

  protected constructor(cell: NativeCell, options: RecurrentOptions, className: string) {
    const c = resolveOptions(options, className);
    super(recurrentParameterSpecs(cell, c));
    this.inputSize = c.inputSize;
    this.hiddenSize = c.hiddenSize;
    this.numLayers = c.numLayers;
    this.bidirectional = c.bidirectional;
    this.bias = c.bias;
    this.dropout = c.dropout;
    this.batchFirst = c.batchFirst;
    this.usesCellState = cell === NativeCell.Lstm;
    this.workspaceLimitBytes = c.workspaceLimitBytes;
    this.gates = gateCount(cell);
    this.stack = new native.RecurrentStack({
      cell, numLayers: c.numLayers, numDirections: this.numDirections, inputSize: c.inputSize,
      hiddenSize: c.hiddenSize, bias: c.bias, dropout: c.dropout, workspaceLimitBytes: c.workspaceLimitBytes,
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

  forward(x: Tensor, options: ForwardOptions = {}): RecurrentOutput {
    const call = this.prepareForward(x, options);
    this.refusedKeepsRandom(() => this.stack.forward(...call.args));
    this.recorded = call.record;
    return call.finish();
  }

  /** Same as forward, computed on a native worker thread; the event loop stays free. */
  async forwardAsync(x: Tensor, options: ForwardOptions = {}): Promise<RecurrentOutput> {
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
  backward(grads: OutputGradients = {}): InputGradients {
    const call = this.prepareBackward(grads);
    this.stack.backward(...call.args);
    return call.finish();
  }

  async backwardAsync(grads: OutputGradients = {}): Promise<InputGradients> {
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

  private prepareForward(x: Tensor, options: ForwardOptions) {
    this.assertIdle();
    this.randomBeforeForward = null;
    const o = checkObject('options', options);
    const I = this.inputSize, H = this.hiddenSize, S = this.numLayers * this.numDirections, DH = this.numDirections * H;
    const input = this.checkInput(x);
    const unbatched = input.shape.length === 2;
    const [T, B] = unbatched ? [input.shape[0], 1] : this.batchFirst ? [input.shape[1], input.shape[0]] : input.shape;
    if (T < 1 || B < 1) throw shapeError(`x: expected T >= 1 and B >= 1, got shape ${formatShape(input.shape)}`);
    const stateShape = unbatched ? [S, H] : [S, B, H];
    const stateNote = unbatched ? `[numLayers*numDirections=${S}, hiddenSize=${H}], as x is unbatched`
      : `[numLayers*numDirections=${S}, B=${B}, hiddenSize=${H}]`;
    const h0 = o.h0 === undefined ? null : checkTensor('h0', o.h0, stateShape, stateNote).data;
    let c0: Float32Array | null = null;
    if (o.c0 !== undefined) {
      if (!this.usesCellState) throw typeError('c0: only LSTM has a cell state');
      c0 = checkTensor('c0', o.c0, stateShape, stateNote).data;
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
    const output = this.callBuffer('output', T * B * DH);
    const hN = this.callBuffer('hN', S * B * H);
    const cN = this.usesCellState ? this.callBuffer('cN', S * B * H) : null;
    if (o.dropoutSeed === undefined && training) {
      this.randomBeforeForward = this.random.getState();
      dropoutSeed = this.random.nextSafeInteger();
    }
    const args = [this.parameters, xTimeMajor, T, B, h0, c0, lengths, training, dropoutSeed, output, hN, cN] as const;
    const finish = (): RecurrentOutput => {
      const result: RecurrentOutput = {
        output: unbatched ? { data: output, shape: [T, DH] }
          : this.batchFirst ? { data: swap ? swapLeadingAxes(output, T, B, DH) : output, shape: [B, T, DH] }
            : { data: output, shape: [T, B, DH] },
        hN: { data: hN, shape: [...stateShape] },
      };
      if (cN) result.cN = { data: cN, shape: [...stateShape] };
      return result;
    };
    const record: Recorded | null = training ? { steps: T, batch: B, unbatched } : this.recorded;
    return { args, finish, record };
  }

  /** x as this layer takes it: [T, B, I], [B, T, I] with batchFirst, or [T, I] unbatched. */
  private checkInput(x: Tensor): Tensor {
    const I = this.inputSize;
    const shape = typeof x === 'object' && x !== null ? (x as { shape?: unknown }).shape : undefined;
    if (Array.isArray(shape) && shape.length === 2) {
      return checkTensor('x', x, [-1, I], `[T, inputSize=${I}], unbatched`);
    }
    const batched = this.batchFirst ? `[B, T, inputSize=${I}] (batchFirst)` : `[T, B, inputSize=${I}]`;
    return checkTensor('x', x, [-1, -1, I], `${batched}, or [T, inputSize=${I}] unbatched`);
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

  private prepareBackward(grads: OutputGradients) {
    this.assertIdle();
    const g = checkObject('grads', grads);
    if (!this.recorded) {
      throw new RnnkitError('backward: no training forward to differentiate; call forward(x, { training: true }) first',
        'ERR_RNNKIT_STATE');
    }
    const { steps: T, batch: B, unbatched } = this.recorded;
    const I = this.inputSize, H = this.hiddenSize, S = this.numLayers * this.numDirections, DH = this.numDirections * H;
    const outputShape = unbatched ? [T, DH] : this.batchFirst ? [B, T, DH] : [T, B, DH];
    const stateShape = unbatched ? [S, H] : [S, B, H];
    const outputNote = `the shape of the last training forward's output${unbatched ? ', unbatched' : this.batchFirst ? ', batchFirst' : ''}`;
    const stateNote = unbatched ? `[numLayers*numDirections=${S}, hiddenSize=${H}], as the last training forward was unbatched`
      : `[numLayers*numDirections=${S}, B=${B}, hiddenSize=${H}]`;
    const dOutputTensor = g.dOutput === undefined ? null : checkTensor('dOutput', g.dOutput, outputShape, outputNote);
    const dhN = g.dhN === undefined ? null : checkTensor('dhN', g.dhN, stateShape, stateNote).data;
    let dcN: Float32Array | null = null;
    if (g.dcN !== undefined) {
      if (!this.usesCellState) throw typeError('dcN: only LSTM has a cell state');
      dcN = checkTensor('dcN', g.dcN, stateShape, stateNote).data;
    }
    // dOutput and dx in the forward's layout; the native loop reads and writes time-major.
    const swap = this.batchFirst && !unbatched && T > 1 && B > 1;
    const dOutput = dOutputTensor === null ? null : swap ? swapLeadingAxes(dOutputTensor.data, B, T, DH) : dOutputTensor.data;
    const dx = this.callBuffer('dx', T * B * I);
    const dh0 = this.callBuffer('dh0', S * B * H);
    const dc0 = this.usesCellState ? this.callBuffer('dc0', S * B * H) : null;
    const args = [this.parameters, this.gradients, dOutput, dhN, dcN, dx, dh0, dc0] as const;
    const finish = (): InputGradients => {
      const result: InputGradients = {
        dx: unbatched ? { data: dx, shape: [T, I] }
          : this.batchFirst ? { data: swap ? swapLeadingAxes(dx, T, B, I) : dx, shape: [B, T, I] }
            : { data: dx, shape: [T, B, I] },
        dh0: { data: dh0, shape: [...stateShape] },
      };
      if (dc0) result.dc0 = { data: dc0, shape: [...stateShape] };
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
  dropout: number; seed: number; workspaceLimitBytes: number; batchFirst: boolean;
}

function resolveOptions(options: RecurrentOptions, className: string): ResolvedOptions {
  const o = checkObject(`${className} options`, options);
  const dropout = o.dropout === undefined ? 0 : checkNumberInRange('dropout', o.dropout, 0, 1);
  const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
  const limit = o.workspaceLimitBytes ?? DEFAULT_WORKSPACE_LIMIT;
  if (typeof limit !== 'number') throw typeError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
  if (!(limit > 0)) throw valueError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
  return {
    inputSize: checkPositiveInteger('inputSize', o.inputSize),
    hiddenSize: checkPositiveInteger('hiddenSize', o.hiddenSize),
    numLayers: o.numLayers === undefined ? 1 : checkPositiveInteger('numLayers', o.numLayers, 1024),
    bidirectional: o.bidirectional === undefined ? false : checkBoolean('bidirectional', o.bidirectional),
    bias: o.bias === undefined ? true : checkBoolean('bias', o.bias),
    batchFirst: o.batchFirst === undefined ? false : checkBoolean('batchFirst', o.batchFirst),
    dropout, seed, workspaceLimitBytes: limit,
  };
}

/** PyTorch's names and shapes, in its order: per layer, per direction: w_ih, w_hh, b_ih, b_hh. */
function recurrentParameterSpecs(cell: NativeCell, c: ResolvedOptions): Array<[string, number[]]> {
  const gates = gateCount(cell);
  const GH = gates * c.hiddenSize, H = c.hiddenSize, D = c.bidirectional ? 2 : 1;
  const specs: Array<[string, number[]]> = [];
  for (let l = 0; l < c.numLayers; l++) {
    const inputs = l === 0 ? c.inputSize : D * H;
    for (let d = 0; d < D; d++) {
      const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
      specs.push([`weight_ih_${suffix}`, [GH, inputs]], [`weight_hh_${suffix}`, [GH, H]]);
      if (c.bias) specs.push([`bias_ih_${suffix}`, [GH]], [`bias_hh_${suffix}`, [GH]]);
    }
  }
  return specs;
}
