// Mean squared error for the examples, inline until rnnkit ships its losses.

/** Returns the mean of (pred - target)^2 and its gradient with respect to pred. */
export function mseLoss(pred: Float32Array, target: Float32Array): { loss: number; grad: Float32Array } {
  if (pred.length !== target.length) throw new RangeError(`mseLoss: ${pred.length} predictions vs ${target.length} targets`);
  const n = pred.length;
  const grad = new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = pred[i] - target[i];
    sum += d * d;
    grad[i] = (2 * d) / n;
  }
  return { loss: sum / n, grad };
}
