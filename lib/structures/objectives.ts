// Training objectives as the structures use them: summed over the valid rows
// (weight 1; padded rows weight 0), with gradients scaled by 1/denominator so
// several chunks of one batch add up to the gradient of the batch's mean.

import type { Tensor } from '../tensor';
import { mseLossAsync, softmaxCrossEntropyAsync } from '../blocks/losses';

export interface Objective {
  /** Summed loss over valid rows. */
  sum: number;
  /** Gradient of sum / denominator. */
  grad: Tensor;
}

function scale(data: Float32Array, factor: number): void {
  for (let i = 0; i < data.length; i++) data[i] *= factor;
}

/** Softmax cross-entropy of logits [..., V] against class targets (one per row). */
export async function classObjective(logits: Tensor, targets: Int32Array, weights: Float32Array,
  labelSmoothing: number, denominator: number): Promise<Objective> {
  const r = await softmaxCrossEntropyAsync(logits, targets, { weights, labelSmoothing, reduction: 'sum' });
  scale(r.dLogits.data, 1 / denominator);
  return { sum: r.loss, grad: r.dLogits };
}

/** Squared error of predictions [..., F] against targets of the same shape, summed over valid rows. */
export async function realObjective(pred: Tensor, target: Float32Array, weights: Float32Array,
  denominator: number): Promise<Objective> {
  const r = await mseLossAsync(pred, { data: target, shape: pred.shape }, { weights, reduction: 'sum' });
  scale(r.dPred.data, 1 / denominator);
  return { sum: r.loss, grad: r.dPred };
}

export function argmaxRows(data: Float32Array, width: number): Int32Array {
  const rows = data.length / width;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let v = 1; v < width; v++) if (data[r * width + v] > data[r * width + best]) best = v;
    out[r] = best;
  }
  return out;
}
