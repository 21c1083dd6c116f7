// A one-layer recurrent decoder with attention over encoder outputs (one
// native call for all M steps): c_i = attend(s_{i-1}, memory),
// s_i = cell([x_i ; c_i], s_{i-1}), output_i = [s_i ; c_i].
// Scores: 'bahdanau' v.tanh(W_q s + W_k h_j + b_k); 'luong-dot' s.h_j; 'luong-general' s.(W h_j).

import { checkBoolean, checkLengths, checkObject, checkPositiveInteger, checkTensor, describe } from '../check';
import { RnnkitError, shapeError, typeError, valueError } from '../errors';
import { native, NativeCell, NativeScore, type NativeDecoderShape } from '../native';
import { Random } from '../random';
import type { Tensor } from '../tensor';
import { gateCount, nativeCell, type CellName, type Nonlinearity } from './cell-kind';
import { allocateFloat32, MAX_TENSOR_ELEMENTS } from './allocation';
import { ParameterModule } from './module';

export type AttentionKind = 'bahdanau' | 'luong-dot' | 'luong-general';

export interface AttentionDecoderOptions {
  cell: CellName;
  nonlinearity?: Nonlinearity;
  /** Size X of the per-step decoder input (e.g. the embedding of y_{i-1}). */
  inputSize: number;
  /** Size E of each encoder output h_j. */
  memorySize: number;
  hiddenSize: number;
  attention: AttentionKind;
  /** Size A of Bahdanau's hidden layer (default hiddenSize). */
  attentionSize?: number;
  bias?: boolean;
  seed?: number;
  /** Refuse shapes whose workspace would exceed this many bytes, before allocating it (default 4 GiB). */
  workspaceLimitBytes?: number;
}

export interface DecoderState {
  h: Tensor;   // [1, B, H]
  c?: Tensor;  // [1, B, H], LSTM
}

export interface AttentionForwardOptions {
  sourceLengths?: Int32Array;
  targetLengths?: Int32Array;
  h0?: Tensor;
  c0?: Tensor;
  training?: boolean;
}

export interface AttentionStepOptions {
  sourceLengths?: Int32Array;
  reuseKeys?: boolean;
  /** [B]: the row of memory [N, S, E] that each row attends to (default: row b reads memory row b, S = B). */
  sourceRows?: Int32Array;
}

export interface AttentionDecoderOutput {
  /** `[M, B, H+E]`: `[s_i ; c_i]`, zeros at padded steps. */
  output: Tensor;
  /** `[M, B, N]`: attention weights a_ij (0 at padded source positions and padded steps). */
  weights: Tensor;
  hN: Tensor;
  cN?: Tensor;
}

export interface AttentionDecoderGradients {
  dx: Tensor;
  dMemory: Tensor;
  dh0: Tensor;
  dc0?: Tensor;
}

const DEFAULT_WORKSPACE_LIMIT = 4 * 1024 ** 3;

const SCORES: Record<AttentionKind, NativeScore> = {
  'bahdanau': NativeScore.Bahdanau, 'luong-dot': NativeScore.Dot, 'luong-general': NativeScore.General,
};

interface Recorded {
  shape: NativeDecoderShape;
  workspace: Float32Array;
  x: Float32Array;
  memory: Float32Array;
  sourceLengths: Int32Array | null;
  targetLengths: Int32Array | null;
}

export class AttentionDecoder extends ParameterModule {
  /** @internal the native cell code */
  readonly cell: NativeCell;
  readonly inputSize: number;
  readonly memorySize: number;
  readonly hiddenSize: number;
  readonly attention: AttentionKind;
  readonly attentionSize: number;
  readonly bias: boolean;
  readonly workspaceLimitBytes: number;
  private recorded: Recorded | null = null;
  /**
   * Step calls' workspace: keysOf names the memory whose keys it holds; packed says the per-step weights
   * in it were packed by the last step call (both null / false while a call is writing them).
   */
  private stepWorkspace: {
    key: string; keysShape: string; data: Float32Array; keysOf: Float32Array | null; packed: boolean;
  } | null = null;
  private sharedWorkspace: Float32Array | null = null;

  constructor(options: AttentionDecoderOptions) {
    const o = checkObject('AttentionDecoder options', options);
    const cell = nativeCell('cell', o.cell, o.nonlinearity ?? 'tanh');
    // Its native step is PyTorch's GRU only: refused rather than ignored.
    if (o.resetAfter !== undefined && o.resetAfter !== true) {
      throw valueError(`resetAfter: the attention decoder's GRU has the reset gate after W_hn only, got ${describe(o.resetAfter)}`);
    }
    const X = checkPositiveInteger('inputSize', o.inputSize);
    const E = checkPositiveInteger('memorySize', o.memorySize);
    const H = checkPositiveInteger('hiddenSize', o.hiddenSize);
    if (!(typeof o.attention === 'string' && o.attention in SCORES)) {
      throw valueError(`attention: expected 'bahdanau', 'luong-dot' or 'luong-general', got ${describe(o.attention)}`);
    }
    const attention = o.attention as AttentionKind;
    if (attention === 'luong-dot' && E !== H) {
      throw shapeError(`attention 'luong-dot' scores s.h_j, so memorySize (${E}) must equal hiddenSize (${H})`);
    }
    const A = o.attentionSize === undefined ? H : checkPositiveInteger('attentionSize', o.attentionSize);
    const bias = o.bias === undefined ? true : checkBoolean('bias', o.bias);
    const seed = o.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw typeError(`seed: expected an integer, got ${describe(seed)}`);
    const limit = o.workspaceLimitBytes ?? DEFAULT_WORKSPACE_LIMIT;
    if (typeof limit !== 'number') throw typeError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
    if (!(limit > 0)) throw valueError(`workspaceLimitBytes: expected a positive number, got ${describe(limit)}`);
    const GH = gateCount(cell) * H;
    const specs: Array<[string, number[]]> = [['weight_ih_l0', [GH, X + E]], ['weight_hh_l0', [GH, H]]];
    if (bias) specs.push(['bias_ih_l0', [GH]], ['bias_hh_l0', [GH]]);
    if (attention === 'bahdanau') {
      specs.push(['attention.query.weight', [A, H]], ['attention.key.weight', [A, E]], ['attention.key.bias', [A]],
        ['attention.v', [A]]);
    } else if (attention === 'luong-general') {
      specs.push(['attention.weight', [H, E]]);
    }
    super(specs, 'decoder');
    this.cell = cell;
    this.inputSize = X;
    this.memorySize = E;
    this.hiddenSize = H;
    this.attention = attention;
    this.attentionSize = A;
    this.bias = bias;
    this.workspaceLimitBytes = limit;
    const count = native.attentionDecoderSizes(this.nativeShape(1, 1, 1)).params;
    if (count !== this.numParameters) {
      throw new RnnkitError(`internal: layout ${this.numParameters} != native ${count}`, 'ERR_RNNKIT_INTERNAL');
    }
    this.initialise(new Random(seed));
  }

  get usesCellState(): boolean {
    return this.cell === NativeCell.Lstm;
  }

  /** PyTorch-style init: cell weights U(±1/sqrt(H)); each projection U(±1/sqrt(fan_in)). */
  private initialise(random: Random): void {
    const fill = (name: string, bound: number) => {
      const view = this.parameterView(name);
      for (let i = 0; i < view.length; i++) view[i] = random.uniform(-bound, bound);
    };
    for (const [name] of this.parameterShapes()) {
      if (!name.startsWith('attention.')) fill(name, 1 / Math.sqrt(this.hiddenSize));
    }
    if (this.attention === 'bahdanau') {
      fill('attention.query.weight', 1 / Math.sqrt(this.hiddenSize));
      fill('attention.key.weight', 1 / Math.sqrt(this.memorySize));
      fill('attention.key.bias', 1 / Math.sqrt(this.memorySize));
      fill('attention.v', 1 / Math.sqrt(this.attentionSize));
    } else if (this.attention === 'luong-general') {
      fill('attention.weight', 1 / Math.sqrt(this.memorySize));
    }
  }

  forward(x: Tensor, memory: Tensor, options: AttentionForwardOptions = {}): AttentionDecoderOutput {
    const call = this.prepareForward(x, memory, options);
    native.attentionDecoderForward(...call.args);
    if (call.record) this.recorded = call.record;
    return call.result;
  }

  async forwardAsync(x: Tensor, memory: Tensor, options: AttentionForwardOptions = {}): Promise<AttentionDecoderOutput> {
    const call = this.prepareForward(x, memory, options);
    await this.busy.track(native.attentionDecoderForwardAsync(...call.args));
    if (call.record) this.recorded = call.record;
    return call.result;
  }

  backward(grads: { dOutput?: Tensor; dhN?: Tensor; dcN?: Tensor } = {}): AttentionDecoderGradients {
    const call = this.prepareBackward(grads);
    native.attentionDecoderBackward(...call.args);
    return call.result;
  }

  async backwardAsync(grads: { dOutput?: Tensor; dhN?: Tensor; dcN?: Tensor } = {}): Promise<AttentionDecoderGradients> {
    const call = this.prepareBackward(grads);
    await this.busy.track(native.attentionDecoderBackwardAsync(...call.args));
    return call.result;
  }

  /**
   * One decoding step (M = 1) for inference. `reuseKeys` says this call continues the decoding of the
   * previous step call, on the same memory and parameters: the attention keys it computed from
   * `memory` are reused, and so are the per-step weights it packed when the batch is the same.
   * `sourceRows` [B] maps each row onto a row of `memory` [N, S, E] (e.g. the beams of one input
   * share one copy of its memory); `sourceLengths` stays one per row.
   */
  step(x: Tensor, memory: Tensor, state: DecoderState | undefined, options: AttentionStepOptions = {}): AttentionDecoderOutput {
    const call = this.prepareForward(x, memory, {
      sourceLengths: options.sourceLengths, h0: state?.h, c0: state?.c, training: false,
    }, options.reuseKeys === true, options.sourceRows);
    native.attentionDecoderForward(...call.args);
    this.keysFrom(options.reuseKeys === true, memory);
    return call.result;
  }

  /** Same as step, on a native worker thread. */
  async stepAsync(x: Tensor, memory: Tensor, state: DecoderState | undefined, options: AttentionStepOptions = {}): Promise<AttentionDecoderOutput> {
    const call = this.prepareForward(x, memory, {
      sourceLengths: options.sourceLengths, h0: state?.h, c0: state?.c, training: false,
    }, options.reuseKeys === true, options.sourceRows);
    await this.busy.track(native.attentionDecoderForwardAsync(...call.args));
    this.keysFrom(options.reuseKeys === true, memory);
    return call.result;
  }

  /**
   * @internal True when the step workspace holds the keys of exactly this memory buffer (the last
   * inference call computed them from it), so a step may pass reuseKeys safely.
   */
  hasKeysFor(memory: Tensor): boolean {
    return this.stepWorkspace !== null && this.stepWorkspace.keysOf === memory.data;
  }

  /** A step that computed keys (no reuseKeys) leaves those of `memory` in the workspace, and every step its packed weights. */
  private keysFrom(reused: boolean, memory: Tensor): void {
    if (!this.stepWorkspace) return;
    if (!reused) this.stepWorkspace.keysOf = memory.data;
    this.stepWorkspace.packed = true;
  }

  /** Size of one key: A (Bahdanau), H (general), 0 for dot (its keys are the memory, not in the workspace). */
  private get keySize(): number {
    return this.attention === 'bahdanau' ? this.attentionSize : this.attention === 'luong-general' ? this.hiddenSize : 0;
  }

  protected override onParametersLoaded(): void {
    this.recorded = null;
    this.stepWorkspace = null;
  }

  private nativeShape(M: number, N: number, B: number, S = B): NativeDecoderShape {
    return {
      cell: this.cell, score: SCORES[this.attention], M, N, B, X: this.inputSize, E: this.memorySize,
      H: this.hiddenSize, A: this.attentionSize, bias: this.bias, ...(S !== B ? { S } : {}),
    };
  }

  private prepareForward(x: Tensor, memory: Tensor, options: AttentionForwardOptions, reuseKeys = false,
    sourceRows?: Int32Array) {
    this.assertIdle();
    const o = checkObject('options', options);
    const input = checkTensor('x', x, [-1, -1, this.inputSize], `[M, B, inputSize=${this.inputSize}]`);
    const [M, B] = input.shape;
    const mem = sourceRows === undefined
      ? checkTensor('memory', memory, [-1, B, this.memorySize], `[N, B=${B}, memorySize=${this.memorySize}]`)
      : checkTensor('memory', memory, [-1, -1, this.memorySize], `[N, S, memorySize=${this.memorySize}]`);
    const [N, S] = mem.shape;
    if (M < 1 || B < 1 || N < 1 || S < 1) throw shapeError(`x/memory: expected M, N, B, S >= 1, got M=${M}, N=${N}, B=${B}, S=${S}`);
    const rows = sourceRows === undefined ? null : checkSourceRows(sourceRows, B, S).slice();
    const H = this.hiddenSize;
    const stateNote = `[1, B=${B}, hiddenSize=${H}]`;
    const h0 = o.h0 === undefined ? null : checkTensor('h0', o.h0, [1, B, H], stateNote).data;
    let c0: Float32Array | null = null;
    if (o.c0 !== undefined) {
      if (!this.usesCellState) throw typeError('c0: only an LSTM decoder has a cell state');
      c0 = checkTensor('c0', o.c0, [1, B, H], stateNote).data;
    }
    const src = o.sourceLengths === undefined ? null : checkLengths('sourceLengths', o.sourceLengths, B, N).slice();
    const tgt = o.targetLengths === undefined ? null : checkLengths('targetLengths', o.targetLengths, B, M).slice();
    const training = o.training === undefined ? false : checkBoolean('training', o.training);
    const shape = this.nativeShape(M, N, B, S);
    const sizes = native.attentionDecoderSizes(shape);  // refuses tensors past 2^31-1 elements
    if (sizes.workspace * 4 > this.workspaceLimitBytes) {
      throw valueError(`workspace: M=${M}, N=${N}, B=${B} needs ${(sizes.workspace * 4 / 1048576).toFixed(6)} MiB, ` +
        `above the limit of ${(this.workspaceLimitBytes / 1048576).toFixed(6)} MiB (raise workspaceLimitBytes to allow it)`);
    }
    const workspace = training ? { data: this.trainingWorkspace(sizes.workspace), packed: false }
      : this.inferenceWorkspace(shape, sizes.workspace, reuseKeys, mem);
    const reuse = { keys: reuseKeys, packedWeights: reuseKeys && workspace.packed };
    const output = this.callBuffer('output', M * B * (H + this.memorySize));
    const weights = this.callBuffer('weights', M * B * N);
    const hN = this.callBuffer('hN', B * H);
    const cN = this.usesCellState ? this.callBuffer('cN', B * H) : null;
    const xs = training ? this.callCopy('x', input.data) : input.data;
    const ms = training ? this.callCopy('memory', mem.data) : mem.data;
    const args = [shape, this.parameters, xs, ms, src, tgt, h0, c0, reuse, workspace.data, output, weights, hN,
      cN, rows] as const;
    const result: AttentionDecoderOutput = {
      output: { data: output, shape: [M, B, H + this.memorySize] },
      weights: { data: weights, shape: [M, B, N] },
      hN: { data: hN, shape: [1, B, H] },
    };
    if (cN) result.cN = { data: cN, shape: [1, B, H] };
    const record: Recorded | null = training
      ? { shape, workspace: workspace.data, x: xs, memory: ms, sourceLengths: src, targetLengths: tgt } : null;
    return { args, result, record };
  }

  /**
   * Training forwards share one buffer, grown to the largest shape seen: only the
   * last training forward is ever differentiated, and a fresh 20 MB zeroed buffer
   * per batch (the g2p model) cost the JS thread allocation time and GC pauses.
   * The kernels write every workspace value they read. It grows a quarter past what is asked: each
   * growth (tens of MB) is external memory that V8 answers with a full GC, so a few longer batches
   * later in an epoch should not each bring one.
   */
  private trainingWorkspace(floats: number): Float32Array {
    if (!this.sharedWorkspace || this.sharedWorkspace.length < floats) {
      this.sharedWorkspace = null;  // let the old one go before allocating the larger
      const roomy = Math.min(Math.ceil(floats * 1.25), MAX_TENSOR_ELEMENTS, Math.floor(this.workspaceLimitBytes / 4));
      this.sharedWorkspace = allocateFloat32('workspace', Math.max(floats, roomy));
    }
    return this.sharedWorkspace.subarray(0, floats);
  }

  /** Inference reuses one workspace per shape; keys sit at its start across step calls. */
  private inferenceWorkspace(shape: NativeDecoderShape, floats: number, reuseKeys: boolean,
    memory: Tensor): { data: Float32Array; packed: boolean } {
    const S = shape.S ?? shape.B;
    const key = `${shape.M},${shape.N},${shape.B},${S}`, keysShape = `${shape.N},${S}`;
    const old = this.stepWorkspace;
    if (reuseKeys && (old === null || old.keysShape !== keysShape || old.keysOf !== memory.data)) {
      throw new RnnkitError('step: reuseKeys needs a previous step call that computed the keys of this memory', 'ERR_RNNKIT_STATE');
    }
    let ws = old;
    if (ws === null || ws.key !== key) {
      const data = allocateFloat32('workspace', floats);
      // Keys lead every step workspace, laid out by N and S alone: a batch of another size (rows that left
      // the decoding) takes them along.
      if (reuseKeys && old) data.set(old.data.subarray(0, shape.N * S * this.keySize));
      ws = { key, keysShape, data, keysOf: reuseKeys ? memory.data : null, packed: false };
      this.stepWorkspace = ws;
    }
    // Until this call finishes, the keys and packed weights in it are no one's (a refused or failed call
    // leaves them half-written); the caller reads `packed` as it was before.
    const before = { data: ws.data, packed: ws.packed };
    if (!reuseKeys) ws.keysOf = null;
    ws.packed = false;
    return before;
  }

  private prepareBackward(grads: { dOutput?: Tensor; dhN?: Tensor; dcN?: Tensor }) {
    this.assertIdle();
    const g = checkObject('grads', grads);
    const r = this.recorded;
    if (!r) {
      throw new RnnkitError('backward: call forward(x, memory, { training: true }) first', 'ERR_RNNKIT_STATE');
    }
    const { M, N, B, H, E, X } = r.shape;
    const dOutput = g.dOutput === undefined ? null : checkTensor('dOutput', g.dOutput, [M, B, H + E]).data;
    const dhN = g.dhN === undefined ? null : checkTensor('dhN', g.dhN, [1, B, H]).data;
    let dcN: Float32Array | null = null;
    if (g.dcN !== undefined) {
      if (!this.usesCellState) throw typeError('dcN: only an LSTM decoder has a cell state');
      dcN = checkTensor('dcN', g.dcN, [1, B, H]).data;
    }
    const dx = this.callBuffer('dx', M * B * X);
    const dMemory = this.callBuffer('dMemory', N * B * E);
    const dh0 = this.callBuffer('dh0', B * H);
    const dc0 = this.usesCellState ? this.callBuffer('dc0', B * H) : null;
    const args = [r.shape, this.parameters, this.gradients, r.workspace, dOutput, dhN, dcN, r.x, r.memory,
      r.sourceLengths, r.targetLengths, dx, dMemory, dh0, dc0] as const;
    const result: AttentionDecoderGradients = {
      dx: { data: dx, shape: [M, B, X] },
      dMemory: { data: dMemory, shape: [N, B, E] },
      dh0: { data: dh0, shape: [1, B, H] },
    };
    if (dc0) result.dc0 = { data: dc0, shape: [1, B, H] };
    return { args, result };
  }
}

function checkSourceRows(value: unknown, batch: number, sources: number): Int32Array {
  if (!(value instanceof Int32Array)) throw typeError(`sourceRows: expected an Int32Array, got ${describe(value)}`);
  if (value.length !== batch) throw shapeError(`sourceRows: expected ${batch} rows (one per batch row), got ${value.length}`);
  for (let b = 0; b < batch; b++) {
    if (!(value[b] >= 0 && value[b] < sources)) {
      throw valueError(`sourceRows[${b}]: expected a memory row in [0, ${sources - 1}] (S = ${sources}), got ${value[b]}`);
    }
  }
  return value;
}
