// One step of a recurrent cell, PyTorch's nn.RNNCell/GRUCell/LSTMCell, for loops the user writes
// (x [B, I] and h [B, H] in, h' out), on the layers' native kernels: one layer, one direction, T = 1.
// Not a layer: no time axis, no lengths, no dropout; a whole sequence is faster through RNN/GRU/LSTM.

import { checkBoolean, checkObject, checkPositiveInteger, checkSeed, checkTensor, describe, formatShape } from '../check';
import { RnnkitError, shapeError, typeError, valueError } from '../errors';
import { native, NativeCell, type NativeRecurrentStack } from '../native';
import { Random } from '../random';
import type { Tensor } from '../tensor';
import { checkElementCount } from './allocation';
import { gateCount } from './cell-kind';
import { ParameterModule } from './module';

export interface RecurrentCellOptions {
  inputSize: number;
  hiddenSize: number;
  /** Use b_ih and b_hh (default true). */
  bias?: boolean;
  /** Seed of initialisation (default 0). */
  seed?: number;
  /** Refuse batch sizes whose native workspace would exceed this many bytes (default 4 GiB). */
  workspaceLimitBytes?: number;
}

export interface CellForwardOptions {
  /** State before the step, [B, H] (default zeros). */
  h?: Tensor;
  /** Cell state before the step, [B, H], LSTMCell only (default zeros). */
  c?: Tensor;
  /** Return a tape that backward takes (default false). */
  training?: boolean;
}

export interface CellOutput {
  /** State after the step, [B, H]. */
  h: Tensor;
  /** Cell state after the step, [B, H], LSTMCell only. */
  c?: Tensor;
  /** Training forwards only: what backward needs for this step; pass it to `backward` once. */
  tape?: CellTape;
}

export interface CellOutputGradients {
  /** d loss / d h of this step's output h, [B, H] (default zeros). */
  dh?: Tensor;
  /** d loss / d c of this step's output c, [B, H], LSTMCell only (default zeros). */
  dc?: Tensor;
}

export interface CellInputGradients {
  /** d loss / d x, [B, I]. */
  dx: Tensor;
  /** d loss / d h of the state the step was given (zeros or `h`), [B, H]: the previous step's `dh`. */
  dh0: Tensor;
  /** The same for c, LSTMCell only: the previous step's `dc`. */
  dc0?: Tensor;
}

/**
 * What one training forward of a cell keeps for its backward: opaque. It belongs to the cell that
 * made it and is consumed by one `backward` (or `backwardAsync`) of that cell.
 */
export class CellTape {
  /** @internal Tapes come from a training forward; backward refuses one made any other way. */
  constructor(
    /** Batch size B of the step. */
    readonly batch: number,
  ) {}
}

interface StepRecord {
  cell: RecurrentCell;
  /** The cell's parameter generation at the forward (loadStateDict and resetParameters advance it). */
  generation: number;
  used: boolean;
  /** Copies of the forward's inputs (null: zeros) and of the states it returned. */
  x: Float32Array;
  h: Float32Array | null;
  c: Float32Array | null;
  hOut: Float32Array;
  cOut: Float32Array | null;
}

// Module-private, so a tape cannot be forged or edited; an entry goes when its tape is collected.
const records = new WeakMap<CellTape, StepRecord>();

const DEFAULT_WORKSPACE_LIMIT = 4 * 1024 ** 3;

/**
 * Base of RNNCell, GRUCell and LSTMCell: parameters `weight_ih` [G*H, I], `weight_hh` [G*H, H],
 * `bias_ih` [G*H], `bias_hh` [G*H] with PyTorch's gate orders (GRU r,z,n; LSTM i,f,g,o), in one flat
 * Float32Array (gradients in a second), as in the layers.
 *
 * How backward is tied to forward: each training forward returns a tape, and `backward(tape, { dh, dc })`
 * differentiates exactly that step, accumulating weight gradients into `gradients` and returning the
 * gradients of the step's inputs (`dh0`/`dc0` become the previous step's `dh`/`dc`). A loop over T steps
 * keeps its T tapes and backpropagates through them last to first. The tape names its step, so an
 * order mistake or an interleaved second loop cannot pair a gradient with the wrong step's activations.
 * Refused with ERR_RNNKIT_STATE: a missing tape (an inference forward returns none), a tape already
 * used, a tape of another cell, a tape made before loadStateDict/resetParameters, and a tape whose step
 * the current parameters no longer reproduce bit for bit. Step the optimizer after the whole backward
 * pass: an in-place change of `parameters` between a forward and its backward is caught when it changes
 * that step's h or c (an optimizer step does, but not, say, a weight of a ReLU unit that was zero in every
 * row); one that leaves them unchanged is not seen, and backward then differentiates at the current values.
 *
 * A tape holds copies of the step's inputs and outputs (B*(I+2H) floats, LSTM B*(I+4H)); backward
 * recomputes the step's activations from them on the native kernel, which gives the forward's bits
 * (the forward products are batch- and shape-invariant, rows_gemm.h; that is how the last check is
 * made), then runs the step's BPTT. So a training step costs one forward more than in a layer, and
 * holds no native workspace between forward and backward.
 */
export abstract class RecurrentCell extends ParameterModule {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly bias: boolean;

  private readonly stack: NativeRecurrentStack;
  private readonly workspaceLimitBytes: number;
  private readonly gates: number;
  private readonly usesCellState: boolean;
  private readonly random: Random;
  private readonly className: string;
  private generation = 0;
  private disposed = false;

  protected constructor(cell: NativeCell, options: RecurrentCellOptions, className: string) {
    const c = resolveOptions(options, className);
    const gates = gateCount(cell), GH = gates * c.hiddenSize;
    const specs: Array<[string, number[]]> = [['weight_ih', [GH, c.inputSize]], ['weight_hh', [GH, c.hiddenSize]]];
    if (c.bias) specs.push(['bias_ih', [GH]], ['bias_hh', [GH]]);
    super(specs, 'cell');
    this.inputSize = c.inputSize;
    this.hiddenSize = c.hiddenSize;
    this.bias = c.bias;
    this.gates = gates;
    this.usesCellState = cell === NativeCell.Lstm;
    this.workspaceLimitBytes = c.workspaceLimitBytes;
    this.className = className;
    // The layers' stack of one layer and one direction: its parameters are laid out as the specs above.
    this.stack = new native.RecurrentStack({
      cell, numLayers: 1, numDirections: 1, inputSize: c.inputSize, hiddenSize: c.hiddenSize, bias: c.bias,
      dropout: 0, workspaceLimitBytes: c.workspaceLimitBytes,
    });
    if (this.stack.paramCount() !== this.numParameters) {
      throw new RnnkitError(`internal: parameter layout ${this.numParameters} != native ${this.stack.paramCount()}`,
        'ERR_RNNKIT_INTERNAL');
    }
    this.random = new Random(c.seed);
    this.resetParameters();
  }

  /** True for LSTMCell: forward takes and returns c. */
  get hasCellState(): boolean {
    return this.usesCellState;
  }

  /** PyTorch's default: every weight and bias from U(-1/sqrt(H), 1/sqrt(H)). Tapes made before are refused. */
  resetParameters(): void {
    this.assertIdle();
    const k = 1 / Math.sqrt(this.hiddenSize);
    for (let i = 0; i < this.parameters.length; i++) this.parameters[i] = this.random.uniform(-k, k);
    this.generation++;
  }

  protected override onParametersLoaded(): void {
    this.generation++;  // a pending tape would mix old activations with new weights
  }

  /** One step: h' (and c') from x and the state before. `training: true` also returns the step's tape. */
  forward(x: Tensor, options: CellForwardOptions & { training: true }): CellOutput & { tape: CellTape };
  forward(x: Tensor, options?: CellForwardOptions): CellOutput;
  forward(x: Tensor, options: CellForwardOptions = {}): CellOutput {
    const call = this.prepareForward(x, options);
    this.stack.forward(...call.args);
    return call.finish();
  }

  /** Same as forward, computed on a native worker thread; the event loop stays free. */
  forwardAsync(x: Tensor, options: CellForwardOptions & { training: true }): Promise<CellOutput & { tape: CellTape }>;
  forwardAsync(x: Tensor, options?: CellForwardOptions): Promise<CellOutput>;
  async forwardAsync(x: Tensor, options: CellForwardOptions = {}): Promise<CellOutput> {
    const call = this.prepareForward(x, options);
    await this.busy.track(this.stack.forwardAsync(...call.args));
    return call.finish();
  }

  /**
   * BPTT through the one step that made `tape`: accumulates parameter gradients into `gradients` and
   * returns the gradients of the step's x, h (and c). Consumes the tape.
   */
  backward(tape: CellTape, grads: CellOutputGradients = {}): CellInputGradients {
    const call = this.prepareBackward(tape, grads);
    this.stack.forward(...call.replay);
    call.verify();
    this.stack.backward(...call.args);
    return call.finish();
  }

  async backwardAsync(tape: CellTape, grads: CellOutputGradients = {}): Promise<CellInputGradients> {
    const call = this.prepareBackward(tape, grads);
    await this.busy.track((async () => {
      await this.stack.forwardAsync(...call.replay);
      call.verify();
      await this.stack.backwardAsync(...call.args);
    })());
    return call.finish();
  }

  /** Frees native memory now; later calls throw. */
  dispose(): void {
    if (this.disposed) return;
    this.assertIdle();
    this.stack.dispose();
    this.disposed = true;
  }

  private prepareForward(x: Tensor, options: CellForwardOptions) {
    this.assertIdle();
    const o = checkObject('options', options);
    refuseLayerKeys('options', o, { h0: 'h', c0: 'c', lengths: null }, "a cell's forward takes { h, c, training }");
    const I = this.inputSize, H = this.hiddenSize;
    const input = checkTensor('x', x, [-1, I], `[B, inputSize=${I}]`);
    const B = input.shape[0];
    if (B < 1) throw shapeError(`x: expected B >= 1, got shape ${formatShape(input.shape)}`);
    const stateNote = `[B=${B}, hiddenSize=${H}]`;
    const h = o.h === undefined ? null : checkTensor('h', o.h, [B, H], stateNote).data;
    let c: Float32Array | null = null;
    if (o.c !== undefined) {
      if (!this.usesCellState) throw typeError(`c: only LSTMCell has a cell state (this is a ${this.className})`);
      c = checkTensor('c', o.c, [B, H], stateNote).data;
    }
    const training = o.training === undefined ? false : checkBoolean('training', o.training);
    // A training forward is refused here, not at its backward, when backward's workspace would be too big.
    this.checkWorkspace(B, training);
    const y = new Float32Array(B * H);
    const hOut = new Float32Array(B * H);
    const cOut = this.usesCellState ? new Float32Array(B * H) : null;
    // The inputs as this call sees them: the caller may reuse its buffers before backward.
    const saved = training ? { x: input.data.slice(), h: h && h.slice(), c: c && c.slice() } : null;
    // The step runs as inference: its tape, not the native workspace, is the record backward reads.
    const args = [this.parameters, input.data, 1, B, h, c, null, false, 0, y, hOut, cOut] as const;
    const finish = (): CellOutput => {
      const result: CellOutput = { h: { data: hOut, shape: [B, H] } };
      if (cOut) result.c = { data: cOut, shape: [B, H] };
      if (saved) {
        const tape = new CellTape(B);
        records.set(tape, {
          cell: this, generation: this.generation, used: false, ...saved,
          hOut: hOut.slice(), cOut: cOut && cOut.slice(),
        });
        result.tape = tape;
      }
      return result;
    };
    return { args, finish };
  }

  /** The addon's size checks, made before anything is allocated for the call (same messages). */
  private checkWorkspace(B: number, training: boolean): void {
    checkElementCount('output', B * this.hiddenSize * this.gates);
    const bytes = this.stack.workspaceBytes(1, B, training);
    if (bytes > this.workspaceLimitBytes) {
      throw valueError(`workspace: T=1, B=${B} needs ${(bytes / 1048576).toFixed(6)} MiB, above the limit of ` +
        `${(this.workspaceLimitBytes / 1048576).toFixed(6)} MiB (raise workspaceLimitBytes to allow it)`);
    }
  }

  private recordOf(tape: unknown): StepRecord {
    if (tape === undefined || tape === null) {
      throw new RnnkitError(`backward: expected the tape of a training forward, got ${describe(tape)}; ` +
        'call forward(x, { training: true }) and pass its result\'s tape', 'ERR_RNNKIT_STATE');
    }
    const record = tape instanceof CellTape ? records.get(tape) : undefined;
    if (!record) {
      throw typeError(`tape: expected the tape a training forward returned, got ${describe(tape)}`);
    }
    if (record.cell !== this) {
      throw new RnnkitError('backward: this tape was made by another cell; pass it to that cell\'s backward',
        'ERR_RNNKIT_STATE');
    }
    if (record.used) {
      throw new RnnkitError('backward: this tape was already used; each training forward is differentiated once',
        'ERR_RNNKIT_STATE');
    }
    if (record.generation !== this.generation) {
      throw new RnnkitError('backward: the parameters were loaded or reset after the forward that made this tape; ' +
        'run that forward again', 'ERR_RNNKIT_STATE');
    }
    return record;
  }

  private prepareBackward(tape: CellTape, grads: CellOutputGradients) {
    this.assertIdle();
    const record = this.recordOf(tape);
    const g = checkObject('grads', grads);
    refuseLayerKeys('grads', g, { dhN: 'dh', dcN: 'dc', dOutput: 'dh' }, "a cell's backward takes { dh, dc }");
    const B = (tape as CellTape).batch, I = this.inputSize, H = this.hiddenSize;
    const stateNote = `[B=${B}, hiddenSize=${H}] (the tape's batch)`;
    const dh = g.dh === undefined ? null : checkTensor('dh', g.dh, [B, H], stateNote).data;
    let dc: Float32Array | null = null;
    if (g.dc !== undefined) {
      if (!this.usesCellState) throw typeError(`dc: only LSTMCell has a cell state (this is a ${this.className})`);
      dc = checkTensor('dc', g.dc, [B, H], stateNote).data;
    }
    this.checkWorkspace(B, true);
    // Replay the step in training mode: the native workspace then holds what its backward reads.
    const hN = new Float32Array(B * H), cN = this.usesCellState ? new Float32Array(B * H) : null;
    const replay = [this.parameters, record.x, 1, B, record.h, record.c, null, true, 0,
      new Float32Array(B * H), hN, cN] as const;
    const verify = (): void => {
      if (!sameBits(hN, record.hOut) || (cN && !sameBits(cN, record.cOut!))) {
        throw new RnnkitError('backward: the parameters changed after the forward that made this tape (an ' +
          'optimizer step or a write to `parameters` between a forward and its backward); backpropagate ' +
          'through every step first, then step the optimizer', 'ERR_RNNKIT_STATE');
      }
    };
    const dx = new Float32Array(B * I), dh0 = new Float32Array(B * H);
    const dc0 = this.usesCellState ? new Float32Array(B * H) : null;
    const args = [this.parameters, this.gradients, null, dh, dc, dx, dh0, dc0] as const;
    const finish = (): CellInputGradients => {
      record.used = true;
      record.x = record.hOut = new Float32Array(0);
      record.h = record.c = record.cOut = null;
      const result: CellInputGradients = { dx: { data: dx, shape: [B, I] }, dh0: { data: dh0, shape: [B, H] } };
      if (dc0) result.dc0 = { data: dc0, shape: [B, H] };
      return result;
    };
    return { replay, verify, args, finish };
  }

  protected override assertIdle(): void {
    if (this.disposed) throw new RnnkitError('this cell was disposed; create a new one', 'ERR_RNNKIT_DISPOSED');
    super.assertIdle();
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

interface ResolvedOptions { inputSize: number; hiddenSize: number; bias: boolean; seed: number; workspaceLimitBytes: number }

/**
 * A layer's option given to a cell is refused rather than ignored: `h0` ignored would silently
 * start from zeros, `numLayers: 2` would silently build one layer.
 */
function refuseLayerKeys(what: string, o: Record<string, unknown>, keys: Record<string, string | null>, takes: string): void {
  for (const [key, instead] of Object.entries(keys)) {
    if (o[key] !== undefined) {
      throw typeError(`${what}.${key}: ${takes}; ${key} is a layer's${instead ? ` (use ${instead})` : ''}`);
    }
  }
}

function resolveOptions(options: RecurrentCellOptions, className: string): ResolvedOptions {
  const o = checkObject(`${className} options`, options);
  // The neutral values pass, so one config object may serve a layer of one layer and a cell.
  const neutral: Array<[string, unknown]> = [['numLayers', 1], ['bidirectional', false], ['dropout', 0]];
  for (const [key, value] of neutral) {
    if (o[key] !== undefined && o[key] !== value) {
      throw valueError(`${key}: a cell is one layer, one direction, without dropout; got ${key} ${describe(o[key])} ` +
        '(stack cells in your loop, or use RNN/GRU/LSTM)');
    }
  }
  const limit = o.workspaceLimitBytes ?? DEFAULT_WORKSPACE_LIMIT;
  if (typeof limit !== 'number') throw typeError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
  if (!(limit > 0)) throw valueError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
  return {
    inputSize: checkPositiveInteger('inputSize', o.inputSize),
    hiddenSize: checkPositiveInteger('hiddenSize', o.hiddenSize),
    bias: o.bias === undefined ? true : checkBoolean('bias', o.bias),
    seed: o.seed === undefined ? 0 : checkSeed('seed', o.seed),
    workspaceLimitBytes: limit,
  };
}
