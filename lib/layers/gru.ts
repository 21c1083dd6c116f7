// GRU layer with PyTorch's gates [r, z, n] and b_hn inside r * (W_hn h + b_hn) (nn.GRU), or with
// resetAfter: false Keras's reset_after=False GRU (tfjs's): n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).

import { NativeCell } from '../native';
import type { DType } from '../tensor';
import { gruCell } from './cell-kind';
import { Recurrent, type RecurrentOptions } from './recurrent';

export interface GRUOptions<D extends DType = 'float32'> extends RecurrentOptions<D> {
  /**
   * true (default): the reset gate multiplies W_hn h + b_hn, as PyTorch (and Keras reset_after=True).
   * false: it multiplies h before W_hn, as Keras reset_after=False and TensorFlow.js. Same parameters either way.
   */
  resetAfter?: boolean;
}

export class GRU<D extends DType = 'float32'> extends Recurrent<D> {
  readonly resetAfter: boolean;

  constructor(options: GRUOptions<D>) {
    const cell = gruCell('resetAfter', (options as GRUOptions<D> | undefined)?.resetAfter);
    super(cell, options, 'GRU');
    this.resetAfter = cell === NativeCell.Gru;
  }
}
