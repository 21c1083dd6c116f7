// The recurrent layer kinds the layer tests run every check over, and their
// seeded input tensors.

import { GRU, LSTM, RNN, type Recurrent, type RecurrentOptions, type Tensor } from '../../lib';
import { randomArray } from './random-array';

export interface RecurrentKind {
  name: string;
  /** Has a cell state (c0, cN, dcN). */
  lstm: boolean;
  /** Gates per hidden unit: the rows of weight_ih are gates * hiddenSize. */
  gates: number;
  make(options: RecurrentOptions): Recurrent;
}

export const RECURRENT_KINDS: readonly RecurrentKind[] = [
  { name: 'RNN (tanh)', lstm: false, gates: 1, make: (o) => new RNN({ nonlinearity: 'tanh', ...o }) },
  { name: 'RNN (relu)', lstm: false, gates: 1, make: (o) => new RNN({ nonlinearity: 'relu', ...o }) },
  { name: 'GRU', lstm: false, gates: 3, make: (o) => new GRU(o) },
  { name: 'LSTM', lstm: true, gates: 4, make: (o) => new LSTM(o) },
];

/** A tensor of `shape` with values in [-scale, scale) from `seed`. */
export function seededTensor(shape: number[], seed: number, scale = 1): Tensor {
  return { data: randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), shape };
}
