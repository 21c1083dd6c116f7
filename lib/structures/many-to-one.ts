// N vs 1: read the whole sequence, predict from each sequence's last valid
// step (a bidirectional encoder contributes both directions' final states):
// classification over classes, or regression to a real vector.

import { checkObject, checkSeed, describe } from '../check';
import { typeError, valueError } from '../errors';
import { checkStructureDropout, dropoutBackward, dropoutConfig, dropoutForward, DropoutStream, type StructureDropout } from '../layers/dropout';
import { Linear } from '../layers/linear';
import { inBatchesByLength } from './batches-by-length';
import { Encoder } from './encoder';
import { checkBatchOptions, type BatchOptions } from './generation';
import { linear, logProbabilities, run, type Inference } from './inference';
import { argmaxRows, classObjective, realObjective } from './objectives';
import type { SequenceData } from './sequence-input';
import { SequenceModel, type BatchResult, type TrainContext } from './sequence-model';
import { checkInputSpec, checkOutputSpec, checkRecurrentSpec, type InputSpec, type OutputSpec, type RecurrentSpec } from './specs';

export interface ManyToOneOptions {
  input: InputSpec;
  recurrent: RecurrentSpec;
  output: OutputSpec;
  /** Dropout in training on the token embeddings and on the head's input (the final states); between stacked layers it is recurrent.dropout. */
  dropout?: Pick<StructureDropout, 'embedding' | 'headInput'>;
  seed?: number;
}

export interface ManyToOneExample {
  input: SequenceData;
  /** A class id, or a vector of output.size. */
  target: number | readonly number[];
}

export class ManyToOne extends SequenceModel<ManyToOneExample> {
  readonly kind = 'ManyToOne';
  /** @internal */
  readonly encoder: Encoder;
  readonly head: Linear;
  private readonly options: Required<Omit<ManyToOneOptions, 'dropout'>> & { dropout?: StructureDropout };
  private readonly dropout: Required<StructureDropout>;

  constructor(options: ManyToOneOptions) {
    const o = checkObject('ManyToOne options', options);
    const input = checkInputSpec('input', o.input);
    const recurrent = checkRecurrentSpec('recurrent', o.recurrent);
    const output = checkOutputSpec('output', o.output);
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
    this.options = { input, recurrent, output, seed, ...(rates ? { dropout: rates } : {}) };
  }

  config(): Record<string, unknown> {
    return { ...this.options };
  }

  exampleLength(example: ManyToOneExample): number {
    return example.input.length;
  }

  checkExamples(data: readonly ManyToOneExample[], name: string): void {
    if (!Array.isArray(data)) throw typeError(`${name}: expected an array of examples, got ${describe(data)}`);
    const out = this.options.output;
    data.forEach((e, i) => {
      const ex = checkObject(`${name}[${i}]`, e);
      this.encoder.input.check(`${name}[${i}].input`, ex.input);
      const t = ex.target;
      if (out.type === 'classes') {
        if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= out.numClasses) {
          throw valueError(`${name}[${i}].target: expected a class id in [0, ${out.numClasses}), got ${describe(t)}`);
        }
      } else if (!Array.isArray(t) || t.length !== out.size || !t.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw valueError(`${name}[${i}].target: expected ${out.size} finite numbers, got ${describe(t)}`);
      }
    });
  }

  /** Class probabilities [numClasses] (classes) or the predicted vector (real), per input; batched on the JS thread. */
  predictProba(inputs: readonly SequenceData[], options: BatchOptions = {}): number[][] {
    const batchSize = this.checkPredict(inputs, options);
    return this.infer(this.probabilities(inputs, batchSize));
  }

  /** Same as predictProba, on native worker threads. Calls on one model queue. */
  async predictProbaAsync(inputs: readonly SequenceData[], options: BatchOptions = {}): Promise<number[][]> {
    const batchSize = this.checkPredict(inputs, options);
    return this.inferAsync(() => this.probabilities(inputs, batchSize));
  }

  /** Class ids (classes) or vectors (real). */
  predict(inputs: readonly SequenceData[], options: BatchOptions = {}): Array<number | number[]> {
    return this.decide(this.predictProba(inputs, options));
  }

  /** Same as predict, on native worker threads. */
  async predictAsync(inputs: readonly SequenceData[], options: BatchOptions = {}): Promise<Array<number | number[]>> {
    return this.decide(await this.predictProbaAsync(inputs, options));
  }

  private decide(proba: number[][]): Array<number | number[]> {
    if (this.options.output.type !== 'classes') return proba;
    return proba.map((p) => argmaxRows(Float32Array.from(p), p.length)[0]);
  }

  private checkPredict(inputs: readonly SequenceData[], options: BatchOptions): number {
    if (!Array.isArray(inputs)) throw typeError(`inputs: expected an array of sequences, got ${describe(inputs)}`);
    inputs.forEach((seq, i) => this.encoder.input.check(`inputs[${i}]`, seq));
    return checkBatchOptions(options);
  }

  private *probabilities(inputs: readonly SequenceData[], batchSize: number): Inference<number[][]> {
    return yield* inBatchesByLength(inputs, (seq) => seq.length, batchSize, (batch) => this.probabilitiesOf(batch));
  }

  private *probabilitiesOf(batch: SequenceData[]): Inference<number[][]> {
    const enc = yield* this.encoder.encode(batch, { training: false });
    const W = this.head.outFeatures;
    const y = yield* run(linear(this.head, { data: enc.context, shape: [enc.batch, this.encoder.outputSize] }));
    const values = this.options.output.type === 'classes' ? (yield* run(logProbabilities(y))).data.map(Math.exp) : y.data;
    return batch.map((_, b) => Array.from(values.subarray(b * W, (b + 1) * W)));
  }

  protected async runBatch(batch: ManyToOneExample[], training: boolean, context: TrainContext | null): Promise<BatchResult> {
    const out = this.options.output;
    const random = { training, random: context?.random };
    const enc = await this.encoder.forward(batch.map((e) => e.input), random);
    const B = enc.batch;
    const read = await dropoutForward('head input dropout', enc.context, this.dropout.headInput, DropoutStream.headInput, random);
    const y = await this.head.forwardAsync({ data: read.y, shape: [B, this.encoder.outputSize] }, { training });
    const weights = new Float32Array(B).fill(1);
    let objective;
    let count;
    if (out.type === 'classes') {
      count = B;
      objective = await classObjective(y, Int32Array.from(batch, (e) => e.target as number), weights, out.labelSmoothing ?? 0, count);
    } else {
      count = B * out.size;
      objective = await realObjective(y, Float32Array.from(batch.flatMap((e) => e.target as number[])), weights, count);
    }
    if (training) {
      const dContext = await this.head.backwardAsync(objective.grad);
      await dropoutBackward(dContext.data, read.tape);
      await this.encoder.backward({ dContext: dContext.data, inputDropout: enc.inputDropout });
    }
    return { loss: objective.sum, count };
  }
}
