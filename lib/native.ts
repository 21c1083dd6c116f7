// The raw native binding, loaded once and typed once. Public classes depend on
// this interface, never on `any`. Loads a prebuild if one matches, else build/.

import * as path from 'node:path';

/** Cell codes as the addon expects them (1-based; see native/addon/recurrent_stack_binding.cc). */
export const enum NativeCell {
  RnnTanh = 1,
  RnnRelu = 2,
  Gru = 3,
  Lstm = 4,
}

export interface NativeStackConfig {
  cell: NativeCell;
  numLayers: number;
  numDirections: number;
  inputSize: number;
  hiddenSize: number;
  bias: boolean;
  dropout: number;
  workspaceLimitBytes: number;
}

type F32 = Float32Array;
type OptF32 = Float32Array | null;

export interface NativeRecurrentStack {
  paramCount(): number;
  workspaceBytes(T: number, B: number): number;
  forward(params: F32, x: F32, T: number, B: number, h0: OptF32, c0: OptF32, lengths: Int32Array | null,
    training: boolean, dropoutSeed: number, output: F32, hN: F32, cN: OptF32): void;
  forwardAsync(params: F32, x: F32, T: number, B: number, h0: OptF32, c0: OptF32, lengths: Int32Array | null,
    training: boolean, dropoutSeed: number, output: F32, hN: F32, cN: OptF32): Promise<void>;
  backward(params: F32, grads: F32, dOutput: OptF32, dhN: OptF32, dcN: OptF32, dx: F32, dh0: F32, dc0: OptF32): void;
  backwardAsync(params: F32, grads: F32, dOutput: OptF32, dhN: OptF32, dcN: OptF32, dx: F32, dh0: F32,
    dc0: OptF32): Promise<void>;
  dispose(): void;
}

/** Attention score codes (1-based; see native/addon/attention_decoder_binding.cc). */
export const enum NativeScore {
  Bahdanau = 1,
  Dot = 2,
  General = 3,
}

export interface NativeDecoderShape {
  cell: NativeCell;
  score: NativeScore;
  M: number; N: number; B: number; X: number; E: number; H: number; A: number;
  bias: boolean;
}

type Lengths = Int32Array | null;
type DecoderForwardArgs = [shape: NativeDecoderShape, params: F32, x: F32, memory: F32, sourceLengths: Lengths,
  targetLengths: Lengths, h0: OptF32, c0: OptF32, computeKeys: boolean, workspace: F32, output: F32,
  weights: OptF32, hN: F32, cN: OptF32];
type DecoderBackwardArgs = [shape: NativeDecoderShape, params: F32, grads: F32, workspace: F32, dOutput: OptF32,
  dhN: OptF32, dcN: OptF32, x: F32, memory: F32, sourceLengths: Lengths, targetLengths: Lengths, dx: F32,
  dMemory: F32, dh0: F32, dc0: OptF32];

export interface NativeBinding {
  attentionDecoderSizes(shape: NativeDecoderShape): { params: number; workspace: number };
  attentionDecoderForward(...args: DecoderForwardArgs): void;
  attentionDecoderForwardAsync(...args: DecoderForwardArgs): Promise<void>;
  attentionDecoderBackward(...args: DecoderBackwardArgs): void;
  attentionDecoderBackwardAsync(...args: DecoderBackwardArgs): Promise<void>;
  RecurrentStack: new (config: NativeStackConfig) => NativeRecurrentStack;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  napiVersion: number;
}

// Stateless building-block kernels (native/addon/{linear,embedding,loss,optimizer}_binding.cc): inputs,
// sizes, then caller-owned outputs; each has an Async twin that runs on libuv's pool.
type F64 = Float64Array;
type LinearForwardArgs = [x: F32, weight: F32, bias: OptF32, N: number, inFeatures: number, outFeatures: number,
  y: F32];
type LinearBackwardArgs = [dy: F32, x: F32, weight: F32, N: number, inFeatures: number, outFeatures: number,
  dWeight: F32, dBias: OptF32, dx: OptF32, accumulateDx: boolean];
type EmbeddingForwardArgs = [ids: Int32Array, weight: F32, N: number, numEmbeddings: number, embeddingDim: number,
  out: F32];
type EmbeddingBackwardArgs = [ids: Int32Array, dOut: F32, paddingIdx: number, N: number, numEmbeddings: number,
  embeddingDim: number, dWeight: F32];
/** result = [weighted loss sum, weight total]. */
type CrossEntropyArgs = [logits: F32, targets: Int32Array, weights: OptF32, labelSmoothing: number, scale: number,
  N: number, numClasses: number, result: F64, dLogits: OptF32];
type LogSoftmaxArgs = [logits: F32, N: number, numClasses: number, out: F32];
/** result = [weighted loss sum, weighted element count]. */
type MseArgs = [pred: F32, target: F32, weights: OptF32, scale: number, N: number, features: number, result: F64,
  dPred: OptF32];
type SgdArgs = [params: F32, grads: F32, velocity: OptF32, lr: number, momentum: number, dampening: number,
  nesterov: boolean, weightDecay: number, firstStep: boolean];
type AdamArgs = [params: F32, grads: F32, expAvg: F32, expAvgSq: F32, lr: number, beta1: number, beta2: number,
  eps: number, weightDecay: number, decoupled: boolean, step: number];

export interface NativeBlockKernels {
  linearForward(...args: LinearForwardArgs): void;
  linearForwardAsync(...args: LinearForwardArgs): Promise<void>;
  linearBackward(...args: LinearBackwardArgs): void;
  linearBackwardAsync(...args: LinearBackwardArgs): Promise<void>;
  embeddingForward(...args: EmbeddingForwardArgs): void;
  embeddingForwardAsync(...args: EmbeddingForwardArgs): Promise<void>;
  embeddingBackward(...args: EmbeddingBackwardArgs): void;
  embeddingBackwardAsync(...args: EmbeddingBackwardArgs): Promise<void>;
  softmaxCrossEntropy(...args: CrossEntropyArgs): void;
  softmaxCrossEntropyAsync(...args: CrossEntropyArgs): Promise<void>;
  logSoftmax(...args: LogSoftmaxArgs): void;
  logSoftmaxAsync(...args: LogSoftmaxArgs): Promise<void>;
  mseLoss(...args: MseArgs): void;
  mseLossAsync(...args: MseArgs): Promise<void>;
  sgdStep(...args: SgdArgs): void;
  sgdStepAsync(...args: SgdArgs): Promise<void>;
  adamStep(...args: AdamArgs): void;
  adamStepAsync(...args: AdamArgs): Promise<void>;
  /** result[0] = sum of x^2, accumulated in double. */
  sumSquares(x: F32, result: F64): void;
  sumSquaresAsync(x: F32, result: F64): Promise<void>;
  scale(x: F32, factor: number): void;
  scaleAsync(x: F32, factor: number): Promise<void>;
  /** result[0] = how many of x are NaN or infinite. */
  countNonfinite(x: F32, result: F64): void;
  countNonfiniteAsync(x: F32, result: F64): Promise<void>;
}

// Declaration merging: the block kernels are part of the one binding.
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface NativeBinding extends NativeBlockKernels {}

function load(): NativeBinding {
  const root = path.join(__dirname, '..', '..');  // dist/lib -> package root
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(root) as NativeBinding;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `rnnkit: the native addon could not be loaded (${reason}).\n` +
      'Rebuild it from source with `npm install --build-from-source` (needs a C++ compiler and OpenBLAS: ' +
      'apt-get install -y libopenblas-dev).', { cause: error });
  }
}

export const native: NativeBinding = load();
