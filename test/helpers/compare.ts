// Tensor comparisons for tests: error relative to the reference's scale.

import * as assert from 'node:assert/strict';

/** max |a - b| / max(max |b|, floor): 0 for identical arrays. */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-3): number {
  assert.equal(actual.length, expected.length, 'length mismatch');
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  const error = scaledError(actual, expected);
  assert.ok(error <= tolerance, `${what}: scaled error ${error.toExponential(2)} above ${tolerance}`);
}
