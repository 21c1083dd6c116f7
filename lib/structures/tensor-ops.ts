// Small element-wise and layout helpers the structures glue layers with.
// They run on the JS thread, so each is one linear pass over small arrays. Their
// results come from the batch's scratch while a training batch runs (batchFloat32).

import { batchFloat32 } from '../layers/batch-scratch';
import type { Tensor } from '../tensor';

/** Concatenates the last dims of [..., A] and [..., B] (same leading dims) into [..., A+B]. */
export function concatLast(a: Tensor, b: Tensor): Tensor {
  const A = a.shape[a.shape.length - 1], Bw = b.shape[b.shape.length - 1];
  const rows = a.data.length / A;
  const out = batchFloat32('concatLast', rows * (A + Bw));
  for (let r = 0; r < rows; r++) {
    out.set(a.data.subarray(r * A, (r + 1) * A), r * (A + Bw));
    out.set(b.data.subarray(r * Bw, (r + 1) * Bw), r * (A + Bw) + A);
  }
  return { data: out, shape: [...a.shape.slice(0, -1), A + Bw] };
}

/** Splits [..., A+B] into [..., A] and [..., B]. */
export function splitLast(t: Tensor, A: number): [Tensor, Tensor] {
  const W = t.shape[t.shape.length - 1], Bw = W - A;
  const rows = t.data.length / W;
  const a = batchFloat32('splitLast', rows * A), b = batchFloat32('splitLast', rows * Bw);
  for (let r = 0; r < rows; r++) {
    a.set(t.data.subarray(r * W, r * W + A), r * A);
    b.set(t.data.subarray(r * W + A, (r + 1) * W), r * Bw);
  }
  const lead = t.shape.slice(0, -1);
  return [{ data: a, shape: [...lead, A] }, { data: b, shape: [...lead, Bw] }];
}

/** Repeats a per-sequence vector [B, C] at every step: [T, B, C]. */
export function broadcastSteps(perSequence: Float32Array, steps: number, batch: number, width: number): Tensor {
  const out = batchFloat32('broadcastSteps', steps * batch * width);
  for (let t = 0; t < steps; t++) out.set(perSequence, t * batch * width);
  return { data: out, shape: [steps, batch, width] };
}

/** Sums [T, B, C] over steps: [B, C] (the gradient of broadcastSteps). */
export function sumSteps(t: Tensor): Float32Array {
  const [T, B, C] = t.shape;
  const out = batchFloat32('sumSteps', B * C);
  for (let s = 0; s < T; s++) {
    const block = t.data.subarray(s * B * C, (s + 1) * B * C);
    for (let i = 0; i < B * C; i++) out[i] += block[i];
  }
  return out;
}

/** Rows `rows` of a [..., B, W] tensor along its batch axis (axis = rank - 2). */
export function selectBatch(t: Tensor, rows: Int32Array): Tensor {
  const rank = t.shape.length;
  const B = t.shape[rank - 2], W = t.shape[rank - 1];
  const outer = t.data.length / (B * W);
  const out = batchFloat32('selectBatch', outer * rows.length * W);
  for (let o = 0; o < outer; o++) {
    rows.forEach((r, i) => out.set(t.data.subarray((o * B + r) * W, (o * B + r + 1) * W), (o * rows.length + i) * W));
  }
  const shape = [...t.shape];
  shape[rank - 2] = rows.length;
  return { data: out, shape };
}

export function tanhInPlace(data: Float32Array): void {
  for (let i = 0; i < data.length; i++) data[i] = Math.tanh(data[i]);
}

/** d(tanh) given its output y: dx = dy * (1 - y^2). */
export function tanhBackward(dy: Float32Array, y: Float32Array): Float32Array {
  const dx = batchFloat32('tanhBackward', dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
  return dx;
}

export function addInto(target: Float32Array, source: Float32Array): void {
  for (let i = 0; i < target.length; i++) target[i] += source[i];
}

/** [B, L*H] (per-sequence rows) <-> [L, B, H] (state layout). */
export function rowsToState(rows: Float32Array, layers: number, batch: number, hidden: number): Float32Array {
  const out = batchFloat32('state', layers * batch * hidden);
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < layers; l++) {
      out.set(rows.subarray((b * layers + l) * hidden, (b * layers + l + 1) * hidden), (l * batch + b) * hidden);
    }
  }
  return out;
}

export function stateToRows(state: Float32Array, layers: number, batch: number, hidden: number): Float32Array {
  const out = batchFloat32('state', layers * batch * hidden);
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < layers; l++) {
      out.set(state.subarray((l * batch + b) * hidden, (l * batch + b + 1) * hidden), (b * layers + l) * hidden);
    }
  }
  return out;
}
