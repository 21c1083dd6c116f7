// Maps a context vector [B, C] to a decoder's initial hidden state [L, B, H]:
// tanh(W c + b) through a learned Linear, or c itself when C == H and L == 1.
// What its backward needs travels in a BridgeTape that forward returns (the
// Linear keeps its own input, as layers do), so the bridge holds no state.

import { Linear } from '../layers/linear';
import type { ParameterModule } from '../layers/module';
import type { Tensor } from '../tensor';
import { linear, run, runAsync, type Inference } from './inference';
import { rowsToState, stateToRows, tanhBackward, tanhInPlace } from './tensor-ops';

/** What backward needs from one training forward. */
export interface BridgeTape {
  batch: number;
  /** tanh(W c + b) as rows [B, L*H]; null for the identity bridge. */
  output: Float32Array | null;
}

export class Bridge {
  readonly linear: Linear | null;

  constructor(readonly contextSize: number, readonly layers: number, readonly hiddenSize: number, seed: number) {
    this.linear = contextSize === hiddenSize && layers === 1
      ? null
      : new Linear({ inFeatures: contextSize, outFeatures: layers * hiddenSize, seed });
  }

  modules(prefix: string): Array<[string, ParameterModule]> {
    return this.linear ? [[prefix, this.linear]] : [];
  }

  async forward(context: Float32Array, batch: number, training: boolean): Promise<{ h0: Tensor; tape: BridgeTape }> {
    return runAsync(this.initialState(context, batch, training));
  }

  /** h_0 [L, B, H] for contexts [B, C], and the tape of this pass (for backward when training). */
  *initialState(context: Float32Array, batch: number, training = false): Inference<{ h0: Tensor; tape: BridgeTape }> {
    const shape = [this.layers, batch, this.hiddenSize];
    if (!this.linear) return { h0: { data: context.slice(), shape }, tape: { batch, output: null } };
    const rows = (yield* run(linear(this.linear, { data: context, shape: [batch, this.contextSize] }, training))).data;
    tanhInPlace(rows);
    return { h0: { data: rowsToState(rows, this.layers, batch, this.hiddenSize), shape }, tape: { batch, output: rows } };
  }

  /** d(h0) [L, B, H] -> d(context) [B, C], through the forward that wrote `tape`. */
  async backward(tape: BridgeTape, dh0: Float32Array): Promise<Float32Array> {
    if (!this.linear) return dh0.slice();
    const dRows = tanhBackward(stateToRows(dh0, this.layers, tape.batch, this.hiddenSize), tape.output!);
    const dContext = await this.linear.backwardAsync({ data: dRows, shape: [tape.batch, this.layers * this.hiddenSize] });
    return dContext.data;
  }
}
