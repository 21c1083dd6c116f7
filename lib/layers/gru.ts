// GRU layer with PyTorch's gates [r, z, n] and b_hn inside r * (W_hn h + b_hn) (nn.GRU).

import { NativeCell } from '../native';
import { Recurrent, type RecurrentOptions } from './recurrent';

export class GRU extends Recurrent {
  constructor(options: RecurrentOptions) {
    super(NativeCell.Gru, options, 'GRU');
  }
}
