// ONNX nodes for rnnkit's small building blocks: Linear, Embedding, the
// encoder's context vector, the bridge into a decoder's initial state, zeros
// of a runtime shape, and axis helpers (opset 13+ takes axes as inputs).

import type { Linear } from '../../layers/linear';
import type { Embedding } from '../../layers/embedding';
import { scalarFloatTensor, type GraphBuilder } from './graph-builder';

/** y = x W^T + b over the last axis of x [..., in]. */
export function emitLinear(g: GraphBuilder, linear: Linear, x: string): string {
  const { weight, bias } = linear.stateDict();
  const [out, inp] = weight.shape;
  // [in, out]: MatMul broadcasts over the leading axes of x.
  const y = g.op('MatMul', [x, g.floats('linear_weight_t', transpose2d(weight.data, weight.shape), [inp, out])]);
  return bias ? g.op('Add', [y, g.floats('linear_bias', bias.data, [out])]) : y;
}

/** Rows of the table for int64 ids of any shape: [...shape, E]. */
export function emitEmbedding(g: GraphBuilder, embedding: Embedding, ids: string): string {
  const { weight } = embedding.stateDict();
  return g.op('Gather', [g.floats('embedding', weight.data, weight.shape), ids], { axis: 0 });
}

export function squeeze(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Squeeze', [x, g.int64s('axes', [axis])]);
}

export function unsqueeze(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Unsqueeze', [x, g.int64s('axes', [axis])]);
}

/** The last layer's final states, directions side by side: hN [L*D, B, H] -> [B, D*H] (Encoder.contextOf). */
export function emitContext(g: GraphBuilder, hN: string, numLayers: number, numDirections: number): string {
  const last = (numLayers - 1) * numDirections;
  const top = numLayers === 1 ? hN
    : g.op('Slice', [hN, g.int64s('start', [last]), g.int64s('end', [last + numDirections]), g.int64s('axes', [0])]);
  return g.op('Reshape', [g.op('Transpose', [top], { perm: [1, 0, 2] }), g.int64s('shape', [0, -1])]);
}

/** Bridge: context [B, C] -> h0 [L, B, H], tanh(W c + b), or c itself (no Linear: C == H and L == 1). */
export function emitBridge(g: GraphBuilder, linear: Linear | null, context: string, layers: number, hidden: number): string {
  if (!linear) return unsqueeze(g, context, 0);
  const rows = g.op('Tanh', [emitLinear(g, linear, context)]);  // [B, L*H], layer by layer (rowsToState)
  const perLayer = g.op('Reshape', [rows, g.int64s('shape', [0, layers, hidden])]);
  return g.op('Transpose', [perLayer], { perm: [1, 0, 2] });
}

/** Float zeros [leading, B, trailing], B read from `batchOf`'s first axis at run time. */
export function emitZeros(g: GraphBuilder, leading: number, batchOf: string, trailing: number): string {
  const batch = g.op('Slice', [g.op('Shape', [batchOf]), g.int64s('start', [0]), g.int64s('end', [1]), g.int64s('axes', [0])]);
  const shape = g.op('Concat', [g.int64s('leading', [leading]), batch, g.int64s('trailing', [trailing])], { axis: 0 });
  return g.op('ConstantOfShape', [shape], { value: scalarFloatTensor(0) });
}

/** A [rows, cols] matrix as [cols, rows]. */
export function transpose2d(data: Float32Array, shape: number[]): Float32Array {
  const [rows, cols] = shape, out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
