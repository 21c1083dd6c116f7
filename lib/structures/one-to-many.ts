// 1 vs N: one input (a class id or a feature vector) drives a token sequence.
// conditioning 'first-step': the input enters once, as the initial state
// (through a learned bridge); 'every-step': it is concatenated to every
// step's input. The previous output token is fed back at each step (teacher
// forcing in training, the model's own choice at inference).

import { checkNumberInRange, checkObject, checkPositiveInteger, checkSeed, describe } from '../check';
import { shapeError, typeError, valueError } from '../errors';
import { Embedding } from '../layers/embedding';
import type { ParameterModule } from '../layers/module';
import { ConditionedDecoder } from './conditioned-decoder';
import { inBatchesByLength } from './batches-by-length';
import type { Hypothesis } from './decoding';
import { checkGenerateOptions, generateTokens, inputsPerBatch, type GenerateOptions } from './generation';
import { embed, run, type Inference } from './inference';
import { SequenceModel, type BatchResult, type TrainContext } from './sequence-model';
import { checkRecurrentSpec, checkTokenOutputSpec, type RecurrentSpec, type TokenOutputSpec } from './specs';
import { runDecoder, type DecoderSource } from './token-decoder';

export type ConditionSpec =
  | { type: 'class'; numClasses: number; embeddingSize: number }
  | { type: 'features'; size: number };

export interface OneToManyOptions {
  condition: ConditionSpec;
  conditioning: 'first-step' | 'every-step';
  recurrent: RecurrentSpec;
  output: TokenOutputSpec;
  /** Probability of feeding the model's own previous prediction while training (default 0). */
  scheduledSampling?: number;
  seed?: number;
}

export interface OneToManyExample {
  input: number | readonly number[];
  target: readonly number[];
}

export class OneToMany extends SequenceModel<OneToManyExample> {
  readonly kind = 'OneToMany';
  readonly conditionEmbedding: Embedding | null;
  /** @internal */
  readonly decoder: ConditionedDecoder;
  private readonly options: Required<OneToManyOptions>;
  private readonly output: Required<TokenOutputSpec>;

  constructor(options: OneToManyOptions) {
    const o = checkObject('OneToMany options', options);
    const condition = checkCondition(o.condition);
    if (o.conditioning !== 'first-step' && o.conditioning !== 'every-step') {
      throw valueError(`conditioning: expected 'first-step' or 'every-step', got ${describe(o.conditioning)}`);
    }
    const recurrent = checkRecurrentSpec('recurrent', o.recurrent);
    const output = checkTokenOutputSpec('output', o.output);
    const scheduledSampling = o.scheduledSampling === undefined ? 0 : checkNumberInRange('scheduledSampling', o.scheduledSampling, 0, 1);
    const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
    const conditionEmbedding = condition.type === 'class'
      ? new Embedding({ numEmbeddings: condition.numClasses, embeddingDim: condition.embeddingSize, seed: seed + 1 }) : null;
    const contextSize = condition.type === 'class' ? condition.embeddingSize : condition.size;
    const decoder = new ConditionedDecoder(output, recurrent, contextSize,
      o.conditioning === 'first-step' ? 'initial-state' : 'every-step', seed + 2);
    const modules: Array<[string, ParameterModule]> = conditionEmbedding ? [['condition', conditionEmbedding]] : [];
    super([...modules, ...decoder.modules('decoder')], seed);
    this.conditionEmbedding = conditionEmbedding;
    this.decoder = decoder;
    this.output = output;
    this.options = { condition, conditioning: o.conditioning, recurrent, output, scheduledSampling, seed };
  }

  config(): Record<string, unknown> {
    return { ...this.options };
  }

  exampleLength(example: OneToManyExample): number {
    return example.target.length;
  }

  checkExamples(data: readonly OneToManyExample[], name: string): void {
    if (!Array.isArray(data)) throw typeError(`${name}: expected an array of examples, got ${describe(data)}`);
    data.forEach((e, i) => {
      const ex = checkObject(`${name}[${i}]`, e);
      this.checkInput(`${name}[${i}].input`, ex.input);
      checkTokens(`${name}[${i}].target`, ex.target, this.output.vocabSize);
    });
  }

  /** A generated token sequence (end token excluded) and its log-probability, per input, in batches on the JS thread. */
  generate(inputs: ReadonlyArray<number | readonly number[]>, options: GenerateOptions = {}): Array<{ tokens: number[]; logProb: number }> {
    const o = this.checkGenerate(inputs, options);
    return this.infer(this.generateAll(inputs, o));
  }

  /** Same as generate, on native worker threads: the event loop stays free. Calls on one model queue. */
  async generateAsync(inputs: ReadonlyArray<number | readonly number[]>, options: GenerateOptions = {}): Promise<Array<{ tokens: number[]; logProb: number }>> {
    const o = this.checkGenerate(inputs, options);
    return this.inferAsync(() => this.generateAll(inputs, o));
  }

  private checkGenerate(inputs: ReadonlyArray<number | readonly number[]>, options: GenerateOptions): Required<GenerateOptions> {
    if (!Array.isArray(inputs)) throw typeError(`inputs: expected an array, got ${describe(inputs)}`);
    inputs.forEach((v, i) => this.checkInput(`inputs[${i}]`, v));
    return checkGenerateOptions(options);
  }

  private *generateAll(inputs: ReadonlyArray<number | readonly number[]>, o: Required<GenerateOptions>): Inference<Hypothesis[]> {
    // Every input starts alike, so batches follow the input order.
    return yield* inBatchesByLength(inputs, () => 0, inputsPerBatch(o), (batch, indices) => this.generateBatch(batch, indices, o));
  }

  private *generateBatch(batch: Array<number | readonly number[]>, indices: number[], o: Required<GenerateOptions>): Inference<Hypothesis[]> {
    const B = batch.length;
    const context = this.conditionEmbedding
      ? (yield* run(embed(this.conditionEmbedding, Int32Array.from(batch as number[]), [B]))).data
      : Float32Array.from((batch as number[][]).flat());
    const state = yield* this.decoder.start({ batch: B, context });
    return yield* generateTokens(this.decoder.stepper, state, B, this.output, o, indices);
  }

  protected async runBatch(batch: OneToManyExample[], training: boolean, context: TrainContext | null): Promise<BatchResult> {
    const B = batch.length;
    const conditionIds = this.conditionEmbedding ? Int32Array.from(batch, (e) => e.input as number) : null;
    const contextData = conditionIds
      ? (await this.conditionEmbedding!.forwardAsync(conditionIds, [B], { training })).data
      : Float32Array.from(batch.flatMap((e) => e.input as number[]));
    const source: DecoderSource = { batch: B, context: contextData };
    const r = await runDecoder(this.decoder, source, batch.map((e) => e.target), this.output, {
      training, random: context?.random, scheduledSampling: this.options.scheduledSampling,
    });
    if (training && this.conditionEmbedding) {
      await this.conditionEmbedding.backwardAsync({ data: r.grads!.dContext, shape: [B, this.decoder.contextSize] });
    }
    return { loss: r.loss, count: r.count };
  }

  private checkInput(name: string, value: unknown): void {
    const c = this.options.condition;
    if (c.type === 'class') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= c.numClasses) {
        throw valueError(`${name}: expected a class id in [0, ${c.numClasses}), got ${describe(value)}`);
      }
      return;
    }
    if (!Array.isArray(value)) throw typeError(`${name}: expected an array of ${c.size} numbers, got ${describe(value)}`);
    if (value.length !== c.size) throw shapeError(`${name}: expected ${c.size} features, got ${value.length}`);
    value.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw valueError(`${name}[${j}]: expected a finite number, got ${describe(v)}`);
    });
  }
}

function checkCondition(value: unknown): ConditionSpec {
  const o = checkObject('condition', value);
  if (o.type === 'class') {
    return { type: 'class', numClasses: checkPositiveInteger('condition.numClasses', o.numClasses),
      embeddingSize: checkPositiveInteger('condition.embeddingSize', o.embeddingSize) };
  }
  if (o.type === 'features') return { type: 'features', size: checkPositiveInteger('condition.size', o.size) };
  throw valueError(`condition.type: expected 'class' or 'features', got ${describe(o.type)}`);
}

/** A non-empty array of token ids in [0, vocabSize). */
export function checkTokens(name: string, value: unknown, vocabSize: number): void {
  if (!Array.isArray(value)) throw typeError(`${name}: expected an array of token ids, got ${describe(value)}`);
  value.forEach((id, t) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw valueError(`${name}[${t}]: expected a token id in [0, ${vocabSize}), got ${describe(id)}`);
    }
  });
}
