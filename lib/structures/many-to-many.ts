// N vs N: one output per input step, y_t = softmax(V h_t + c) over classes or
// a linear head for real values (tagging, language models, forecasting).
// Long sequences train with truncated BPTT: chunks of `truncation` steps,
// state carried, gradient cut at chunk boundaries. Token models can generate.

import { checkObject, checkPositiveInteger, checkSeed, describe } from '../check';
import { shapeError, typeError, valueError } from '../errors';
import { checkStructureDropout, dropoutBackward, dropoutConfig, dropoutForward, DropoutStream, type StructureDropout } from '../layers/dropout';
import { Linear } from '../layers/linear';
import type { Tensor } from '../tensor';
import { stepMask } from '../blocks/batching';
import { inBatchesByLength } from './batches-by-length';
import type { StepDecoder, Stepped } from './decoding';
import { Encoder } from './encoder';
import { checkBatchOptions, checkGenerateOptions, generateTokens, type BatchOptions, type GenerateOptions } from './generation';
import { embed, linear, logProbabilities, recurrent, run, type Inference } from './inference';
import { argmaxRows, classObjective, realObjective } from './objectives';
import type { SequenceData } from './sequence-input';
import { SequenceModel, type BatchResult, type TrainContext } from './sequence-model';
import { checkInputSpec, checkOutputSpec, checkRecurrentSpec, type InputSpec, type OutputSpec, type RecurrentSpec } from './specs';
import { selectBatch } from './tensor-ops';

export interface ManyToManyOptions {
  input: InputSpec;
  recurrent: RecurrentSpec;
  output: OutputSpec;
  /** Truncated BPTT: steps per chunk (default: whole sequences). */
  truncation?: number;
  /** Dropout in training on the token embeddings and on the head's input (every step's output); between stacked layers it is recurrent.dropout. */
  dropout?: Pick<StructureDropout, 'embedding' | 'headInput'>;
  seed?: number;
}

export interface ManyToManyExample {
  input: SequenceData;
  /** One target per input step: class ids, or vectors of output.size. */
  target: readonly number[] | ReadonlyArray<readonly number[]>;
}

export interface StreamState {
  h: Tensor;
  c?: Tensor;
}

export class ManyToMany extends SequenceModel<ManyToManyExample> {
  readonly kind = 'ManyToMany';
  /** @internal */
  readonly encoder: Encoder;
  readonly head: Linear;
  private readonly options: Required<Omit<ManyToManyOptions, 'truncation' | 'dropout'>> & { truncation: number | null; dropout?: StructureDropout };
  private readonly dropout: Required<StructureDropout>;

  constructor(options: ManyToManyOptions) {
    const o = checkObject('ManyToMany options', options);
    const input = checkInputSpec('input', o.input);
    const recurrent = checkRecurrentSpec('recurrent', o.recurrent);
    const output = checkOutputSpec('output', o.output);
    const truncation = o.truncation === undefined ? null : checkPositiveInteger('truncation', o.truncation);
    const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
    const dropout = checkStructureDropout('dropout', o.dropout, ['embedding', 'headInput']);
    const encoder = new Encoder(input, recurrent, seed, dropout.embedding);
    const width = output.type === 'classes' ? output.numClasses : output.size;
    const head = new Linear({ inFeatures: encoder.outputSize, outFeatures: width, seed: seed + 10 });
    super([...encoder.modules('encoder'), ['head', head]], seed);
    this.encoder = encoder;
    this.head = head;
    this.dropout = dropout;
    const rates = dropoutConfig(dropout);
    this.options = { input, recurrent, output, truncation, seed, ...(rates ? { dropout: rates } : {}) };
  }

  config(): Record<string, unknown> {
    return { ...this.options, truncation: this.options.truncation ?? undefined };
  }

  exampleLength(example: ManyToManyExample): number {
    return example.input.length;
  }

  checkExamples(data: readonly ManyToManyExample[], name: string): void {
    if (!Array.isArray(data)) throw typeError(`${name}: expected an array of examples, got ${describe(data)}`);
    data.forEach((e, i) => {
      const ex = checkObject(`${name}[${i}]`, e);
      this.encoder.input.check(`${name}[${i}].input`, ex.input);
      const target = ex.target;
      if (!Array.isArray(target)) throw typeError(`${name}[${i}].target: expected an array, got ${describe(target)}`);
      if (target.length !== (ex.input as unknown[]).length) {
        throw shapeError(`${name}[${i}].target: expected one target per input step (${(ex.input as unknown[]).length}), got ${target.length}`);
      }
      target.forEach((t, s) => this.checkTarget(`${name}[${i}].target[${s}]`, t));
    });
  }

  /** Per-step predictions: class ids (classes) or vectors (real), in batches of similar lengths on the JS thread. */
  predict(inputs: readonly SequenceData[], options: BatchOptions = {}): Array<number[] | number[][]> {
    this.checkInputs(inputs);
    return this.infer(this.predictAll(inputs, checkBatchOptions(options)));
  }

  /** Same as predict, on native worker threads. Calls on one model queue. */
  async predictAsync(inputs: readonly SequenceData[], options: BatchOptions = {}): Promise<Array<number[] | number[][]>> {
    this.checkInputs(inputs);
    const batchSize = checkBatchOptions(options);
    return this.inferAsync(() => this.predictAll(inputs, batchSize));
  }

  /** Per step: class probabilities [numClasses] (classes) or the predicted vector (real); [input][step][width]. */
  predictProba(inputs: readonly SequenceData[], options: BatchOptions = {}): number[][][] {
    this.checkInputs(inputs);
    return this.infer(this.probabilitiesAll(inputs, checkBatchOptions(options)));
  }

  /** Same as predictProba, on native worker threads. */
  async predictProbaAsync(inputs: readonly SequenceData[], options: BatchOptions = {}): Promise<number[][][]> {
    this.checkInputs(inputs);
    const batchSize = checkBatchOptions(options);
    return this.inferAsync(() => this.probabilitiesAll(inputs, batchSize));
  }

  /**
   * Streaming inference, one step for a batch of sequences: `inputs[b]` is a token id
   * or a feature vector. Returns class probabilities (classes) or values (real) [B, width].
   */
  step(inputs: ReadonlyArray<number | readonly number[]>, state?: StreamState): { outputs: Float32Array; state: StreamState } {
    this.checkStep(inputs);
    return this.infer(this.stepAll(inputs, state));
  }

  /** Same as step, on native worker threads. */
  async stepAsync(inputs: ReadonlyArray<number | readonly number[]>, state?: StreamState): Promise<{ outputs: Float32Array; state: StreamState }> {
    this.checkStep(inputs);
    return this.inferAsync(() => this.stepAll(inputs, state));
  }

  /** Free-running generation from a prompt of token ids (token input and class output of one vocabulary). */
  generate(prompt: readonly number[], options: GenerateOptions & { endToken?: number } = {}): number[] {
    const o = this.checkGenerate(prompt, options);
    return this.infer(this.generateFrom(prompt, o));
  }

  /** Same as generate, on native worker threads. */
  async generateAsync(prompt: readonly number[], options: GenerateOptions & { endToken?: number } = {}): Promise<number[]> {
    const o = this.checkGenerate(prompt, options);
    return this.inferAsync(() => this.generateFrom(prompt, o));
  }

  private checkStep(inputs: ReadonlyArray<number | readonly number[]>): void {
    this.assertStreamable('step');
    if (!Array.isArray(inputs)) throw typeError(`inputs: expected an array (one step input per stream), got ${describe(inputs)}`);
    this.checkInputs(inputs.map((s) => [s] as SequenceData));
  }

  private checkGenerate(prompt: readonly number[], options: GenerateOptions & { endToken?: number }) {
    const spec = this.options;
    if (spec.input.type !== 'tokens' || spec.output.type !== 'classes' || spec.input.vocabSize !== spec.output.numClasses) {
      throw typeError('generate: needs token inputs and class outputs over the same vocabulary');
    }
    this.assertStreamable('generate');
    this.checkInputs([prompt]);
    return { ...checkGenerateOptions(options), endToken: options.endToken ?? -1 };
  }

  private *predictAll(inputs: readonly SequenceData[], batchSize: number): Inference<Array<number[] | number[][]>> {
    return yield* inBatchesByLength(inputs, (seq) => seq.length, batchSize, (batch) => this.predictBatch(batch));
  }

  private *probabilitiesAll(inputs: readonly SequenceData[], batchSize: number): Inference<number[][][]> {
    return yield* inBatchesByLength(inputs, (seq) => seq.length, batchSize, (batch) => this.probabilitiesOf(batch));
  }

  private *probabilitiesOf(batch: SequenceData[]): Inference<number[][][]> {
    const W = this.head.outFeatures;
    const enc = yield* this.encoder.encode(batch, { training: false });
    const y = yield* run(linear(this.head, enc.memory));  // [T, B, W]
    const values = this.options.output.type === 'classes' ? (yield* run(logProbabilities(y))).data.map(Math.exp) : y.data;
    return batch.map((seq, b) => Array.from({ length: seq.length },
      (_, t) => Array.from(values.subarray((t * enc.batch + b) * W, (t * enc.batch + b + 1) * W))));
  }

  private *predictBatch(batch: SequenceData[]): Inference<Array<number[] | number[][]>> {
    const W = this.head.outFeatures, classes = this.options.output.type === 'classes';
    const enc = yield* this.encoder.encode(batch, { training: false });
    const y = (yield* run(linear(this.head, enc.memory))).data;  // [T, B, W]
    const row = (t: number, b: number) => y.subarray((t * enc.batch + b) * W, (t * enc.batch + b + 1) * W);
    return batch.map((seq, b) => (classes
      ? Array.from({ length: seq.length }, (_, t) => argmaxRows(row(t, b), W)[0])
      : Array.from({ length: seq.length }, (_, t) => Array.from(row(t, b)))));
  }

  private *stepAll(inputs: ReadonlyArray<number | readonly number[]>, state?: StreamState): Inference<{ outputs: Float32Array; state: StreamState }> {
    const B = inputs.length;
    const x = this.encoder.input.embedding
      ? yield* run(embed(this.encoder.input.embedding, Int32Array.from(inputs as number[]), [1, B]))
      : { data: Float32Array.from((inputs as number[][]).flat()), shape: [1, B, this.encoder.input.size] };
    const out = yield* run(recurrent(this.encoder.rnn, x, { h0: state?.h, c0: state?.c }));
    const y = yield* run(linear(this.head, out.output));
    const outputs = this.options.output.type === 'classes' ? (yield* run(logProbabilities(y))).data.map(Math.exp) : y.data;
    return { outputs, state: { h: out.hN, c: out.cN } };
  }

  /** Reads the prompt but its last token in one forward, then decodes from its last token. */
  private *generateFrom(prompt: readonly number[], o: Required<GenerateOptions> & { endToken: number }): Inference<number[]> {
    let state: StreamState | undefined;
    if (prompt.length > 1) {
      const head = yield* this.encoder.encode([prompt.slice(0, -1)], { training: false });
      state = { h: head.hN, c: head.cN };
    }
    const stepper: StepDecoder<StreamState | undefined> = {
      vocabSize: this.head.outFeatures,
      step: (tokens, s) => this.stepLogits(tokens, s),
      select: (s, rows) => s && { h: selectBatch(s.h, rows), c: s.c && selectBatch(s.c, rows) },
      reorder: (s, rows) => s && { h: selectBatch(s.h, rows), c: s.c && selectBatch(s.c, rows) },
    };
    const [best] = yield* generateTokens(stepper, state, 1, { startToken: prompt[prompt.length - 1], endToken: o.endToken }, o, [0]);
    return best.tokens;
  }

  private *stepLogits(tokens: Int32Array, state: StreamState | undefined): Inference<Stepped<StreamState | undefined>> {
    const x = yield* run(embed(this.encoder.input.embedding!, tokens, [1, tokens.length]));
    const out = yield* run(recurrent(this.encoder.rnn, x, { h0: state?.h, c0: state?.c }));
    const logits = yield* run(linear(this.head, out.output));
    return { logProbs: (yield* run(logProbabilities(logits))).data, state: { h: out.hN, c: out.cN } };
  }

  /** A bidirectional stack reads each sequence from both ends, so it cannot run one step at a time. */
  private assertStreamable(what: string): void {
    if (this.encoder.rnn.bidirectional) {
      throw typeError(`${what}: a bidirectional model needs the whole sequence at once; use predict() instead`);
    }
  }

  private checkInputs(inputs: readonly SequenceData[]): void {
    if (!Array.isArray(inputs)) throw typeError(`inputs: expected an array of sequences, got ${describe(inputs)}`);
    inputs.forEach((seq, i) => this.encoder.input.check(`inputs[${i}]`, seq));
  }

  private checkTarget(name: string, t: unknown): void {
    const out = this.options.output;
    if (out.type === 'classes') {
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= out.numClasses) {
        throw valueError(`${name}: expected a class id in [0, ${out.numClasses}), got ${describe(t)}`);
      }
    } else if (!Array.isArray(t) || t.length !== out.size || !t.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw valueError(`${name}: expected ${out.size} finite numbers, got ${describe(t)}`);
    }
  }

  /** Forward (and backward when training) over chunks of the batch's steps. */
  protected async runBatch(batch: ManyToManyExample[], training: boolean, context: TrainContext | null): Promise<BatchResult> {
    const spec = this.options;
    const random = { training, random: context?.random };
    const enc = await this.encoder.input.forward(batch.map((e) => e.input), random);
    const { steps: T, batch: B, lengths } = enc;
    const F = this.encoder.input.size, W = spec.output.type === 'classes' ? spec.output.numClasses : spec.output.size;
    const mask = stepMask(lengths, T);
    const count = mask.reduce((a, b) => a + b, 0) * (spec.output.type === 'real' ? W : 1);
    const targets = this.targetsOf(batch, T, B);
    const k = spec.truncation ?? T;
    const dx = training ? new Float32Array(T * B * F) : null;
    let state: StreamState | undefined;
    let sum = 0;
    for (let start = 0; start < T; start += k) {
      const end = Math.min(T, start + k), steps = end - start;
      const x = { data: enc.x.data.subarray(start * B * F, end * B * F), shape: [steps, B, F] };
      // Sequences that ended before this chunk still run one (masked) step: the kernel needs lengths >= 1.
      const chunkLengths = Int32Array.from(lengths, (n) => Math.max(1, Math.min(steps, n - start)));
      const dropoutSeed = training && context ? context.random.nextSafeInteger() : undefined;
      const out = await this.encoder.rnn.forwardAsync(x, { h0: state?.h, c0: state?.c, lengths: chunkLengths, training, dropoutSeed });
      state = { h: out.hN, c: out.cN };
      const read = await dropoutForward('head input dropout', out.output.data, this.dropout.headInput, DropoutStream.headInput, random);
      const y = await this.head.forwardAsync({ data: read.y, shape: out.output.shape }, { training });
      const weights = mask.subarray(start * B, end * B);
      const objective = spec.output.type === 'classes'
        ? await classObjective(y, (targets as Int32Array).subarray(start * B, end * B), weights, spec.output.labelSmoothing ?? 0, count)
        : await realObjective(y, (targets as Float32Array).subarray(start * B * W, end * B * W), weights, count);
      sum += objective.sum;
      if (!training) continue;
      const dOutput = await this.head.backwardAsync(objective.grad);
      await dropoutBackward(dOutput.data, read.tape);
      const g = await this.encoder.rnn.backwardAsync({ dOutput });  // no dhN: the gradient stops at the chunk's start
      dx!.set(g.dx.data, start * B * F);
    }
    if (training) await this.encoder.input.backward({ data: dx!, shape: [T, B, F] }, enc.dropout);
    return { loss: sum, count };
  }

  private targetsOf(batch: ManyToManyExample[], T: number, B: number): Int32Array | Float32Array {
    const out = this.options.output;
    if (out.type === 'classes') {
      const t = new Int32Array(T * B).fill(-1);
      batch.forEach((e, b) => (e.target as number[]).forEach((c, s) => { t[s * B + b] = c; }));
      return t;
    }
    const t = new Float32Array(T * B * out.size);
    batch.forEach((e, b) => (e.target as number[][]).forEach((v, s) => t.set(v, (s * B + b) * out.size)));
    return t;
  }
}
