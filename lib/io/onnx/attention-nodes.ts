// One step of rnnkit's AttentionDecoder as ONNX nodes, the math of
// native/kernels/attention.h and attention_decoder.cc:
//   scores e_j: 'bahdanau' v.tanh(W_q s + k_j), k_j = W_k h_j + b_k; 'luong-dot' s.h_j;
//   'luong-general' s.k_j, k_j = W h_j; a = softmax over the valid j (padded ones get 0);
//   c = sum_j a_j h_j; s' = cell([x ; c], s); output [s' ; c].
// Memory and keys are batch-major here, [B, N, *], so a host copies whole rows to select or
// repeat sequences (beam search); the keys are computed once per source, in the encoder graph.

import type { AttentionDecoder } from '../../layers/attention-decoder';
import { NativeCell } from '../../native';
import { DataType, type GraphBuilder } from './graph-builder';
import { squeeze, transpose2d, unsqueeze } from './common-nodes';
import { emitStack, type OnnxCell, type StackValues } from './recurrent-nodes';

const CELL: Record<number, OnnxCell> = {
  [NativeCell.RnnTanh]: 'rnn-tanh', [NativeCell.RnnRelu]: 'rnn-relu', [NativeCell.Gru]: 'gru', [NativeCell.Lstm]: 'lstm',
};

/** The keys [B, N, K] the scores read from memory [B, N, E]; the memory itself for 'luong-dot'. */
export function emitAttentionKeys(g: GraphBuilder, decoder: AttentionDecoder, memory: string): string {
  const p = decoder.stateDict();
  if (decoder.attention === 'luong-dot') return memory;
  const weight = decoder.attention === 'bahdanau' ? p['attention.key.weight'] : p['attention.weight'];
  const keys = g.op('MatMul', [memory, g.floats('key_weight_t', transpose2d(weight.data, weight.shape), [weight.shape[1], weight.shape[0]])]);
  return decoder.attention === 'bahdanau' ? g.op('Add', [keys, g.floats('key_bias', p['attention.key.bias'].data, [weight.shape[0]])]) : keys;
}

export interface AttentionStepValues extends StackValues {
  /** [B, H+E]: [s' ; c], what the head reads. */
  output: string;
  /** [B, N]. */
  weights: string;
}

/** One decoder step for x [B, X] from state h (and c) [1, B, H] over memory/keys [B, N, *] and lengths [B] int32. */
export function emitAttentionStep(g: GraphBuilder, decoder: AttentionDecoder, x: string, h: string, c: string,
  memory: string, keys: string, sourceLengths: string): AttentionStepValues {
  const p = decoder.stateDict();
  const s = squeeze(g, h, 0);  // [B, H]
  let scores: string;
  if (decoder.attention === 'bahdanau') {
    const wq = p['attention.query.weight'];
    const q = g.op('MatMul', [s, g.floats('query_weight_t', transpose2d(wq.data, wq.shape), [wq.shape[1], wq.shape[0]])]);
    const z = g.op('Tanh', [g.op('Add', [unsqueeze(g, q, 1), keys])]);  // [B, N, A]
    const v = p['attention.v'];
    scores = squeeze(g, g.op('MatMul', [z, g.floats('attention_v', v.data, [v.data.length, 1])]), 2);
  } else {
    scores = squeeze(g, g.op('MatMul', [keys, unsqueeze(g, s, 2)]), 2);
  }
  // Positions j >= length score -inf, so softmax gives them exactly 0 (a length is at least 1).
  const steps = squeeze(g, g.op('Slice', [g.op('Shape', [memory]), g.int64s('start', [1]), g.int64s('end', [2]), g.int64s('axes', [0])]), 0);
  const positions = g.op('Range', [g.int64s('zero', [0], []), steps, g.int64s('one', [1], [])]);
  const lengths = unsqueeze(g, g.op('Cast', [sourceLengths], { to: DataType.Int64 }), 1);
  const valid = g.op('Less', [positions, lengths]);  // [B, N]
  const masked = g.op('Where', [valid, scores, g.floats('minus_infinity', Float32Array.of(-Infinity), [])]);
  const weights = g.op('Softmax', [masked], { axis: -1 });
  const context = squeeze(g, g.op('MatMul', [unsqueeze(g, weights, 1), memory]), 1);  // [B, E]
  const cellInput = unsqueeze(g, g.op('Concat', [x, context], { axis: 1 }), 0);
  const cellParams = Object.fromEntries(Object.entries(p).filter(([k]) => !k.startsWith('attention.')));
  const next = emitStack(g, { cell: CELL[decoder.cell], hiddenSize: decoder.hiddenSize, numLayers: 1, numDirections: 1, params: cellParams },
    cellInput, '', h, c);
  const output = g.op('Concat', [squeeze(g, next.hN, 0), context], { axis: 1 });
  return { output, hN: next.hN, cN: next.cN, weights };
}
