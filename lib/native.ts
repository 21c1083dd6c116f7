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
