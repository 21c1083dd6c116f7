// A recurrent decoder of tokens conditioned on one context vector per
// sequence (no attention): `initial-state` starts it from a bridge of the
// context, `every-step` concatenates the context to every step's input.
// Its input at step t is the embedding of token t-1 (back projection).

import { dropoutBackward, dropoutForward, DropoutStream } from '../layers/dropout';
import { Embedding } from '../layers/embedding';
import { Linear } from '../layers/linear';
import type { ParameterModule } from '../layers/module';
import type { Recurrent } from '../layers/recurrent';
import type { Random } from '../random';
import type { Tensor } from '../tensor';
import { Bridge } from './bridge';
import type { StepDecoder, Stepped } from './decoding';
import { embed, linear, logProbabilities, recurrent, run, type Inference } from './inference';
import { makeRecurrent } from './recurrent-factory';
import type { RecurrentSpec, TokenOutputSpec } from './specs';
import { broadcastSteps, concatLast, selectBatch, splitLast, sumSteps } from './tensor-ops';
import type { DecoderDropout, DecoderSource, DecoderTape, TokenDecoder } from './token-decoder';

export type Conditioning = 'initial-state' | 'every-step';

export interface ConditionedState {
  h: Tensor;
  c?: Tensor;
  context: Tensor;  // [B, C]
}

export class ConditionedDecoder implements TokenDecoder<ConditionedState> {
  readonly embedding: Embedding;
  readonly rnn: Recurrent;
  readonly bridge: Bridge | null;
  readonly head: Linear;
  readonly stepper: StepDecoder<ConditionedState>;

  constructor(readonly output: Required<TokenOutputSpec>, recurrent: RecurrentSpec, readonly contextSize: number,
    readonly conditioning: Conditioning, seed: number, readonly dropout: DecoderDropout = { embedding: 0, headInput: 0 }) {
    this.embedding = new Embedding({ numEmbeddings: output.vocabSize, embeddingDim: output.embeddingSize, seed });
    const inputSize = output.embeddingSize + (conditioning === 'every-step' ? contextSize : 0);
    this.rnn = makeRecurrent({ ...recurrent, bidirectional: false }, inputSize, seed + 1);
    this.bridge = conditioning === 'initial-state'
      ? new Bridge(contextSize, this.rnn.numLayers, this.rnn.hiddenStateSize, seed + 2) : null;
    this.head = new Linear({ inFeatures: this.rnn.hiddenStateSize, outFeatures: output.vocabSize, seed: seed + 3 });
    this.stepper = {
      vocabSize: output.vocabSize,
      step: (tokens, state) => this.step(tokens, state),
      select: (state, rows) => ({
        h: selectBatch(state.h, rows), c: state.c && selectBatch(state.c, rows), context: selectBatch(state.context, rows),
      }),
      reorder: (state, rows) => ({ h: selectBatch(state.h, rows), c: state.c && selectBatch(state.c, rows), context: state.context }),
    };
  }

  get vocabSize(): number {
    return this.output.vocabSize;
  }

  modules(prefix: string): Array<[string, ParameterModule]> {
    return [[`${prefix}.embedding`, this.embedding], [`${prefix}.rnn`, this.rnn],
      ...(this.bridge ? this.bridge.modules(`${prefix}.bridge`) : []), [`${prefix}.head`, this.head]];
  }

  async forward(source: DecoderSource, inputs: Int32Array, lengths: Int32Array, steps: number,
    options: { training: boolean; random?: Random }): Promise<{ logits: Tensor; tape: DecoderTape }> {
    const B = source.batch;
    const embedded = await this.embedding.forwardAsync(inputs, [steps, B], options);
    const dropped = await dropoutForward('target embedding dropout', embedded.data, this.dropout.embedding, DropoutStream.targetEmbedding, options);
    const x = await this.stepInputs({ data: dropped.y, shape: embedded.shape }, source.context, steps, B);
    const bridged = this.bridge ? await this.bridge.forward(source.context, B, options.training) : null;
    const dropoutSeed = options.training && options.random ? options.random.nextSafeInteger() : undefined;
    const out = await this.rnn.forwardAsync(x, { lengths, h0: bridged?.h0, training: options.training, dropoutSeed });
    const read = await dropoutForward('head input dropout', out.output.data, this.dropout.headInput, DropoutStream.headInput, options);
    return {
      logits: await this.head.forwardAsync({ data: read.y, shape: out.output.shape }, options),
      tape: { batch: B, bridge: bridged?.tape ?? null, dropout: { embedding: dropped.tape, headInput: read.tape } },
    };
  }

  async backward(tape: DecoderTape, dLogits: Tensor): Promise<{ dContext: Float32Array }> {
    const dOutput = await this.head.backwardAsync(dLogits);
    await dropoutBackward(dOutput.data, tape.dropout.headInput);
    const g = await this.rnn.backwardAsync({ dOutput });
    let dContext: Float32Array = new Float32Array(tape.batch * this.contextSize);
    let dEmbedded = g.dx;
    if (this.conditioning === 'every-step') {
      const [dEmb, dCtx] = splitLast(g.dx, this.output.embeddingSize);
      dEmbedded = dEmb;
      dContext = sumSteps(dCtx);
    }
    await dropoutBackward(dEmbedded.data, tape.dropout.embedding);
    await this.embedding.backwardAsync(dEmbedded);
    if (this.bridge && tape.bridge) {
      const fromState = await this.bridge.backward(tape.bridge, g.dh0.data);
      for (let i = 0; i < dContext.length; i++) dContext[i] += fromState[i];
    }
    return { dContext };
  }

  *start(source: DecoderSource): Inference<ConditionedState> {
    const B = source.batch, L = this.rnn.numLayers, H = this.rnn.hiddenSize, W = this.rnn.hiddenStateSize;
    const zeros = (width: number): Tensor => ({ data: new Float32Array(L * B * width), shape: [L, B, width] });
    return {
      h: this.bridge ? (yield* this.bridge.initialState(source.context, B)).h0 : zeros(W),
      c: this.rnn.hasCellState ? zeros(H) : undefined,
      context: { data: source.context, shape: [B, this.contextSize] },
    };
  }

  private *step(tokens: Int32Array, state: ConditionedState): Inference<Stepped<ConditionedState>> {
    const B = tokens.length;
    const emb = yield* run(embed(this.embedding, tokens, [1, B]));
    const x = this.conditioning === 'every-step' ? concatLast(emb, { data: state.context.data, shape: [1, B, this.contextSize] }) : emb;
    const out = yield* run(recurrent(this.rnn, x, { h0: state.h, c0: state.c }));
    const logits = yield* run(linear(this.head, out.output));
    const logProbs = yield* run(logProbabilities(logits));
    return { logProbs: logProbs.data, state: { h: out.hN, c: out.cN, context: state.context } };
  }

  private async stepInputs(embedded: Tensor, context: Float32Array, steps: number, batch: number): Promise<Tensor> {
    if (this.conditioning !== 'every-step') return embedded;
    return concatLast(embedded, broadcastSteps(context, steps, batch, this.contextSize));
  }
}
