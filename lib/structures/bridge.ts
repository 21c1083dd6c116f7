// Maps a context vector [B, C] to a decoder's initial hidden state [L, B, H]:
// tanh(W c + b) through a learned Linear, or c itself when C == H and L == 1.

import { Linear } from '../layers/linear';
import type { ParameterModule } from '../layers/module';
import type { Tensor } from '../tensor';
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
    if (!this.linear) return this.finish(context.slice(), batch, false);
    const rows = await this.linear.forwardAsync({ data: context, shape: [batch, this.contextSize] }, { training });
    return this.finish(rows.data, batch, training);
  }

  /** Inference twin of forward, for step-by-step decoding. */
  forwardSync(context: Float32Array, batch: number): Tensor {
    if (!this.linear) return this.finish(context.slice(), batch, false);
    return this.finish(this.linear.forward({ data: context, shape: [batch, this.contextSize] }).data, batch, false);
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
