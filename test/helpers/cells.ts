// The recurrent cells (RNNCell tanh/relu, GRUCell, LSTMCell) as the cell tests use them, and a
// user's loop over steps: forward every step in training mode, then BPTT through the tapes, last first.

import assert from 'node:assert/strict';
import {
  GRU, GRUCell, LSTM, LSTMCell, RNN, RNNCell,
  type CellTape, type Recurrent, type RecurrentCell, type RecurrentCellOptions, type RecurrentOptions, type Tensor,
} from '../../lib';
import { randomArray } from './random-array';

export interface CellKind {
  name: string;
  lstm: boolean;
  gates: number;
  make(options: RecurrentCellOptions): RecurrentCell;
  /** The full layer with the same math. */
  layer(options: RecurrentOptions): Recurrent;
}

/** An RNNCell with `nonlinearity` unless the options name their own; options that are not an object pass as they are. */
function rnnCell(nonlinearity: 'tanh' | 'relu', o: RecurrentCellOptions): RNNCell {
  const isObject = typeof o === 'object' && o !== null && !Array.isArray(o);
  return new RNNCell(isObject ? { nonlinearity, ...o } : o);
}

export const CELL_KINDS: CellKind[] = [
  { name: 'RNNCell (tanh)', lstm: false, gates: 1, make: (o) => rnnCell('tanh', o), layer: (o) => new RNN({ nonlinearity: 'tanh', ...o }) },
  { name: 'RNNCell (relu)', lstm: false, gates: 1, make: (o) => rnnCell('relu', o), layer: (o) => new RNN({ nonlinearity: 'relu', ...o }) },
  { name: 'GRUCell', lstm: false, gates: 3, make: (o) => new GRUCell(o), layer: (o) => new GRU(o) },
  { name: 'LSTMCell', lstm: true, gates: 4, make: (o) => new LSTMCell(o), layer: (o) => new LSTM(o) },
  { name: 'GRUCell (resetAfter false)', lstm: false, gates: 3, make: (o) => new GRUCell(withOption(o, { resetAfter: false })),
    layer: (o) => new GRU({ resetAfter: false, ...o }) },
];

/** o with `option`'s keys unless o names its own; options that are not an object pass as they are. */
function withOption<T>(o: T, option: Record<string, unknown>): T {
  const isObject = typeof o === 'object' && o !== null && !Array.isArray(o);
  return isObject ? { ...option, ...o } : o;
}

export function tensor(shape: number[], seed: number, scale = 1): Tensor {
  return { data: randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), shape };
}

/** Step t of a time-major [T, B, F] tensor, as a [B, F] tensor (a copy). */
export function stepOf(t: Tensor, step: number): Tensor {
  const [, B, F] = t.shape;
  return { data: t.data.slice(step * B * F, (step + 1) * B * F), shape: [B, F] };
}

/** [T, B, F] from T tensors [B, F]. */
export function stack(steps: Tensor[]): Tensor {
  const [B, F] = steps[0].shape;
  const data = new Float32Array(steps.length * B * F);
  steps.forEach((s, t) => data.set(s.data, t * B * F));
  return { data, shape: [steps.length, B, F] };
}

export interface LoopInputs {
  x: Tensor;          // [T, B, I]
  h0?: Tensor;        // [B, H]
  c0?: Tensor;        // [B, H], LSTM
  dH?: Tensor;        // [T, B, H]: d loss / d h_t from outside the recurrence
  dC?: Tensor;        // [T, B, H], LSTM
}

export interface LoopResult {
  h: Tensor;          // [T, B, H]: every step's h
  c?: Tensor;         // [T, B, H], LSTM
  dx: Tensor;         // [T, B, I]
  dh0: Tensor;
  dc0?: Tensor;
}

/**
 * The user's loop: T training forwards keeping their tapes, then backward from the last step to
 * the first, adding the gradient the next step gives back (dh0, dc0) to the step's own dH[t], dC[t].
 */
export async function runLoop(cell: RecurrentCell, inputs: LoopInputs, mode: 'sync' | 'async' = 'sync'): Promise<LoopResult> {
  const T = inputs.x.shape[0];
  let h = inputs.h0, c = inputs.c0;
  const hs: Tensor[] = [], cs: Tensor[] = [], tapes: CellTape[] = [];
  for (let t = 0; t < T; t++) {
    const options = { h, c, training: true as const };
    const out = mode === 'sync' ? cell.forward(stepOf(inputs.x, t), options) : await cell.forwardAsync(stepOf(inputs.x, t), options);
    hs.push(out.h);
    if (out.c) cs.push(out.c);
    tapes.push(out.tape);
    h = out.h;
    c = out.c;
  }
  const dxs: Tensor[] = [];
  let dhNext: Tensor | undefined, dcNext: Tensor | undefined;
  for (let t = T - 1; t >= 0; t--) {
    const dh = sum(inputs.dH && stepOf(inputs.dH, t), dhNext);
    const dc = cell.hasCellState ? sum(inputs.dC && stepOf(inputs.dC, t), dcNext) : undefined;
    const g = mode === 'sync' ? cell.backward(tapes[t], { dh, dc }) : await cell.backwardAsync(tapes[t], { dh, dc });
    dxs[t] = g.dx;
    dhNext = g.dh0;
    dcNext = g.dc0;
  }
  const result: LoopResult = { h: stack(hs), dx: stack(dxs), dh0: dhNext!, dc0: dcNext };
  if (cs.length) result.c = stack(cs);
  return result;
}

function sum(a: Tensor | undefined, b: Tensor | undefined): Tensor | undefined {
  if (!a || !b) return a ?? b;
  return { data: a.data.map((v, i) => v + b.data[i]), shape: a.shape };
}

/** A layer's stateDict (one layer, one direction) under the cell's names: weight_ih_l0 -> weight_ih. */
export function cellStateOf(layerState: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(layerState).map(([name, t]) => [name.replace(/_l0$/, ''), t]));
}

/** Element-for-element equality of two Float32Arrays (bit patterns, so -0 and 0 differ). */
export function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.ok(actual instanceof Float32Array && expected instanceof Float32Array, what);
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) assert.fail(`${what}[${i}]: ${actual[i]} !== ${expected[i]}`);
  }
}
