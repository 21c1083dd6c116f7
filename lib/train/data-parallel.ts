// What fit does differently with a process group (DistributedDataParallel's recipe): every worker
// makes the same seeded global batches and trains its shard of each; the gradients are combined so
// the step equals one process's on the whole global batch (each shard weighted by its loss terms),
// and every decision (non-finite, time budget, validation, early stopping) is taken on reduced,
// hence identical, numbers. Only rank 0 writes files and runs the callbacks.

import { describe } from '../check';
import { RnnkitError, typeError } from '../errors';
import { native } from '../native';
import { Random } from '../random';
import { ProcessGroup } from './process-group';
import type { BatchResult } from './trainable';

export class DataParallel {
  private readonly scalars = new Float64Array(2);
  private readonly control = new Float64Array(2);

  constructor(readonly group: ProcessGroup) {}

  static from(value: unknown): DataParallel | null {
    if (value === undefined) return null;
    if (!(value instanceof ProcessGroup)) {
      throw typeError(`distributed: expected the group from distributed.init(), got ${describe(value)}`);
    }
    if (!value.isOpen) throw new RnnkitError('distributed: the group is closed', 'ERR_RNNKIT_DISTRIBUTED');
    return new DataParallel(value);
  }

  get rank(): number { return this.group.rank; }
  /** Rank 0 writes checkpoints and reports. */
  get leads(): boolean { return this.group.rank === 0; }

  /**
   * Every worker must train the same model on the same data with the same options; a worker that
   * differs would deadlock or diverge later, so all of them throw here together instead.
   */
  async agree(facts: Record<string, number>): Promise<void> {
    const names = Object.keys(facts);
    const mine = Float64Array.from(names.map((n) => facts[n]));
    const root = await this.group.broadcast(mine.slice(), 0);
    const differ = names.filter((_, i) => root[i] !== mine[i]);
    const count = await this.group.allreduce(Float64Array.of(differ.length), 'sum');
    if (count[0] > 0) {
      throw new RnnkitError(`distributed: the workers disagree on what to train (rank ${this.rank} differs from ` +
        `rank 0 in ${differ.length ? differ.map((n) => `${n}: ${facts[n]} here, ${root[names.indexOf(n)]} on rank 0`).join('; ')
          : 'nothing, another rank does'}); every worker must pass the same data, model and options`, 'ERR_RNNKIT_DISTRIBUTED');
    }
  }

  /** Rank 0's weights on every worker (DDP's initial broadcast). */
  async broadcastWeights(parameters: Float32Array): Promise<void> {
    await this.group.broadcast(parameters, 0);
  }

  /**
   * This rank's part of a global batch: contiguous, as even as it can be (sizes differ by at most one,
   * and a short last batch may leave a rank none, which still takes part in the step).
   */
  shard<T>(batch: readonly T[]): T[] {
    const n = this.group.worldSize, r = this.group.rank;
    return batch.slice(Math.floor((r * batch.length) / n), Math.floor(((r + 1) * batch.length) / n));
  }

  /** Validation batches, strided over the ranks (each evaluated by one). */
  mine<T>(batches: readonly T[]): T[] {
    return batches.filter((_, i) => i % this.group.worldSize === this.group.rank);
  }

  /**
   * A step's own generator (dropout, scheduled sampling): seeded from one draw of the model's, which
   * so stays the same on every rank (it is checkpointed by rank 0), and from the rank, so shards do
   * not share masks.
   */
  stepRandom(model: Random): Random {
    return new Random(model.nextUint32() * 4096 + this.group.rank);
  }

  /**
   * Turns this rank's gradients of its shard's mean loss into the global batch's: weights them by the
   * shard's share of the loss terms, then sums over the ranks (one allreduce of the flat buffer).
   * Returns the global batch's summed loss and count.
   */
  async reduceGradients(gradients: Float32Array, local: BatchResult): Promise<BatchResult> {
    this.scalars[0] = local.loss;
    this.scalars[1] = local.count;
    await this.group.allreduce(this.scalars, 'sum');
    const total: BatchResult = { loss: this.scalars[0], count: this.scalars[1] };
    const share = total.count > 0 ? local.count / total.count : 0;
    if (share !== 1) await native.scaleAsync(gradients, share);
    await this.group.allreduce(gradients, 'sum');
    return total;
  }

  /** Summed [loss, count] over the ranks. */
  async reduceLoss(local: BatchResult): Promise<BatchResult> {
    this.scalars[0] = local.loss;
    this.scalars[1] = local.count;
    await this.group.allreduce(this.scalars, 'sum');
    return { loss: this.scalars[0], count: this.scalars[1] };
  }

  /**
   * Rank 0's decisions for the next step, on every rank: whether its clock says the time budget is spent,
   * and the learning rate (a schedule may read a clock too, and ranks' clocks differ).
   */
  async fromRoot(late: boolean, lr: number): Promise<{ late: boolean; lr: number }> {
    this.control[0] = late ? 1 : 0;
    this.control[1] = lr;
    await this.group.broadcast(this.control, 0);
    return { late: this.control[0] === 1, lr: this.control[1] };
  }
}
