// LSTM layer with PyTorch's gates [i, f, g, o] (nn.LSTM); forward also returns the cell state cN.
// projSize (PyTorch's proj_size) adds h = W_hr (o * tanh(c)), weight_hr_l{k} [projSize, hiddenSize].

import { NativeCell } from '../native';
import type { DType } from '../tensor';
import { Recurrent, type RecurrentOptions } from './recurrent';

export interface LSTMOptions<D extends DType = 'float32'> extends RecurrentOptions<D> {
  /**
   * PyTorch's proj_size: h_t = W_hr (o_t * tanh(c_t)) with W_hr [projSize, hiddenSize] (weight_hr_l{k},
   * weight_hr_l{k}_reverse), so h, hN and each direction's output have projSize units; c and cN keep
   * hiddenSize; weight_hh_l{k} is [4*hiddenSize, projSize] and later layers take D*projSize inputs.
   * An integer in [1, hiddenSize); 0 or absent: no projection.
   */
  projSize?: number;
}

export class LSTM<D extends DType = 'float32'> extends Recurrent<D> {
  constructor(options: LSTMOptions<D>) {
    super(NativeCell.Lstm, options, 'LSTM');
  }
}
