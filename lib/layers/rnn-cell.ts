// Elman RNN cell, one step h' = f(W_ih x + b_ih + W_hh h + b_hh), f = tanh or relu (PyTorch's nn.RNNCell).

import { describe } from '../check';
import { valueError } from '../errors';
import { NativeCell } from '../native';
import { RecurrentCell, type RecurrentCellOptions } from './recurrent-cell';

export interface RNNCellOptions extends RecurrentCellOptions {
  nonlinearity?: 'tanh' | 'relu';
}

export class RNNCell extends RecurrentCell {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(options: RNNCellOptions) {
    const nonlinearity = options?.nonlinearity ?? 'tanh';
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
      throw valueError(`nonlinearity: expected 'tanh' or 'relu', got ${describe(nonlinearity)}`);
    }
    super(nonlinearity === 'relu' ? NativeCell.RnnRelu : NativeCell.RnnTanh, options, 'RNNCell');
    this.nonlinearity = nonlinearity;
  }
}
