// Builds the RNN / GRU / LSTM layer a RecurrentSpec describes.

import { GRU } from '../layers/gru';
import { LSTM } from '../layers/lstm';
import type { Recurrent } from '../layers/recurrent';
import { RNN } from '../layers/rnn';
import type { RecurrentSpec } from './specs';

export function makeRecurrent(spec: RecurrentSpec, inputSize: number, seed: number): Recurrent {
  const options = {
    inputSize, hiddenSize: spec.hiddenSize, numLayers: spec.numLayers ?? 1, bidirectional: spec.bidirectional ?? false,
    dropout: spec.dropout ?? 0, seed,
  };
  switch (spec.cell) {
    case 'rnn': return new RNN({ ...options, nonlinearity: spec.nonlinearity ?? 'tanh' });
    case 'gru': return new GRU({ ...options, resetAfter: spec.resetAfter ?? true });
    case 'lstm': return new LSTM({ ...options, ...(spec.projSize ? { projSize: spec.projSize } : {}) });
  }
}
