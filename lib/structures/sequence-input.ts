// Turns a batch of input sequences into a time-major tensor [T, B, F]:
// token ids through an Embedding, or feature vectors as they are. Also checks
// examples, so bad data is refused before training starts.

import { describe } from '../check';
import { shapeError, typeError, valueError } from '../errors';
import { dropoutBackward, dropoutForward, DropoutStream, type DropoutTape } from '../layers/dropout';
import { Embedding } from '../layers/embedding';
import type { ParameterModule } from '../layers/module';
import type { Random } from '../random';
import type { Tensor } from '../tensor';
import { padFeatures, padTokens } from '../blocks/batching';
import { embed, run, runAsync, type Inference } from './inference';
import type { InputSpec } from './specs';

/** One input sequence: token ids, or one feature vector per step. */
export type SequenceData = readonly number[] | ReadonlyArray<readonly number[]>;

export interface EncodedInput {
  x: Tensor;
  lengths: Int32Array;
  steps: number;
  batch: number;
}

export class SequenceInput {
  readonly spec: InputSpec;
  readonly embedding: Embedding | null;

  /** @param embeddingDropout dropout on the token embeddings in training (features are left as they are). */
  constructor(spec: InputSpec, seed: number, readonly embeddingDropout = 0) {
    this.spec = spec;
    this.embedding = spec.type === 'tokens'
      ? new Embedding({ numEmbeddings: spec.vocabSize, embeddingDim: spec.embeddingSize, seed })
      : null;
  }

  /** Width F of each step of x. */
  get size(): number {
    return this.spec.type === 'tokens' ? this.spec.embeddingSize : this.spec.size;
  }

  modules(prefix: string): Array<[string, ParameterModule]> {
    return this.embedding ? [[`${prefix}.embedding`, this.embedding]] : [];
  }

  /** Throws a TypeError/RangeError naming `name` when the sequence does not fit the spec. */
  check(name: string, seq: unknown): void {
    if (!Array.isArray(seq)) throw typeError(`${name}: expected an array (one entry per step), got ${describe(seq)}`);
    if (seq.length === 0) throw shapeError(`${name}: expected at least one step, got an empty sequence`);
    const spec = this.spec;
    if (spec.type === 'tokens') {
      seq.forEach((id, t) => {
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= spec.vocabSize) {
          throw valueError(`${name}[${t}]: expected a token id in [0, ${spec.vocabSize}), got ${describe(id)}`);
        }
      });
    } else {
      seq.forEach((step, t) => {
        if (!Array.isArray(step) && !ArrayBuffer.isView(step)) {
          throw typeError(`${name}[${t}]: expected a feature vector of ${spec.size} numbers, got ${describe(step)}`);
        }
        const v = step as ArrayLike<number>;
        if (v.length !== spec.size) throw shapeError(`${name}[${t}]: expected ${spec.size} features, got ${v.length}`);
        for (let i = 0; i < v.length; i++) {
          if (typeof v[i] !== 'number' || !Number.isFinite(v[i])) {
            throw valueError(`${name}[${t}][${i}]: expected a finite number, got ${describe(v[i])}`);
          }
        }
      });
    }
  }

  /** Pads the batch and embeds it: x [T, B, F] and each sequence's length. */
  *embed(sequences: readonly SequenceData[], training: boolean): Inference<EncodedInput> {
    const batch = sequences.length;
    if (this.embedding) {
      const { ids, lengths, steps } = padTokens(sequences as ReadonlyArray<readonly number[]>);
      const x = yield* run(embed(this.embedding, ids, [steps, batch], training));
      return { x, lengths, steps, batch };
    }
    const { data, lengths, steps } = padFeatures(sequences as ReadonlyArray<ReadonlyArray<readonly number[]>>, this.size);
    return { x: { data, shape: [steps, batch, this.size] }, lengths, steps, batch };
  }

  encode(sequences: readonly SequenceData[], training: boolean): Promise<EncodedInput> {
    return runAsync(this.embed(sequences, training));
  }

  /** As encode, then (training, tokens) the embedding dropout; its tape goes to backward. */
  async forward(sequences: readonly SequenceData[], options: { training: boolean; random?: Random }):
    Promise<EncodedInput & { dropout: DropoutTape | null }> {
    const e = await this.encode(sequences, options.training);
    if (!this.embedding) return { ...e, dropout: null };
    const dropped = await dropoutForward('embedding dropout', e.x.data, this.embeddingDropout, DropoutStream.sourceEmbedding, options);
    return { ...e, x: { data: dropped.y, shape: e.x.shape }, dropout: dropped.tape };
  }

  /** Accumulates the embedding's gradient from d(x) (dropped as forward dropped x; in place); nothing to do for features. */
  async backward(dx: Tensor, dropout: DropoutTape | null = null): Promise<void> {
    if (!this.embedding) return;
    await dropoutBackward(dx.data, dropout);
    await this.embedding.backwardAsync(dx);
  }
}
