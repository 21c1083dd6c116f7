// LSTM cell, one step with PyTorch's gates [i, f, g, o] (nn.LSTMCell): takes and returns the cell state c too.

import { NativeCell } from '../native';
import { RecurrentCell, type RecurrentCellOptions } from './recurrent-cell';

export class LSTMCell extends RecurrentCell {
  constructor(options: RecurrentCellOptions) {
    super(NativeCell.Lstm, options, 'LSTMCell');
  }
}
