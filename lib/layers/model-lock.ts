// One long async operation at a time on a model (fit, evaluate, an async
// predict; async predicts queue), and no use of its layers from outside that
// operation while it runs: a predict, save or loadStateDict from other code
// between two of its awaits would read weights that an optimizer thread is
// writing, change them under the training, or reuse a decoder's workspace.
// Code that runs inside the operation (its own steps, and callbacks it awaits,
// such as onBatchEnd/onEpochEnd) keeps access: AsyncLocalStorage tells them apart.

import { AsyncLocalStorage } from 'node:async_hooks';
import { BusyGuard } from '../busy';
import { RnnkitError } from '../errors';
import { BatchScratch, withBatchScratch } from './batch-scratch';

const inside = new AsyncLocalStorage<ReadonlySet<ModelLock>>();

export class ModelLock {
  private held = false;
  /** The holder came through queue(): further queue() calls wait instead of being refused. */
  private queueing = false;
  private readonly waiting: Array<() => void> = [];
  private disposed = false;
  /** The one record of async native calls in flight on any of the owner's modules. */
  readonly busy: BusyGuard;
  private readonly scratch = new BatchScratch();
  private inBatch = false;

  constructor(private readonly what: string) {
    this.busy = new BusyGuard(what);
  }

  /** Runs `work` holding the lock; a call while it is held is refused with ERR_RNNKIT_BUSY. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.assertNotDisposed();
    if (this.held) {
      throw new RnnkitError(`this ${this.what} is already training, evaluating or predicting; await the running call first`,
        'ERR_RNNKIT_BUSY');
    }
    this.held = true;
    this.queueing = false;
    return this.hold(work);
  }

  /**
   * Runs `work` holding the lock, after the queued calls before it (async inference: a server's requests
   * wait their turn rather than fail). Refused while run() holds the lock, except from inside that work
   * (e.g. a predictAsync in fit's onEpochEnd), which runs as part of it. The lock is taken at the call,
   * so a fit() made after a queued call waits for nothing and is refused.
   */
  async queue<T>(work: () => Promise<T>): Promise<T> {
    this.assertNotDisposed();
    if (this.held && inside.getStore()?.has(this)) return work();
    if (this.held && !this.queueing) {
      throw new RnnkitError(`this ${this.what} is training or evaluating; await that call first`, 'ERR_RNNKIT_BUSY');
    }
    if (this.held) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));  // handed over still held
    } else {
      this.held = true;
      this.queueing = true;
    }
    return this.hold(work);
  }

  private async hold<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await inside.run(new Set([...(inside.getStore() ?? []), this]), work);
    } finally {
      const next = this.queueing ? this.waiting.shift() : undefined;
      if (next) next();
      else this.held = false;
    }
  }

  /** Throws ERR_RNNKIT_BUSY when the lock is held and the caller is not part of the work holding it. */
  assertAccess(): void {
    this.assertNotDisposed();
    if (this.held && !inside.getStore()?.has(this)) {
      throw new RnnkitError(`this ${this.what} is training, evaluating or predicting; await that call first ` +
        '(its onBatchEnd/onEpochEnd callbacks may use it)', 'ERR_RNNKIT_BUSY');
    }
  }

  /**
   * Runs one training or evaluation batch (`work`: the structure's own forward and backward) with
   * its per-call buffers taken from the model's batch scratch (batchFloat32). Nothing made in it may
   * be handed out: the next batch writes over it.
   */
  async batch<T>(work: () => Promise<T>): Promise<T> {
    if (this.inBatch) {
      throw new RnnkitError(`this ${this.what} is already running a batch; await it first`, 'ERR_RNNKIT_BUSY');
    }
    this.inBatch = true;
    try {
      return await withBatchScratch(this.scratch, work);
    } finally {
      this.inBatch = false;
    }
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** From now on every use of the owner and of its modules throws ERR_RNNKIT_DISPOSED. */
  markDisposed(): void {
    this.disposed = true;
    this.scratch.release();
  }

  private assertNotDisposed(): void {
    if (this.disposed) throw new RnnkitError(`this ${this.what} was disposed; create or load a new one`, 'ERR_RNNKIT_DISPOSED');
  }
}
