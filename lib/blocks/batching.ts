// Mini-batches for sequence data: seeded shuffling, bucketing by length (so
// a batch pads little), and padding into time-major arrays.

import type { Random } from '../random';

export interface BatchingOptions {
  batchSize: number;
  /** Shuffle examples and batch order with this generator; null keeps the data's order. */
  random: Random | null;
  /** Group examples of similar length into the same batch (default true when shuffling). */
  bucket?: boolean;
}

/** Splits examples into batches. With bucketing, pools of 50 batches are sorted by length. */
export function makeBatches<T>(examples: readonly T[], lengthOf: (example: T) => number, options: BatchingOptions): T[][] {
  const { batchSize, random } = options;
  const order = examples.map((_, i) => i);
  if (random) random.shuffle(order);
  const bucket = options.bucket ?? random !== null;
  if (bucket) {
    const pool = batchSize * 50;
    for (let start = 0; start < order.length; start += pool) {
      const slice = order.slice(start, start + pool).sort((a, b) => lengthOf(examples[a]) - lengthOf(examples[b]));
      order.splice(start, slice.length, ...slice);
    }
  }
  const batches: T[][] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    batches.push(order.slice(start, start + batchSize).map((i) => examples[i]));
  }
  if (random && bucket) random.shuffle(batches);
  return batches;
}

/** Token sequences -> ids [T, B] (time-major, `pad` past each length) and lengths. */
export function padTokens(sequences: ReadonlyArray<readonly number[]>, pad = 0, steps?: number): {
  ids: Int32Array; lengths: Int32Array; steps: number;
} {
  const B = sequences.length;
  const T = steps ?? Math.max(...sequences.map((s) => s.length));
  const ids = new Int32Array(T * B).fill(pad);
  const lengths = new Int32Array(B);
  sequences.forEach((seq, b) => {
    lengths[b] = Math.min(seq.length, T);
    for (let t = 0; t < lengths[b]; t++) ids[t * B + b] = seq[t];
  });
  return { ids, lengths, steps: T };
}

/** Feature sequences (each step a vector of `size`) -> data [T, B, size] and lengths. */
export function padFeatures(sequences: ReadonlyArray<ReadonlyArray<readonly number[]>>, size: number): {
  data: Float32Array; lengths: Int32Array; steps: number;
} {
  const B = sequences.length;
  const T = Math.max(...sequences.map((s) => s.length));
  const data = new Float32Array(T * B * size);
  const lengths = new Int32Array(B);
  sequences.forEach((seq, b) => {
    lengths[b] = seq.length;
    seq.forEach((step, t) => data.set(step, (t * B + b) * size));
  });
  return { data, lengths, steps: T };
}

/** Per-(t, b) weights [T*B]: 1 where t < length[b], else 0 (masks padded steps out of a loss). */
export function stepMask(lengths: Int32Array, steps: number): Float32Array {
  const B = lengths.length;
  const mask = new Float32Array(steps * B);
  for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]; t++) mask[t * B + b] = 1;
  return mask;
}
