// Batch-first <-> time-major: the one copy that lets the recurrent layers take
// [B, T, F] while the native time loop reads [T, B, F] (measured in bench/batch-first.ts).

/**
 * Copies src [A, C, F] into dst [C, A, F] (the first two axes swapped); dst is allocated
 * when not given. Rows of F floats move whole, so it is a gather of contiguous rows.
 */
export function swapLeadingAxes(src: Float32Array, A: number, C: number, F: number,
  dst = new Float32Array(A * C * F)): Float32Array {
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
