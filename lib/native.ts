// The raw native binding, loaded once and typed once. Public classes depend on
// this interface, never on `any`. Loads build/ (from source) if present, else a prebuild.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { RnnkitError } from './errors';
import type { DType, FloatArray } from './tensor';

/** Cell codes as the addon expects them (1-based; see native/addon/recurrent_stack_binding.cc). */
export const enum NativeCell {
  RnnTanh = 1,
  RnnRelu = 2,
  Gru = 3,
  Lstm = 4,
  /** GRU with the reset gate before the recurrent product (Keras reset_after=False). */
  GruResetBefore = 5,
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
  /** LSTM only: PyTorch's proj_size, 0 < projSize < hiddenSize (absent or 0: none). */
  projSize?: number;
  /** Element type of every array the stack takes (default 'float32'). */
  dtype?: DType;
}

type F32 = Float32Array;
type OptF32 = Float32Array | null;
// A stack's arrays: Float32Array, or Float64Array for a dtype 'float64' stack (all of one call alike).
type FA = FloatArray;
type OptFA = FloatArray | null;

export interface NativeRecurrentStack {
  paramCount(): number;
  /** Bytes of workspace a forward at this shape needs (training: with what backward reads). */
  workspaceBytes(T: number, B: number, training?: boolean): number;
  forward(params: FA, x: FA, T: number, B: number, h0: OptFA, c0: OptFA, lengths: Int32Array | null,
    training: boolean, dropoutSeed: number, output: FA, hN: FA, cN: OptFA): void;
  forwardAsync(params: FA, x: FA, T: number, B: number, h0: OptFA, c0: OptFA, lengths: Int32Array | null,
    training: boolean, dropoutSeed: number, output: FA, hN: FA, cN: OptFA): Promise<void>;
  backward(params: FA, grads: FA, dOutput: OptFA, dhN: OptFA, dcN: OptFA, dx: FA, dh0: FA, dc0: OptFA): void;
  backwardAsync(params: FA, grads: FA, dOutput: OptFA, dhN: OptFA, dcN: OptFA, dx: FA, dh0: FA,
    dc0: OptFA): Promise<void>;
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
  /** The memory's batch when a forward maps its rows onto sources (sourceRows); absent: B. */
  S?: number;
}

type Lengths = Int32Array | null;
/** What a decoding step takes from the workspace as the previous step call left it (native DecoderReuse). */
export interface DecoderReuse { keys: boolean; packedWeights: boolean }
type DecoderForwardArgs = [shape: NativeDecoderShape, params: F32, x: F32, memory: F32, sourceLengths: Lengths,
  targetLengths: Lengths, h0: OptF32, c0: OptF32, reuse: DecoderReuse, workspace: F32, output: F32,
  weights: OptF32, hN: F32, cN: OptF32, sourceRows: Int32Array | null];
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
  kernelInfo(): NativeKernelInfo;
  napiVersion: number;
}

export type IsaName = 'baseline' | 'avx2' | 'avx512';
export interface NativeKernelInfo {
  isa: IsaName;
  cpuIsa: IsaName;
  blasCore: string;
  blasConfig: string;
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
// The optimizer and norm kernels take Float32Arrays or Float64Arrays (float64 layers): every buffer of a call of
// the first one's type.
type SgdArgs = [params: FA, grads: FA, velocity: OptFA, lr: number, momentum: number, dampening: number,
  nesterov: boolean, weightDecay: number, firstStep: boolean];
type AdamArgs = [params: FA, grads: FA, expAvg: FA, expAvgSq: FA, lr: number, beta1: number, beta2: number,
  eps: number, weightDecay: number, decoupled: boolean, step: number];
/** The step's arguments, then gradScale (each gradient is multiplied by it as it is read) and result[0] = how many
 * elements would turn NaN or infinite: 0 means the step was applied, anything else that nothing was written. */
type SgdCheckedArgs = [...SgdArgs, gradScale: number, result: F64];
type AdamCheckedArgs = [...AdamArgs, gradScale: number, result: F64];

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
  sgdStepChecked(...args: SgdCheckedArgs): void;
  sgdStepCheckedAsync(...args: SgdCheckedArgs): Promise<void>;
  adamStepChecked(...args: AdamCheckedArgs): void;
  adamStepCheckedAsync(...args: AdamCheckedArgs): Promise<void>;
  /** result[0] = sum of x^2, accumulated in double. */
  sumSquares(x: FA, result: F64): void;
  sumSquaresAsync(x: FA, result: F64): Promise<void>;
  scale(x: FA, factor: number): void;
  scaleAsync(x: FA, factor: number): Promise<void>;
  /** Every element of x set to +0 (NaN and infinities included). */
  zero(x: FA): void;
  zeroAsync(x: FA): Promise<void>;
  /** average += (1 - decay) * (x - average), element by element in the arrays' precision. */
  movingAverage(average: FA, x: FA, decay: number): void;
  movingAverageAsync(average: FA, x: FA, decay: number): Promise<void>;
  /**
   * y = x * mask: each element 0 with probability p, else scaled by 1 / (1 - p); the mask follows from
   * (seed, stream) alone, so the same call on a gradient is the backward. y may be x itself.
   */
  dropout(y: F32, x: F32, p: number, seed: number, stream: number): void;
  dropoutAsync(y: F32, x: F32, p: number, seed: number, stream: number): Promise<void>;
  /** result[0] = how many of x are NaN or infinite. */
  countNonfinite(x: FA, result: F64): void;
  countNonfiniteAsync(x: FA, result: F64): Promise<void>;
}

// Declaration merging: the block kernels are part of the one binding.
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface NativeBinding extends NativeBlockKernels {}

// Loading: node-gyp-build picks build/Release (a from-source build) if present, else the
// matching prebuilds/<platform>-<arch>/*.node shipped in the package (PREBUILDS_ONLY=1: only
// that). Every failure names its cause and the fix, as an RnnkitError 'ERR_RNNKIT_NATIVE_LOAD'.

const FROM_SOURCE = 'Build it from source: `npm install --build-from-source` (in a project that depends on ' +
  'rnnkit: `npm rebuild rnnkit --build-from-source`); that needs a C++17 compiler, make, python3 and ' +
  'OpenBLAS (Debian/Ubuntu: apt-get install -y build-essential python3 libopenblas-dev).';

function loadError(what: string, hint: string, cause: unknown): RnnkitError {
  return new RnnkitError(`rnnkit: ${what}${hint ? `\n${hint}` : ''}\n${FROM_SOURCE}`, 'ERR_RNNKIT_NATIVE_LOAD', { cause });
}

function shippedPlatforms(root: string): string {
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(path.join(root, 'prebuilds'), { withFileTypes: true })
      .filter((d) => d.isDirectory() && fs.readdirSync(path.join(root, 'prebuilds', d.name)).some((f) => f.endsWith('.node')))
      .map((d) => d.name);
  } catch { /* no prebuilds folder */ }
  return dirs.length ? `it ships prebuilt binaries for ${dirs.join(', ')} only` : 'it ships no prebuilt binaries';
}

// What a dlopen failure most likely means, in words a user can act on.
function hintFor(reason: string): string {
  if (/GLIBC(XX)?_[0-9.]+' not found/.test(reason))
    return 'This system\'s C or C++ runtime is older than the binary needs (the prebuilt one needs glibc >= 2.34 and ' +
      'libstdc++ from GCC >= 11: Debian 12, Ubuntu 22.04, RHEL 9 or newer).';
  if (/lib(open)?blas[^ ]*: cannot open shared object/.test(reason))
    return 'It was built against the system OpenBLAS, which is not installed (Debian/Ubuntu: apt-get install -y ' +
      'libopenblas0), or rebuild it.';
  if (/invalid ELF header|file too short|wrong ELF class|ELF load command|exec format error/i.test(reason))
    return 'The file is damaged or was built for another system.';
  return '';
}

function requireAddon(file: string): NativeBinding {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(file) as NativeBinding;
}

function load(): { binding: NativeBinding; file: string } {
  const root = path.join(__dirname, '..', '..');  // dist/lib -> package root
  // RNNKIT_ADDON_PATH: load this .node file instead (e.g. the sanitizer build, see scripts/test-asan.sh).
  const override = process.env.RNNKIT_ADDON_PATH;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  let file: string;
  if (override) {
    file = path.resolve(override);
  } else {
    try {
      file = nodeGypBuild.resolve(root);
    } catch (error) {
      const napi = process.versions.napi ? `, N-API ${process.versions.napi}` : '';
      throw loadError(`no native binary for this system (${process.platform}-${process.arch}, Node ` +
        `${process.versions.node}${napi}) was found in ${root}: ${shippedPlatforms(root)}, and none was built ` +
        `from source${process.env.PREBUILDS_ONLY ? ' (PREBUILDS_ONLY is set, so a local build is ignored)' : ''}.`,
      '', error);
    }
  }
  try {
    return { binding: requireAddon(file), file };
  } catch (error) {
    // The addon loaded but refused a setting (a bad RNNKIT_ISA): that error says it all.
    if ((error as { code?: unknown }).code === 'ERR_RNNKIT_VALUE') throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw loadError(`the native addon ${file}${override ? ' (RNNKIT_ADDON_PATH)' : ''} could not be loaded: ${reason}`,
      hintFor(reason), error);
  }
}

const loaded = load();
/** The addon file in use: build/Release/... (from source) or prebuilds/<platform>-<arch>/... (shipped). */
export const nativeAddonPath: string = loaded.file;
export const native: NativeBinding = loaded.binding;

