// Embedding table, PyTorch's nn.Embedding: ids [...shape] -> rows [...shape, E],
// with padding_idx (that row starts at zero and never receives a gradient).

import { checkBoolean, checkObject, checkPositiveInteger, checkSeed, checkTensor, describe, formatShape } from '../check';
import { RnnkitError, shapeError, typeError, valueError } from '../errors';
import { native } from '../native';
import { Random } from '../random';
import type { Tensor } from '../tensor';
import { elementCount, ParameterModule } from './module';

export interface EmbeddingOptions {
  numEmbeddings: number;
  embeddingDim: number;
  /** A row that stays zero and gets no gradient, e.g. the id of padding; negative counts from the end. */
  paddingIdx?: number;
  /** Seed of initialisation (default 0). */
  seed?: number;
}

export interface EmbeddingForwardOptions {
  /** Keep the ids for backward (default false). */
  training?: boolean;
}

export class Embedding extends ParameterModule {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  /** In [0, numEmbeddings), or null. */
  readonly paddingIdx: number | null;

  private readonly random: Random;
  private recorded: { ids: Int32Array; shape: number[] } | null = null;

  constructor(options: EmbeddingOptions) {
    const o = checkObject('Embedding options', options);
    const V = checkPositiveInteger('numEmbeddings', o.numEmbeddings);
    const E = checkPositiveInteger('embeddingDim', o.embeddingDim);
    let paddingIdx: number | null = null;
    if (o.paddingIdx !== undefined && o.paddingIdx !== null) {
      if (typeof o.paddingIdx !== 'number') throw typeError(`paddingIdx: expected an integer, got ${describe(o.paddingIdx)}`);
      if (!Number.isInteger(o.paddingIdx) || o.paddingIdx < -V || o.paddingIdx >= V) {
        throw valueError(`paddingIdx: expected an integer in [${-V}, ${V - 1}], got ${describe(o.paddingIdx)}`);
      }
      paddingIdx = o.paddingIdx < 0 ? o.paddingIdx + V : o.paddingIdx;  // as PyTorch normalises it
    }
    const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
    super([['weight', [V, E]]]);
    this.numEmbeddings = V;
    this.embeddingDim = E;
    this.paddingIdx = paddingIdx;
    this.random = new Random(seed);
    this.resetParameters();
  }

  /** PyTorch's default: N(0, 1), with the padding row zeroed. */
  resetParameters(): void {
    this.assertIdle();
    const w = this.parameters;
    for (let i = 0; i < w.length; i++) w[i] = this.random.normal();
    if (this.paddingIdx !== null) {
      const E = this.embeddingDim;
      w.fill(0, this.paddingIdx * E, (this.paddingIdx + 1) * E);
    }
  }

  /** Rows of the ids: [...shape, embeddingDim]; ids.length must equal the product of shape. */
  forward(ids: Int32Array, shape: number[], options: EmbeddingForwardOptions = {}): Tensor {
    const call = this.prepareForward(ids, shape, options);
    native.embeddingForward(...call.args);
    this.recorded = call.record;
    return call.result;
  }

  async forwardAsync(ids: Int32Array, shape: number[], options: EmbeddingForwardOptions = {}): Promise<Tensor> {
    const call = this.prepareForward(ids, shape, options);
    await this.busy.track(native.embeddingForwardAsync(...call.args));
    this.recorded = call.record;
    return call.result;
  }

  /** Through the last training forward: accumulates dOut [...shape, E] into the rows' gradients. */
  backward(dOut: Tensor): void {
    native.embeddingBackward(...this.prepareBackward(dOut));
  }

  async backwardAsync(dOut: Tensor): Promise<void> {
    await this.busy.track(native.embeddingBackwardAsync(...this.prepareBackward(dOut)));
  }

  private prepareForward(ids: Int32Array, shape: number[], options: EmbeddingForwardOptions) {
    this.assertIdle();
    const o = checkObject('options', options);
    const training = o.training === undefined ? false : checkBoolean('training', o.training);
    const V = this.numEmbeddings, E = this.embeddingDim;
    if (!(ids instanceof Int32Array)) throw typeError(`ids: expected an Int32Array, got ${describe(ids)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw typeError(`shape: expected an array of non-negative integers, got ${describe(shape)}`);
    }
    const N = elementCount(shape);
    if (N !== ids.length) throw shapeError(`ids: shape ${formatShape(shape)} needs ${N} ids, got ${ids.length}`);
    if (N === 0) throw shapeError(`ids: expected at least one id, got shape ${formatShape(shape)}`);
    for (let n = 0; n < N; n++) {
      if (ids[n] < 0 || ids[n] >= V) throw valueError(`ids[${n}]: expected an id in [0, ${V - 1}], got ${ids[n]}`);
    }
    const out = this.callBuffer(`output of [${N} ids, embeddingDim=${E}]`, N * E);
    const record = training ? { ids: ids.slice(), shape: [...shape] } : this.recorded;
    const args = [ids, this.parameters, N, V, E, out] as const;
    return { args, record, result: { data: out, shape: [...shape, E] } };
  }

  private prepareBackward(dOut: Tensor) {
    this.assertIdle();
    if (!this.recorded) {
      throw new RnnkitError('backward: no training forward to differentiate; call forward(ids, shape, { training: true }) first',
        'ERR_RNNKIT_STATE');
    }
    const { ids, shape } = this.recorded;
    const E = this.embeddingDim;
    const d = checkTensor('dOut', dOut, [...shape, E], 'the shape of the last output');
    return [ids, d.data, this.paddingIdx ?? -1, ids.length, this.numEmbeddings, E, this.gradients] as const;
  }
}
