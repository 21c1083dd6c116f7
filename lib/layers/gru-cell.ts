// GRU cell, one step with PyTorch's gates [r, z, n] and b_hn inside r * (W_hn h + b_hn) (nn.GRUCell).

import { NativeCell } from '../native';
import { RecurrentCell, type RecurrentCellOptions } from './recurrent-cell';

export class GRUCell extends RecurrentCell {
  constructor(options: RecurrentCellOptions) {
    super(NativeCell.Gru, options, 'GRUCell');
  }
}
