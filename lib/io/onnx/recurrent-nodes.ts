// A recurrent stack as ONNX's own RNN / GRU / LSTM ops, one node per layer
// (both directions in one node), with PyTorch's gate order converted:
// LSTM [i,f,g,o] -> ONNX [i,o,f,c]; GRU [r,z,n] -> [z,r,h], linear_before_reset=1
// (PyTorch's b_hn inside r * (W_hn h + b_hn)), or 0 for resetAfter: false (Keras's
// reset_after=False: W_hn (r * h) + b_hn, ONNX's default GRU). Dropout is a training-only
// operation, so the inference graph has none. ONNX's LSTM has no projection (PyTorch's
// proj_size), so a projSize LSTM is refused, as is a float64 layer (the graphs are float).

import { RnnkitError } from '../../errors';
import { GRU } from '../../layers/gru';
import { LSTM } from '../../layers/lstm';
import type { Recurrent } from '../../layers/recurrent';
import { RNN } from '../../layers/rnn';
import type { Tensor } from '../../tensor';
import type { GraphBuilder } from './graph-builder';

export type OnnxCell = 'rnn-tanh' | 'rnn-relu' | 'gru' | 'lstm';

/** What the emitter needs of a stack: its sizes and PyTorch-named parameters (weight_ih_l0, ..._reverse). */
export interface StackWeights {
  cell: OnnxCell;
  hiddenSize: number;
  numLayers: number;
  numDirections: number;
  params: Record<string, Tensor>;
  /** GRU only: false for the reset-before variant (default true, PyTorch's). */
  resetAfter?: boolean;
}

/** The stack's values in the graph: output [T, B, D*H], hN and cN [L*D, B, H]. */
export interface StackValues {
  output: string;
  hN: string;
  cN?: string;
}

// For each ONNX gate block, the PyTorch block it comes from.
const GATE_ORDER: Record<OnnxCell, number[]> = { 'rnn-tanh': [0], 'rnn-relu': [0], gru: [1, 0, 2], lstm: [0, 3, 1, 2] };
const OP: Record<OnnxCell, string> = { 'rnn-tanh': 'RNN', 'rnn-relu': 'RNN', gru: 'GRU', lstm: 'LSTM' };

/**
 * Throws ERR_RNNKIT_UNSUPPORTED for a stack ONNX's ops cannot express: an LSTM with projSize, or a float64
 * layer. `where`: the stack's place in the model (e.g. 'encoder.rnn'), '' for a layer exported alone.
 */
export function checkExportable(rnn: Recurrent<'float32' | 'float64'>, where = ''): void {
  const kind = rnn.constructor.name, at = where ? ` (${where})` : '';
  if (rnn.dtype !== 'float32') {
    throw new RnnkitError(`dtype: ONNX export takes float32 layers; this ${kind}${at} is dtype '${rnn.dtype}' ` +
      `(load its stateDict into a float32 ${kind} to export it)`, 'ERR_RNNKIT_UNSUPPORTED');
  }
  if (rnn.projSize > 0) {
    throw new RnnkitError(`projSize: ONNX's LSTM operator has no projection (PyTorch's proj_size), so an LSTM with ` +
      `projSize ${rnn.projSize}${at} cannot be exported to ONNX`, 'ERR_RNNKIT_UNSUPPORTED');
  }
}

export function stackWeights(rnn: Recurrent): StackWeights {
  checkExportable(rnn);
  const cell: OnnxCell = rnn instanceof GRU ? 'gru' : rnn instanceof LSTM ? 'lstm'
    : rnn instanceof RNN && rnn.nonlinearity === 'relu' ? 'rnn-relu' : 'rnn-tanh';
  return {
    cell, hiddenSize: rnn.hiddenSize, numLayers: rnn.numLayers, numDirections: rnn.numDirections, params: rnn.stateDict(),
    resetAfter: rnn instanceof GRU ? rnn.resetAfter : undefined,
  };
}

/**
 * Emits the stack over x [T, B, I]. `lengths` ([B] int32), `h0` and `c0` ([L*D, B, H]) may be '' (all
 * steps valid, zero states). Padded steps neither change the state nor the output (zeros there).
 */
export function emitStack(g: GraphBuilder, w: StackWeights, x: string, lengths: string, h0: string, c0: string): StackValues {
  const H = w.hiddenSize, D = w.numDirections, lstm = w.cell === 'lstm';
  let input = x;
  const hs: string[] = [], cs: string[] = [];
  for (let l = 0; l < w.numLayers; l++) {
    const { W, R, B } = layerTensors(g, w, l);
    const slice = (state: string) => (state === '' || w.numLayers === 1 ? state
      : g.op('Slice', [state, g.int64s('start', [l * D]), g.int64s('end', [(l + 1) * D]), g.int64s('axes', [0])]));
    const attributes: Record<string, number | string | string[]> = { hidden_size: H, direction: D === 2 ? 'bidirectional' : 'forward' };
    if (w.cell === 'gru') attributes.linear_before_reset = w.resetAfter === false ? 0 : 1;
    if (w.cell === 'rnn-tanh' || w.cell === 'rnn-relu') attributes.activations = Array(D).fill(w.cell === 'rnn-relu' ? 'Relu' : 'Tanh');
    const inputs = [input, W, R, B, lengths, slice(h0)];
    if (lstm) inputs.push(slice(c0));
    const [Y, Yh, Yc] = g.node(OP[w.cell], inputs, lstm ? 3 : 2, attributes);
    // Y is [T, D, B, H]; the next layer (and the caller) reads [T, B, D*H], directions side by side.
    const perStep = g.op('Transpose', [Y], { perm: [0, 2, 1, 3] });
    input = g.op('Reshape', [perStep, g.int64s('shape', [0, 0, -1])]);
    hs.push(Yh);
    if (lstm) cs.push(Yc);
  }
  const join = (parts: string[]) => (parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: 0 }));
  return { output: input, hN: join(hs), cN: lstm ? join(cs) : undefined };
}

/** ONNX's W [D, G*H, I], R [D, G*H, H] and B [D, 2*G*H] (Wb then Rb) of layer l, gates reordered. */
function layerTensors(g: GraphBuilder, w: StackWeights, l: number): { W: string; R: string; B: string } {
  const order = GATE_ORDER[w.cell], G = order.length, H = w.hiddenSize, D = w.numDirections;
  const suffix = (d: number) => `l${l}${d === 1 ? '_reverse' : ''}`;
  const stacked = (key: string) => {
    const parts = Array.from({ length: D }, (_, d) => reorderGates(w.params[`${key}_${suffix(d)}`], order, H));
    return concat(parts);
  };
  const inputs = w.params[`weight_ih_${suffix(0)}`].shape[1];
  const W = g.floats(`W_l${l}`, stacked('weight_ih'), [D, G * H, inputs]);
  const R = g.floats(`R_l${l}`, stacked('weight_hh'), [D, G * H, H]);
  let B = '';
  if (w.params[`bias_ih_${suffix(0)}`]) {
    const perDirection = Array.from({ length: D }, (_, d) => concat([
      reorderGates(w.params[`bias_ih_${suffix(d)}`], order, H), reorderGates(w.params[`bias_hh_${suffix(d)}`], order, H)]));
    B = g.floats(`B_l${l}`, concat(perDirection), [D, 2 * G * H]);
  }
  return { W, R, B };
}

/** Rows of a [G*H, cols] weight (or a [G*H] bias) in blocks of H, block k taken from PyTorch's block order[k]. */
export function reorderGates(t: Tensor, order: number[], H: number): Float32Array {
  const cols = t.data.length / (order.length * H);
  const out = new Float32Array(t.data.length);
  order.forEach((from, k) => out.set(t.data.subarray(from * H * cols, (from + 1) * H * cols), k * H * cols));
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
