// Maps a context vector [B, C] to a decoder's initial hidden state [L, B, H]:
// tanh(W c + b) through a learned Linear, or c itself when C == H and L == 1.

import { Linear } from '../layers/linear';
import type { ParameterModule } from '../layers/module';
import type { Tensor } from '../tensor';
import { linear, run, runAsync, type Inference } from './inference';
import { rowsToState, stateToRows, tanhBackward, tanhInPlace } from './tensor-ops';

export class Bridge {
  readonly linear: Linear | null;
  private output: Float32Array | null = null;

  constructor(readonly contextSize: number, readonly layers: number, readonly hiddenSize: number, seed: number) {
    this.linear = contextSize === hiddenSize && layers === 1
      ? null
      : new Linear({ inFeatures: contextSize, outFeatures: layers * hiddenSize, seed });
  }

  modules(prefix: string): Array<[string, ParameterModule]> {
    return this.linear ? [[prefix, this.linear]] : [];
  }

  async forward(context: Float32Array, batch: number, training: boolean): Promise<Tensor> {
    return runAsync(this.initialState(context, batch, training));
  }

  /** h_0 [L, B, H] for contexts [B, C] (training keeps what backward needs). */
  *initialState(context: Float32Array, batch: number, training = false): Inference<Tensor> {
    if (!this.linear) return this.finish(context.slice(), batch, false);
    const rows = yield* run(linear(this.linear, { data: context, shape: [batch, this.contextSize] }, training));
    return this.finish(rows.data, batch, training);
  }

  private finish(rows: Float32Array, batch: number, training: boolean): Tensor {
    const shape = [this.layers, batch, this.hiddenSize];
    if (!this.linear) return { data: rows, shape };
    tanhInPlace(rows);
    if (training) this.output = rows;
    return { data: rowsToState(rows, this.layers, batch, this.hiddenSize), shape };
  }

  /** d(h0) [L, B, H] -> d(context) [B, C]. */
  async backward(dh0: Float32Array, batch: number): Promise<Float32Array> {
    if (!this.linear) return dh0.slice();
    const dRows = tanhBackward(stateToRows(dh0, this.layers, batch, this.hiddenSize), this.output!);
    const dContext = await this.linear.backwardAsync({ data: dRows, shape: [batch, this.layers * this.hiddenSize] });
    return dContext.data;
  }
}
