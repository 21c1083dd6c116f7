// A decoder of tokens with attention over the encoder's memory: embedding of
// token t-1 -> AttentionDecoder (one native call for all steps) -> head over
// [s_t ; c_t]. Starts from a bridge of the encoder's context.

import { AttentionDecoder, type AttentionKind } from '../layers/attention-decoder';
import { dropoutBackward, dropoutForward, DropoutStream } from '../layers/dropout';
import { Embedding } from '../layers/embedding';
import { Linear } from '../layers/linear';
import type { ParameterModule } from '../layers/module';
import type { Random } from '../random';
import type { Tensor } from '../tensor';
import { Bridge } from './bridge';
import type { StepDecoder, Stepped } from './decoding';
import { attentionStep, embed, linear, logProbabilities, run, type Inference } from './inference';
import type { RecurrentSpec, TokenOutputSpec } from './specs';
import { selectBatch } from './tensor-ops';
import type { DecoderDropout, DecoderSource, DecoderTape, TokenDecoder } from './token-decoder';

export interface AttentiveState {
  h: Tensor;  // [1, B, H]
  c?: Tensor;
  memory: Tensor;  // [N, S, E]: one row per input
  /** [B]: the memory row (input) each state row decodes. */
  sourceRows: Int32Array;
  sourceLengths: Int32Array;  // [B], per state row
}

export class AttentiveDecoder implements TokenDecoder<AttentiveState> {
  readonly embedding: Embedding;
  readonly decoder: AttentionDecoder;
  readonly bridge: Bridge;
  readonly head: Linear;
  readonly stepper: StepDecoder<AttentiveState>;

  constructor(readonly output: Required<TokenOutputSpec>, recurrent: RecurrentSpec, readonly memorySize: number,
    readonly contextSize: number, attention: AttentionKind, attentionSize: number | undefined, seed: number,
    readonly dropout: DecoderDropout = { embedding: 0, headInput: 0 }) {
    this.embedding = new Embedding({ numEmbeddings: output.vocabSize, embeddingDim: output.embeddingSize, seed });
    this.decoder = new AttentionDecoder({
      cell: recurrent.cell, nonlinearity: recurrent.nonlinearity, inputSize: output.embeddingSize, memorySize,
      hiddenSize: recurrent.hiddenSize, attention, attentionSize, seed: seed + 1,
    });
    this.bridge = new Bridge(contextSize, 1, recurrent.hiddenSize, seed + 2);
    this.head = new Linear({ inFeatures: recurrent.hiddenSize + memorySize, outFeatures: output.vocabSize, seed: seed + 3 });
    this.stepper = {
      vocabSize: output.vocabSize,
      step: (tokens, state) => this.step(tokens, state),
      // Rows map onto the memory (sourceRows) rather than copy it: beams of one input read one copy, and
      // the same memory object keeps its keys in the layer's workspace for the next step.
      select: (state, rows) => ({
        h: selectBatch(state.h, rows), c: state.c && selectBatch(state.c, rows), memory: state.memory,
        sourceRows: Int32Array.from(rows, (r) => state.sourceRows[r]),
        sourceLengths: Int32Array.from(rows, (r) => state.sourceLengths[r]),
      }),
      reorder: (state, rows) => ({
        h: selectBatch(state.h, rows), c: state.c && selectBatch(state.c, rows), memory: state.memory,
        sourceRows: state.sourceRows, sourceLengths: state.sourceLengths,
      }),
    };
  }

  get vocabSize(): number {
    return this.output.vocabSize;
  }

  modules(prefix: string): Array<[string, ParameterModule]> {
    return [[`${prefix}.embedding`, this.embedding], [`${prefix}.attention_rnn`, this.decoder],
      ...this.bridge.modules(`${prefix}.bridge`), [`${prefix}.head`, this.head]];
  }

  async forward(source: DecoderSource, inputs: Int32Array, lengths: Int32Array, steps: number,
    options: { training: boolean; random?: Random }): Promise<{ logits: Tensor; tape: DecoderTape }> {
    const B = source.batch;
    const embedded = await this.embedding.forwardAsync(inputs, [steps, B], options);
    const x = await dropoutForward('target embedding dropout', embedded.data, this.dropout.embedding, DropoutStream.targetEmbedding, options);
    const bridged = await this.bridge.forward(source.context, B, options.training);
    const out = await this.decoder.forwardAsync({ data: x.y, shape: embedded.shape }, source.memory!, {
      sourceLengths: source.sourceLengths, targetLengths: lengths, h0: bridged.h0, training: options.training,
    });
    const read = await dropoutForward('head input dropout', out.output.data, this.dropout.headInput, DropoutStream.headInput, options);
    return {
      logits: await this.head.forwardAsync({ data: read.y, shape: out.output.shape }, options),
      tape: { batch: B, bridge: bridged.tape, dropout: { embedding: x.tape, headInput: read.tape } },
    };
  }

  async backward(tape: DecoderTape, dLogits: Tensor): Promise<{ dContext: Float32Array; dMemory: Tensor }> {
    const dOutput = await this.head.backwardAsync(dLogits);
    await dropoutBackward(dOutput.data, tape.dropout.headInput);
    const g = await this.decoder.backwardAsync({ dOutput });
    await dropoutBackward(g.dx.data, tape.dropout.embedding);
    await this.embedding.backwardAsync(g.dx);
    const dContext = await this.bridge.backward(tape.bridge!, g.dh0.data);
    return { dContext, dMemory: g.dMemory };
  }

  *start(source: DecoderSource): Inference<AttentiveState> {
    const B = source.batch, H = this.decoder.hiddenSize;
    const memory = source.memory!;
    return {
      h: (yield* this.bridge.initialState(source.context, B)).h0,
      c: this.decoder.usesCellState ? { data: new Float32Array(B * H), shape: [1, B, H] } : undefined,
      memory,
      sourceRows: Int32Array.from({ length: B }, (_, b) => b),
      sourceLengths: source.sourceLengths ?? new Int32Array(B).fill(memory.shape[0]),
    };
  }

  private *step(tokens: Int32Array, state: AttentiveState): Inference<Stepped<AttentiveState>> {
    const B = tokens.length;
    const x = yield* run(embed(this.embedding, tokens, [1, B]));
    // The keys W_k h_j + b of a memory are the same at every step: computed once per decoding, not per step.
    const reuseKeys = this.decoder.hasKeysFor(state.memory);
    const out = yield* run(attentionStep(this.decoder, x, state.memory, { h: state.h, c: state.c },
      { sourceLengths: state.sourceLengths, sourceRows: state.sourceRows, reuseKeys }));
    const logits = yield* run(linear(this.head, out.output));
    const logProbs = yield* run(logProbabilities(logits));
    const N = state.memory.shape[0], weights = out.weights.data, lengths = state.sourceLengths;
    return {
      logProbs: logProbs.data,
      state: { h: out.hN, c: out.cN, memory: state.memory, sourceRows: state.sourceRows, sourceLengths: lengths },
      attentionOf: (row) => Array.from(weights.subarray(row * N, row * N + lengths[row])),
    };
  }
}
