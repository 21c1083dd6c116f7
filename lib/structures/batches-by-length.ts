// Batched inference over many inputs: sorted by length so a batch pads
// little, run batch by batch, results put back in the caller's order. Every
// per-row product is batch-invariant, so a result has the same bits whatever
// else shares its batch (tested), and batchSize changes speed only.

import type { Inference } from './inference';

export function* inBatchesByLength<I, O>(inputs: readonly I[], lengthOf: (input: I) => number, batchSize: number,
  work: (batch: I[], indices: number[]) => Inference<O[]>): Inference<O[]> {
  const order = inputs.map((_, i) => i).sort((a, b) => lengthOf(inputs[a]) - lengthOf(inputs[b]) || a - b);
  const out = new Array<O>(inputs.length);
  for (let from = 0; from < order.length; from += batchSize) {
    const indices = order.slice(from, from + batchSize);
    const results = yield* work(indices.map((i) => inputs[i]), indices);
    indices.forEach((i, k) => { out[i] = results[k]; });
  }
  return out;
}
