// N vs N: one output per input step, y_t = softmax(V h_t + c) over classes or
// a linear head for real values (tagging, language models, forecasting).
// Long sequences train with truncated BPTT: chunks of `truncation` steps,
// state carried, gradient cut at chunk boundaries. Token models can generate.

import { checkObject, checkPositiveInteger, checkSeed, describe } from '../check';
import { shapeError, typeError, valueError } from '../errors';
import { Linear } from '../layers/linear';
import type { Tensor } from '../tensor';
import { stepMask } from '../blocks/batching';
import { logSoftmax } from '../blocks/losses';
import type { StepDecoder } from './decoding';
import { Encoder } from './encoder';
import { checkGenerateOptions, generateTokens, type GenerateOptions } from './generation';
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
  private readonly options: Required<Omit<ManyToManyOptions, 'truncation'>> & { truncation: number | null };

  constructor(options: ManyToManyOptions) {
    const o = checkObject('ManyToMany options', options);
    const input = checkInputSpec('input', o.input);
    const recurrent = checkRecurrentSpec('recurrent', o.recurrent);
    const output = checkOutputSpec('output', o.output);
    const truncation = o.truncation === undefined ? null : checkPositiveInteger('truncation', o.truncation);
    const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
    const encoder = new Encoder(input, recurrent, seed);
    const width = output.type === 'classes' ? output.numClasses : output.size;
    const head = new Linear({ inFeatures: encoder.outputSize, outFeatures: width, seed: seed + 10 });
    super([...encoder.modules('encoder'), ['head', head]], seed);
    this.encoder = encoder;
    this.head = head;
    this.options = { input, recurrent, output, truncation, seed };
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

  async trainBatch(batch: ManyToManyExample[], context: TrainContext): Promise<BatchResult> {
    return this.run(batch, true, context);
  }

  async evaluateBatch(batch: ManyToManyExample[]): Promise<BatchResult> {
    return this.run(batch, false, null);
  }

  /** Per-step predictions: class ids (classes) or vectors (real), one forward pass per sequence (as in training). */
  predict(inputs: readonly SequenceData[]): Array<number[] | number[][]> {
    this.checkInputs(inputs);
    const { embedding, size } = this.encoder.input;
    const W = this.head.outFeatures;
    return inputs.map((seq) => {
      const T = seq.length;
      const x = embedding
        ? embedding.forward(Int32Array.from(seq as number[]), [T, 1])
        : { data: Float32Array.from((seq as number[][]).flat()), shape: [T, 1, size] };
      const y = this.head.forward(this.encoder.rnn.forward(x).output).data;
      if (this.options.output.type === 'classes') return Array.from(argmaxRows(y, W));
      return Array.from({ length: T }, (_, t) => Array.from(y.subarray(t * W, (t + 1) * W)));
    });
  }

  /**
   * Streaming inference, one step for a batch of sequences: `inputs[b]` is a token id
   * or a feature vector. Returns class probabilities (classes) or values (real) [B, width].
   */
  step(inputs: ReadonlyArray<number | readonly number[]>, state?: StreamState): { outputs: Float32Array; state: StreamState } {
    this.assertStreamable('step');
    if (!Array.isArray(inputs)) throw typeError(`inputs: expected an array (one step input per stream), got ${describe(inputs)}`);
    this.checkInputs(inputs.map((s) => [s] as SequenceData));
    const B = inputs.length;
    const x = this.encoder.input.embedding
      ? this.encoder.input.embedding.forward(Int32Array.from(inputs as number[]), [1, B])
      : { data: Float32Array.from((inputs as number[][]).flat()), shape: [1, B, this.encoder.input.size] };
    const out = this.encoder.rnn.forward(x, { h0: state?.h, c0: state?.c });
    const y = this.head.forward(out.output);
    const outputs = this.options.output.type === 'classes' ? softmaxOf(logSoftmax(y).data) : y.data;
    return { outputs, state: { h: out.hN, c: out.cN } };
  }

  /** Free-running generation from a prompt of token ids (token input and class output of one vocabulary). */
  generate(prompt: readonly number[], options: GenerateOptions & { endToken?: number } = {}): number[] {
    const spec = this.options;
    if (spec.input.type !== 'tokens' || spec.output.type !== 'classes' || spec.input.vocabSize !== spec.output.numClasses) {
      throw typeError('generate: needs token inputs and class outputs over the same vocabulary');
    }
    this.assertStreamable('generate');
    this.checkInputs([prompt]);
    const o = checkGenerateOptions(options);
    const endToken = options.endToken ?? -1;
    let state: StreamState | undefined;
    for (const token of prompt.slice(0, -1)) state = this.step([token], state).state;
    const stepper: StepDecoder<StreamState | undefined> = {
      vocabSize: spec.output.numClasses,
      step: (tokens, s) => {
        const r = this.stepLogits(tokens, s);
        return { logProbs: r.logProbs, state: r.state };
      },
      select: (s, rows) => s && { h: selectBatch(s.h, rows), c: s.c && selectBatch(s.c, rows) },
    };
    const [best] = generateTokens(stepper, state, 1, { startToken: prompt[prompt.length - 1], endToken }, o);
    return best.tokens;
  }

  private stepLogits(tokens: Int32Array, state: StreamState | undefined): { logProbs: Float32Array; state: StreamState } {
    const x = this.encoder.input.embedding!.forward(tokens, [1, tokens.length]);
    const out = this.encoder.rnn.forward(x, { h0: state?.h, c0: state?.c });
    return { logProbs: logSoftmax(this.head.forward(out.output)).data, state: { h: out.hN, c: out.cN } };
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
  private async run(batch: ManyToManyExample[], training: boolean, context: TrainContext | null): Promise<BatchResult> {
    const spec = this.options;
    const enc = await this.encoder.input.encode(batch.map((e) => e.input), training);
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
      const y = await this.head.forwardAsync(out.output, { training });
      const weights = mask.subarray(start * B, end * B);
      const objective = spec.output.type === 'classes'
        ? await classObjective(y, (targets as Int32Array).subarray(start * B, end * B), weights, spec.output.labelSmoothing ?? 0, count)
        : await realObjective(y, (targets as Float32Array).subarray(start * B * W, end * B * W), weights, count);
      sum += objective.sum;
      if (!training) continue;
      const dOutput = await this.head.backwardAsync(objective.grad);
      const g = await this.encoder.rnn.backwardAsync({ dOutput });  // no dhN: the gradient stops at the chunk's start
      dx!.set(g.dx.data, start * B * F);
    }
    if (training) await this.encoder.input.backward({ data: dx!, shape: [T, B, F] });
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

function softmaxOf(logProbs: Float32Array): Float32Array {
  return logProbs.map((v) => Math.exp(v));
}
