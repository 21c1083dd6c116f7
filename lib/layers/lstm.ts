// LSTM layer with PyTorch's gates [i, f, g, o] (nn.LSTM); forward also returns the cell state cN.

import { NativeCell } from '../native';
import { Recurrent, type RecurrentOptions } from './recurrent';

export class LSTM extends Recurrent {
  constructor(options: RecurrentOptions) {
    super(NativeCell.Lstm, options, 'LSTM');
  }
}
