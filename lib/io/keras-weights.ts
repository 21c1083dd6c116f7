// Keras weights in rnnkit's (PyTorch's) layout. Keras kernels are [inputs, gates*units]
// (transposed against PyTorch's [gates*units, inputs]) with gates GRU z, r, h and
// LSTM i, f, c, o; rnnkit's are GRU r, z, n and LSTM i, f, g, o. A GRU with
// reset_after=True has bias [2, 3*units] (input and recurrent), PyTorch's b_ih and
// b_hh; one bias [gates*units] goes to b_ih with b_hh zero (for reset_after=False
// rnnkit's b_hn sits outside r * (...), where it adds to b_in, so that is exact).

import { describe } from '../check';
import { RnnkitFormatError } from '../errors';
import type { Tensor } from '../tensor';
import type { KerasCell, KerasPlan, KerasRecurrentLayer } from './keras-layers';
import type { TfjsWeight } from './tfjs-artifacts';

// rnnkit gate g is Keras gate KERAS_BLOCK[cell][g].
const KERAS_BLOCK: Record<KerasCell, number[]> = { SimpleRNN: [0], GRU: [1, 0, 2], LSTM: [0, 1, 2, 3] };

export interface KerasStateDict {
  /** The structure's parameters by name (encoder.embedding.weight, encoder.rnn.weight_ih_l0, head.weight, ...). */
  tensors: Record<string, Tensor>;
  /** Width of each step's input to the first recurrent layer (embedding size or feature size). */
  inputSize: number;
}

/** Takes the plan's weights out of `weights`; refuses a missing one, a wrong shape and a weight no layer uses. */
export function kerasStateDict(plan: KerasPlan, weights: ReadonlyMap<string, TfjsWeight>): KerasStateDict {
  const used = new Set<string>();
  const take = (layer: string, kind: string, filter: (segments: string[]) => boolean = () => true): TfjsWeight & { name: string } => {
    const found = [...weights.keys()].filter((name) => {
      const segments = name.split('/');
      return segments[0] === layer && segments[segments.length - 1].replace(/:0$/, '') === kind && filter(segments.slice(1, -1));
    });
    if (found.length !== 1) {
      throw new RnnkitFormatError(`layer ${describe(layer)}: expected one weight ${layer}/.../${kind} in the manifest, found ${found.length}` +
        (found.length ? ` (${found.join(', ')})` : ''));
    }
    used.add(found[0]);
    return { name: found[0], ...weights.get(found[0])! };
  };
  const tensors: Record<string, Tensor> = {};
  let inputSize: number;
  if (plan.embedding) {
    const e = take(plan.embedding.name, 'embeddings');
    expectShape(e, [plan.embedding.vocabSize, plan.embedding.embeddingSize]);
    tensors['encoder.embedding.weight'] = { data: e.data, shape: e.shape };
    inputSize = plan.embedding.embeddingSize;
  } else {
    const first = plan.recurrent[0];
    const kernel = take(first.name, 'kernel', directionFilter(first, 0));
    if (kernel.shape.length !== 2) throw new RnnkitFormatError(`${kernel.name}: expected a 2-D kernel, got shape ${describe(kernel.shape)}`);
    inputSize = kernel.shape[0];
  }
  plan.recurrent.forEach((layer, l) => {
    const D = layer.bidirectional ? 2 : 1;
    const inputs = l === 0 ? inputSize : D * plan.recurrent[l - 1].units;
    for (let d = 0; d < D; d++) {
      const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
      const only = directionFilter(layer, d);
      const p = recurrentParameters(layer, inputs, take(layer.name, 'kernel', only), take(layer.name, 'recurrent_kernel', only),
        layer.useBias ? take(layer.name, 'bias', only) : null);
      tensors[`encoder.rnn.weight_ih_${suffix}`] = p.weightIh;
      tensors[`encoder.rnn.weight_hh_${suffix}`] = p.weightHh;
      tensors[`encoder.rnn.bias_ih_${suffix}`] = p.biasIh;
      tensors[`encoder.rnn.bias_hh_${suffix}`] = p.biasHh;
    }
  });
  const last = plan.recurrent[plan.recurrent.length - 1];
  const width = (last.bidirectional ? 2 : 1) * last.units, units = plan.head.units;
  const kernel = take(plan.head.name, 'kernel');
  expectShape(kernel, [width, units]);
  tensors['head.weight'] = { data: transpose(kernel.data, width, units), shape: [units, width] };
  const bias = plan.head.useBias ? take(plan.head.name, 'bias') : null;
  if (bias) expectShape(bias, [units]);
  tensors['head.bias'] = { data: bias ? bias.data : new Float32Array(units), shape: [units] };
  const unused = [...weights.keys()].filter((name) => !used.has(name));
  if (unused.length > 0) {
    throw new RnnkitFormatError(`weights ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''} belong to no layer rnnkit read`);
  }
  return { tensors, inputSize };
}

/** Inside a Bidirectional the weights sit under forward_<name>/ or backward_<name>/. */
function directionFilter(layer: KerasRecurrentLayer, d: number): (segments: string[]) => boolean {
  if (!layer.bidirectional) return () => true;
  const prefix = d === 0 ? 'forward_' : 'backward_';
  return (segments) => segments.some((s) => s.startsWith(prefix));
}

function recurrentParameters(layer: KerasRecurrentLayer, inputs: number, kernel: TfjsWeight & { name: string },
  recurrent: TfjsWeight & { name: string }, bias: (TfjsWeight & { name: string }) | null) {
  const blocks = KERAS_BLOCK[layer.cell], G = blocks.length, H = layer.units, GH = G * H;
  expectShape(kernel, [inputs, GH]);
  expectShape(recurrent, [H, GH]);
  let inputBias: Float32Array | null = null, recurrentBias: Float32Array | null = null;
  if (bias) {
    if (layer.cell === 'GRU' && layer.resetAfter) {
      expectShape(bias, [2, GH]);
      inputBias = bias.data.subarray(0, GH);
      recurrentBias = bias.data.subarray(GH);
    } else {
      expectShape(bias, [GH]);
      inputBias = bias.data;
    }
  }
  // rnnkit row g*H + j is Keras column blocks[g]*H + j.
  const gatherRows = (m: Float32Array, rows: number): Float32Array => {
    const out = new Float32Array(GH * rows);
    for (let g = 0; g < G; g++) {
      for (let j = 0; j < H; j++) {
        const column = blocks[g] * H + j;
        for (let i = 0; i < rows; i++) out[(g * H + j) * rows + i] = m[i * GH + column];
      }
    }
    return out;
  };
  const gatherBias = (b: Float32Array | null): Float32Array => {
    const out = new Float32Array(GH);
    if (b) for (let g = 0; g < G; g++) out.set(b.subarray(blocks[g] * H, (blocks[g] + 1) * H), g * H);
    return out;
  };
  return {
    weightIh: { data: gatherRows(kernel.data, inputs), shape: [GH, inputs] },
    weightHh: { data: gatherRows(recurrent.data, H), shape: [GH, H] },
    biasIh: { data: gatherBias(inputBias), shape: [GH] },
    biasHh: { data: gatherBias(recurrentBias), shape: [GH] },
  };
}

function expectShape(w: TfjsWeight & { name: string }, shape: number[]): void {
  if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
    throw new RnnkitFormatError(`${w.name}: expected shape [${shape.join(', ')}], got [${w.shape.join(', ')}]`);
  }
}

function transpose(m: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(rows * columns);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = m[r * columns + c];
  return out;
}
