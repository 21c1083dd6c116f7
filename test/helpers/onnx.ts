// Helpers for the ONNX export tests: onnxruntime-node sessions over exported
// bytes, tensors of the types the graphs take, padded time-major batches, and
// a greedy decoding loop over a step graph (the host's side of the recipe).

import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { EncoderDecoder, type OneToMany } from '../../lib';
import { Random } from '../../lib/random';

/** Agreement asked of every exported graph: max |onnx - rnnkit| / max |rnnkit| (test/helpers/compare.ts). */
export const ONNX_TOLERANCE = 1e-5;

export type OrtTensor = ort.Tensor;

const worst = new Map<string, number>();

/** Keeps the largest error seen per model kind; RNNKIT_ONNX_REPORT=1 prints them after the file's tests. */
export function recordError(kind: string, error: number): void {
  worst.set(kind, Math.max(worst.get(kind) ?? 0, error));
}

export function reportErrors(): void {
  if (!process.env.RNNKIT_ONNX_REPORT) return;
  for (const [kind, error] of worst) console.log(`    max scaled error vs rnnkit, ${kind}: ${error.toExponential(2)}`);
  worst.clear();
}

export function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes);
}

export const f32 = (data: Float32Array | number[], dims: number[]): ort.Tensor => new ort.Tensor('float32', Float32Array.from(data), dims);
export const i32 = (data: Int32Array | number[], dims: number[]): ort.Tensor => new ort.Tensor('int32', Int32Array.from(data), dims);
export const i64 = (data: ArrayLike<number>, dims: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(Array.from(data), BigInt), dims);

export function floats(t: ort.Tensor): Float32Array {
  return t.data as Float32Array;
}

/** Token sequences as ids [T, B] (time-major, padded with 0) and their lengths. */
export function paddedTokens(seqs: number[][]): { ids: number[]; lengths: Int32Array; steps: number } {
  const T = Math.max(...seqs.map((s) => s.length)), B = seqs.length;
  const ids = new Array<number>(T * B).fill(0);
  seqs.forEach((s, b) => s.forEach((id, t) => { ids[t * B + b] = id; }));
  return { ids, lengths: Int32Array.from(seqs, (s) => s.length), steps: T };
}

/** Feature sequences as [T, B, F] (time-major, padded with 0) and their lengths. */
export function paddedFeatures(seqs: number[][][], F: number): { data: Float32Array; lengths: Int32Array; steps: number } {
  const T = Math.max(...seqs.map((s) => s.length)), B = seqs.length;
  const data = new Float32Array(T * B * F);
  seqs.forEach((s, b) => s.forEach((v, t) => data.set(v, (t * B + b) * F)));
  return { data, lengths: Int32Array.from(seqs, (s) => s.length), steps: T };
}

export interface Decoded {
  tokens: number[];
  logProb: number;
  /** Each step's weights over the source's valid steps (attention graphs). */
  attention: number[][];
}

/**
 * Greedy decoding as rnnkit's sampleDecode does it: every row steps until all ended, a row's tokens and
 * logProb stop at its end token. `feeds` holds what the step graph reads besides token and the state.
 */
export async function greedyDecode(step: ort.InferenceSession, feeds: Record<string, ort.Tensor>, batch: number,
  tokens: { startToken: number; endToken: number; maxLength: number }, sourceLengths?: Int32Array): Promise<Decoded[]> {
  const state: Record<string, ort.Tensor> = { ...feeds };
  const out: Decoded[] = Array.from({ length: batch }, () => ({ tokens: [], logProb: 0, attention: [] }));
  const done = new Array<boolean>(batch).fill(false);
  let token = new Array<number>(batch).fill(tokens.startToken);
  for (let t = 0; t < tokens.maxLength && done.includes(false); t++) {
    const inputs: Record<string, ort.Tensor> = {};
    for (const name of step.inputNames) inputs[name] = name === 'token' ? i64(token, [batch]) : state[name];
    const r = await step.run(inputs);
    const V = r.logProbs.dims[1], logProbs = floats(r.logProbs);
    token = Array.from({ length: batch }, (_, b) => argmax(logProbs.subarray(b * V, (b + 1) * V)));
    for (let b = 0; b < batch; b++) {
      if (done[b]) continue;
      out[b].logProb += logProbs[b * V + token[b]];
      if (r.attention) {
        const N = r.attention.dims[1];
        out[b].attention.push(Array.from(floats(r.attention).subarray(b * N, b * N + sourceLengths![b])));
      }
      if (token[b] === tokens.endToken) done[b] = true;
      else out[b].tokens.push(token[b]);
    }
    state.h = r.hN;
    if (r.cN) state.c = r.cN;
  }
  return out;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

/**
 * A few epochs of fit on a small task (reverse the source; a length and tokens set by the condition), so
 * the decoder's tokens depend on its input and lengths vary: an untrained small decoder writes nearly
 * the same tokens for every input and often ends at once, which would compare one step only
 * (assertManySteps checks it). About 0.2 s.
 */
export async function trainBriefly(model: EncoderDecoder | OneToMany, seed: number): Promise<void> {
  const random = new Random(seed);
  const config = model.config() as { output: { vocabSize: number }; input?: { type: string; vocabSize?: number; size?: number };
    condition?: { type: string; numClasses?: number; size?: number } };
  const V = config.output.vocabSize;
  const token = () => 2 + random.nextInt(V - 2);  // 0 and 1 start and end in every test model
  const options = { epochs: 15, batchSize: 16, optimizer: { type: 'adam' as const, lr: 3e-2 } };
  if (model instanceof EncoderDecoder) {
    const input = config.input!;
    const examples = Array.from({ length: 64 }, () => {
      const n = 1 + random.nextInt(5);
      const target = Array.from({ length: n }, token);
      const source = input.type === 'tokens' ? target.map((t) => t % input.vocabSize!)
        : target.map((t) => Array.from({ length: input.size! }, (_, f) => (f === 0 ? t / V : random.uniform(-1, 1))));
      return { input: source, target: [...target].reverse() };
    });
    await model.fit(examples, options);
    return;
  }
  const condition = config.condition!;
  const examples = Array.from({ length: 64 }, () => {
    const c = condition.type === 'class' ? random.nextInt(condition.numClasses!) : Array.from({ length: condition.size! }, () => random.uniform(-1, 1));
    const key = typeof c === 'number' ? c : Math.floor((c[0] + 1) * 2);
    return { input: c, target: Array.from({ length: 1 + key }, (_, i) => 2 + ((i + key) % (V - 2))) };
  });
  await model.fit(examples, options);
}

/** The decodings compared must not be trivial: some run several steps, and not all are alike. */
export function assertManySteps(results: ReadonlyArray<{ tokens: number[] }>): void {
  assert.ok(results.some((r) => r.tokens.length >= 2), `every decoding ended within a step: ${JSON.stringify(results.map((r) => r.tokens))}`);
  assert.ok(new Set(results.map((r) => r.tokens.join(','))).size >= 2, 'every input decoded to the same tokens');
}
