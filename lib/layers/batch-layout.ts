// Batch-first <-> time-major: the one copy that lets the recurrent layers take
// [B, T, F] while the native time loop reads [T, B, F] (measured in bench/batch-first.ts).

import type { FloatArray } from '../tensor';

/**
 * Copies src [A, C, F] into dst [C, A, F] (the first two axes swapped); dst (of src's type) is
 * allocated when not given. Rows of F floats move whole, so it is a gather of contiguous rows.
 */
export function swapLeadingAxes<T extends FloatArray>(src: T, A: number, C: number, F: number,
  dst: T = new (src.constructor as new (n: number) => T)(A * C * F)): T {
  if (F >= 32) {  // long rows: a native memcpy each
    for (let a = 0; a < A; a++) {
      for (let c = 0; c < C; c++) {
        const from = (a * C + c) * F;
        dst.set(src.subarray(from, from + F), (c * A + a) * F);
      }
    }
  } else {        // short rows: subarray's object per row would cost more than the copy
    for (let a = 0; a < A; a++) {
      for (let c = 0; c < C; c++) {
        const from = (a * C + c) * F, to = (c * A + a) * F;
        for (let f = 0; f < F; f++) dst[to + f] = src[from + f];
      }
    }
  }
  return dst;
}
