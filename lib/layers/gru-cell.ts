// GRU cell, one step with PyTorch's gates [r, z, n] and b_hn inside r * (W_hn h + b_hn) (nn.GRUCell),
// or with resetAfter: false the reset gate on h before W_hn (Keras reset_after=False), as the GRU layer.

import { NativeCell } from '../native';
import { gruCell } from './cell-kind';
import { RecurrentCell, type RecurrentCellOptions } from './recurrent-cell';

export interface GRUCellOptions extends RecurrentCellOptions {
  /** As the GRU layer's: false puts the reset gate before W_hn (default true, PyTorch's). */
  resetAfter?: boolean;
}

export class GRUCell extends RecurrentCell {
  readonly resetAfter: boolean;

  constructor(options: GRUCellOptions) {
    const cell = gruCell('resetAfter', (options as GRUCellOptions | undefined)?.resetAfter);
    super(cell, options, 'GRUCell');
    this.resetAfter = cell === NativeCell.Gru;
  }
}
