// N vs M: an encoder reads the source, a decoder writes the target token by
// token. Without attention the encoder's context c conditions the decoder:
// `initial-state` (c through a bridge is h_0) or `every-step` (c is
// concatenated to each decoder input). With attention ('bahdanau',
// 'luong-dot', 'luong-general') each step reads its own context c_i from all
// encoder outputs, and the decoder starts from a bridge of c.

import { checkNumberInRange, checkObject, checkPositiveInteger, checkSeed, describe } from '../check';
import { shapeError, typeError, valueError } from '../errors';
import type { AttentionKind } from '../layers/attention-decoder';
import { checkStructureDropout, dropoutBackward, dropoutConfig, dropoutForward, DropoutStream, type StructureDropout } from '../layers/dropout';
import { AttentiveDecoder } from './attentive-decoder';
import { ConditionedDecoder } from './conditioned-decoder';
import { Encoder } from './encoder';
import { inBatchesByLength } from './batches-by-length';
import { checkGenerateOptions, generateTokens, inputsPerBatch, type GenerateOptions } from './generation';
import type { Inference } from './inference';
import { checkTokens } from './one-to-many';
import type { SequenceData } from './sequence-input';
import { SequenceModel, type BatchResult, type TrainContext } from './sequence-model';
import { checkInputSpec, checkRecurrentSpec, checkTokenOutputSpec, type InputSpec, type RecurrentSpec, type TokenOutputSpec } from './specs';
import type { DecoderSource, TokenDecoder } from './token-decoder';
import { runDecoder } from './token-decoder';

export interface EncoderDecoderOptions {
  input: InputSpec;
  encoder: RecurrentSpec;
  decoder: Omit<RecurrentSpec, 'bidirectional'>;
  output: TokenOutputSpec;
  /** Without attention: how the context conditions the decoder (default 'initial-state'). */
  context?: 'initial-state' | 'every-step';
  attention?: 'none' | AttentionKind;
  /** Bahdanau's hidden size (default decoder.hiddenSize). */
  attentionSize?: number;
  scheduledSampling?: number;
  /**
   * Dropout outside the recurrent stacks, in training only (between stacked layers it is
   * encoder.dropout / decoder.dropout): on the token embeddings of both sides, on the encoder's outputs
   * (the memory attention reads and the context the decoder starts from), and on the head's input.
   */
  dropout?: StructureDropout;
  seed?: number;
}

export interface EncoderDecoderExample {
  input: SequenceData;
  target: readonly number[];
}

export interface Translation {
  tokens: number[];
  logProb: number;
  /** With attention, when asked: weights [output step (end step included)][source step]. */
  attention?: number[][];
}

export interface PredictOptions extends GenerateOptions {
  /** Return attention weights (attention models; default true for greedy decoding, false otherwise). */
  attention?: boolean;
}

const ATTENTION = ['none', 'bahdanau', 'luong-dot', 'luong-general'];

export class EncoderDecoder extends SequenceModel<EncoderDecoderExample> {
  readonly kind = 'EncoderDecoder';
  /** @internal */
  readonly encoder: Encoder;
  /** @internal */
  readonly decoder: TokenDecoder<unknown>;
  private readonly options: Required<Omit<EncoderDecoderOptions, 'attentionSize' | 'dropout'>> & { attentionSize?: number; dropout?: StructureDropout };
  private readonly dropout: Required<StructureDropout>;
  private readonly output: Required<TokenOutputSpec>;

  constructor(options: EncoderDecoderOptions) {
    const o = checkObject('EncoderDecoder options', options);
    const input = checkInputSpec('input', o.input);
    const encoderSpec = checkRecurrentSpec('encoder', o.encoder);
    const decoderObject = checkObject('decoder', o.decoder);
    if (decoderObject.bidirectional !== undefined && decoderObject.bidirectional !== false) {
      throw valueError(`decoder.bidirectional: a decoder generates left to right, so it cannot be bidirectional, got ${describe(decoderObject.bidirectional)}`);
    }
    const decoderSpec = checkRecurrentSpec('decoder', { ...decoderObject, bidirectional: false });
    const output = checkTokenOutputSpec('output', o.output);
    const context = o.context ?? 'initial-state';
    if (context !== 'initial-state' && context !== 'every-step') {
      throw valueError(`context: expected 'initial-state' or 'every-step', got ${describe(context)}`);
    }
    const attention = o.attention ?? 'none';
    if (typeof attention !== 'string' || !ATTENTION.includes(attention)) {
      throw valueError(`attention: expected one of ${ATTENTION.join(', ')}, got ${describe(attention)}`);
    }
    const attentionSize = o.attentionSize === undefined ? undefined : checkPositiveInteger('attentionSize', o.attentionSize);
    const scheduledSampling = o.scheduledSampling === undefined ? 0 : checkNumberInRange('scheduledSampling', o.scheduledSampling, 0, 1);
    const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
    const dropout = checkStructureDropout('dropout', o.dropout);
    if (attention !== 'none' && decoderSpec.resetAfter === false) {
      throw valueError("decoder.resetAfter: the attention decoder's GRU is PyTorch's (reset after W_hn); " +
        "resetAfter false needs attention 'none'");
    }
    if (attention !== 'none' && (decoderSpec.numLayers ?? 1) !== 1) {
      throw valueError(`decoder.numLayers: the attention decoder has one layer, got ${decoderSpec.numLayers}`);
    }
    if (attention !== 'none' && decoderSpec.projSize !== undefined) {
      throw valueError(`decoder.projSize: the attention decoder's LSTM has no projection; projSize needs attention 'none', ` +
        `got attention '${attention}'`);
    }
    const encoderUnits = encoderSpec.projSize ?? encoderSpec.hiddenSize;
    const encoderSize = encoderUnits * (encoderSpec.bidirectional ? 2 : 1);
    if (attention === 'luong-dot' && decoderSpec.hiddenSize !== encoderSize) {
      const which = encoderSpec.projSize !== undefined ? 'projSize' : 'hiddenSize';
      throw shapeError(`decoder.hiddenSize: attention 'luong-dot' scores s.h_j, so it must equal the encoder's output size ` +
        `(encoder.${which} ${encoderUnits}${encoderSpec.bidirectional ? ' x 2 directions' : ''} = ${encoderSize}), got ${decoderSpec.hiddenSize}`);
    }
    const encoder = new Encoder(input, encoderSpec, seed, dropout.embedding);
    const decoderDropout = { embedding: dropout.embedding, headInput: dropout.headInput };
    const decoder: TokenDecoder<unknown> = attention === 'none'
      ? new ConditionedDecoder(output, decoderSpec, encoder.outputSize, context, seed + 100, decoderDropout) as TokenDecoder<unknown>
      : new AttentiveDecoder(output, decoderSpec, encoder.outputSize, encoder.outputSize, attention as AttentionKind,
        attentionSize, seed + 100, decoderDropout) as TokenDecoder<unknown>;
    super([...encoder.modules('encoder'), ...decoder.modules('decoder')], seed);
    this.encoder = encoder;
    this.decoder = decoder;
    this.output = output;
    this.dropout = dropout;
    this.options = { input, encoder: encoderSpec, decoder: decoderSpec, output, context, attention: attention as EncoderDecoderOptions['attention'] & string,
      attentionSize, scheduledSampling, seed, ...(dropoutConfig(dropout) ? { dropout: dropoutConfig(dropout) } : {}) };
  }

  config(): Record<string, unknown> {
    return { ...this.options };
  }

  exampleLength(example: EncoderDecoderExample): number {
    return example.input.length + example.target.length;
  }

  checkExamples(data: readonly EncoderDecoderExample[], name: string): void {
    if (!Array.isArray(data)) throw typeError(`${name}: expected an array of examples, got ${describe(data)}`);
    data.forEach((e, i) => {
      const ex = checkObject(`${name}[${i}]`, e);
      this.encoder.input.check(`${name}[${i}].input`, ex.input);
      checkTokens(`${name}[${i}].target`, ex.target, this.output.vocabSize);
    });
  }

  /**
   * Output sequences for source sequences (greedy by default; 'sample' or 'beam'), decoded in batches
   * of similar lengths on the JS thread. With attention, `attention: true` (the default for greedy
   * decoding) also returns each output step's weights over the source.
   */
  predict(inputs: readonly SequenceData[], options: PredictOptions = {}): Translation[] {
    const o = this.checkPredict(inputs, options);
    return this.infer(this.translate(inputs, o));
  }

  /** Same as predict, on native worker threads: the event loop stays free. Calls on one model queue. */
  async predictAsync(inputs: readonly SequenceData[], options: PredictOptions = {}): Promise<Translation[]> {
    const o = this.checkPredict(inputs, options);
    return this.inferAsync(() => this.translate(inputs, o));
  }

  private checkPredict(inputs: readonly SequenceData[], options: PredictOptions) {
    if (!Array.isArray(inputs)) throw typeError(`inputs: expected an array of sequences, got ${describe(inputs)}`);
    inputs.forEach((seq, i) => this.encoder.input.check(`inputs[${i}]`, seq));
    const o = checkGenerateOptions(options);
    const asked = (options ?? {}).attention;
    if (asked !== undefined && typeof asked !== 'boolean') throw typeError(`attention: expected a boolean, got ${describe(asked)}`);
    if (asked && this.options.attention === 'none') throw valueError('attention: this model decodes without attention, so it has no weights to return');
    return { ...o, attention: asked ?? (o.strategy === 'greedy' && this.options.attention !== 'none') };
  }

  private *translate(inputs: readonly SequenceData[], o: Required<GenerateOptions> & { attention: boolean }): Inference<Translation[]> {
    return yield* inBatchesByLength(inputs, (seq) => seq.length, inputsPerBatch(o), (batch, indices) => this.translateBatch(batch, indices, o));
  }

  private *translateBatch(batch: SequenceData[], indices: number[], o: Required<GenerateOptions> & { attention: boolean }): Inference<Translation[]> {
    const enc = yield* this.encoder.encode(batch, { training: false });
    const state = yield* this.decoder.start({ batch: enc.batch, context: enc.context, memory: enc.memory, sourceLengths: enc.lengths });
    return yield* generateTokens(this.decoder.stepper, state, enc.batch, this.output, o, indices);
  }

  protected async runBatch(batch: EncoderDecoderExample[], training: boolean, context: TrainContext | null): Promise<BatchResult> {
    const random = { training, random: context?.random };
    const enc = await this.encoder.forward(batch.map((e) => e.input), random);
    // The encoder-output dropout: on the memory where attention reads it, and on the context.
    const p = this.dropout.encoderOutput, attends = this.options.attention !== 'none';
    const memory = attends ? await dropoutForward('memory dropout', enc.memory.data, p, DropoutStream.memory, random) : null;
    const contextIn = await dropoutForward('context dropout', enc.context, p, DropoutStream.context, random);
    const source: DecoderSource = {
      batch: enc.batch, context: contextIn.y, sourceLengths: enc.lengths,
      memory: memory ? { data: memory.y, shape: enc.memory.shape } : enc.memory,
    };
    const r = await runDecoder(this.decoder, source, batch.map((e) => e.target), this.output, {
      ...random, scheduledSampling: this.options.scheduledSampling,
    });
    if (training) {
      const { dMemory, dContext } = r.grads!;
      if (dMemory && memory) await dropoutBackward(dMemory.data, memory.tape);
      await dropoutBackward(dContext, contextIn.tape);
      await this.encoder.backward({ dMemory, dContext, inputDropout: enc.inputDropout });
    }
    return { loss: r.loss, count: r.count };
  }
}
