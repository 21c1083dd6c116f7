// Elman RNN layer, h' = f(W_ih x + b_ih + W_hh h + b_hh), f = tanh or relu (PyTorch's nn.RNN).

import { describe } from '../check';
import { valueError } from '../errors';
import { NativeCell } from '../native';
import type { DType } from '../tensor';
import { Recurrent, type RecurrentOptions } from './recurrent';

export interface RNNOptions<D extends DType = 'float32'> extends RecurrentOptions<D> {
  nonlinearity?: 'tanh' | 'relu';
}

export class RNN<D extends DType = 'float32'> extends Recurrent<D> {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(options: RNNOptions<D>) {
    const nonlinearity = options?.nonlinearity ?? 'tanh';
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
      throw valueError(`nonlinearity: expected 'tanh' or 'relu', got ${describe(nonlinearity)}`);
    }
    super(nonlinearity === 'relu' ? NativeCell.RnnRelu : NativeCell.RnnTanh, options, 'RNN');
    this.nonlinearity = nonlinearity;
  }
}
