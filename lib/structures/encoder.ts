// Reads input sequences with a recurrent stack. Gives the outputs of every
// step (the memory attention reads) and a context vector per sequence: the
// last layer's final state, both directions concatenated [B, D*H] (H: the
// stack's hiddenStateSize, projSize for a projected LSTM).

import { batchFloat32 } from '../layers/batch-scratch';
import type { DropoutTape } from '../layers/dropout';
import type { ParameterModule } from '../layers/module';
import type { Recurrent } from '../layers/recurrent';
import type { Random } from '../random';
import type { Tensor } from '../tensor';
import { recurrent, run, type Inference } from './inference';
import { makeRecurrent } from './recurrent-factory';
import { SequenceInput, type SequenceData } from './sequence-input';
import type { InputSpec, RecurrentSpec } from './specs';

export interface Encoded {
  /** [T, B, D*H], zeros at padded steps. */
  memory: Tensor;
  /** [B, D*H]: final states of the last layer, directions side by side. */
  context: Float32Array;
  lengths: Int32Array;
  steps: number;
  batch: number;
  /** Full final states [L*D, B, H] (and cells for LSTM), e.g. to continue a sequence. */
  hN: Tensor;
  cN?: Tensor;
  /** Training: what the embedding dropout dropped, for backward. */
  inputDropout?: DropoutTape | null;
}

export class Encoder {
  readonly input: SequenceInput;
  readonly rnn: Recurrent;

  constructor(input: InputSpec, recurrent: RecurrentSpec, seed: number, embeddingDropout = 0) {
    this.input = new SequenceInput(input, seed + 1, embeddingDropout);
    this.rnn = makeRecurrent(recurrent, this.input.size, seed + 2);
  }

  get outputSize(): number {
    return this.rnn.numDirections * this.rnn.hiddenStateSize;
  }

  modules(prefix: string): Array<[string, ParameterModule]> {
    return [...this.input.modules(prefix), [`${prefix}.rnn`, this.rnn]];
  }

  async forward(sequences: readonly SequenceData[], options: {
    training: boolean; random?: Random; h0?: Tensor; c0?: Tensor;
  }): Promise<Encoded> {
    const e = await this.input.forward(sequences, options);
    const dropoutSeed = options.training && options.random ? options.random.nextSafeInteger() : undefined;
    const out = await this.rnn.forwardAsync(e.x, {
      lengths: e.lengths, training: options.training, dropoutSeed, h0: options.h0, c0: options.c0,
    });
    return {
      memory: out.output, context: this.contextOf(out.hN, e.batch), lengths: e.lengths, steps: e.steps, batch: e.batch,
      hN: out.hN, cN: out.cN, inputDropout: e.dropout,
    };
  }

  /** Pads, embeds and runs the stack over a batch of sequences (inference, or a forward that needs no dropout). */
  *encode(sequences: readonly SequenceData[], options: {
    training: boolean; h0?: Tensor; c0?: Tensor;
  }): Inference<Encoded> {
    const { x, lengths, steps, batch } = yield* this.input.embed(sequences, options.training);
    const out = yield* run(recurrent(this.rnn, x, {
      lengths, training: options.training, h0: options.h0, c0: options.c0,
    }));
    return { memory: out.output, context: this.contextOf(out.hN, batch), lengths, steps, batch, hN: out.hN, cN: out.cN };
  }

  /** Gradients from the memory and/or the context back through the stack and the input. */
  async backward(grads: { dMemory?: Tensor; dContext?: Float32Array; inputDropout?: DropoutTape | null }): Promise<void> {
    const dhN = grads.dContext ? this.contextGradientToState(grads.dContext) : undefined;
    const { dx } = await this.rnn.backwardAsync({ dOutput: grads.dMemory, dhN });
    await this.input.backward(dx, grads.inputDropout ?? null);
  }

  private contextOf(hN: Tensor, batch: number): Float32Array {
    const D = this.rnn.numDirections, H = this.rnn.hiddenStateSize, last = (this.rnn.numLayers - 1) * D;
    const context = batchFloat32('context', batch * D * H);
    for (let d = 0; d < D; d++) {
      for (let b = 0; b < batch; b++) {
        context.set(hN.data.subarray(((last + d) * batch + b) * H, ((last + d) * batch + b + 1) * H), (b * D + d) * H);
      }
    }
    return context;
  }

  private contextGradientToState(dContext: Float32Array): Tensor {
    const D = this.rnn.numDirections, H = this.rnn.hiddenStateSize, L = this.rnn.numLayers;
    const batch = dContext.length / (D * H), last = (L - 1) * D;
    const dhN = batchFloat32('dhN', L * D * batch * H);
    for (let d = 0; d < D; d++) {
      for (let b = 0; b < batch; b++) {
        dhN.set(dContext.subarray((b * D + d) * H, (b * D + d + 1) * H), ((last + d) * batch + b) * H);
      }
    }
    return { data: dhN, shape: [L * D, batch, H] };
  }
}
