// One long async operation at a time on a model (fit, evaluate), and no use of
// its layers from outside that operation while it runs: a predict, save or
// loadStateDict from other code between two of its awaits would read weights
// that an optimizer thread is writing, or change them under the training.
// Code that runs inside the operation (its own steps, and callbacks it awaits,
// such as onBatchEnd/onEpochEnd) keeps access: AsyncLocalStorage tells them apart.

import { AsyncLocalStorage } from 'node:async_hooks';
import { RnnkitError } from '../errors';

const inside = new AsyncLocalStorage<ReadonlySet<ModelLock>>();

export class ModelLock {
  private held = false;
  private disposed = false;

  constructor(private readonly what: string) {}

  /** Runs `work` holding the lock; a second call while it is held is refused with ERR_RNNKIT_BUSY. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.assertNotDisposed();
    if (this.held) {
      throw new RnnkitError(`this ${this.what} is already training or evaluating; await the running call first`, 'ERR_RNNKIT_BUSY');
    }
    this.held = true;
    try {
      return await inside.run(new Set([...(inside.getStore() ?? []), this]), work);
    } finally {
      this.held = false;
    }
  }

  /** Throws ERR_RNNKIT_BUSY when the lock is held and the caller is not part of the work holding it. */
  assertAccess(): void {
    this.assertNotDisposed();
    if (this.held && !inside.getStore()?.has(this)) {
      throw new RnnkitError(`this ${this.what} is training or evaluating; await that call first ` +
        '(its onBatchEnd/onEpochEnd callbacks may use it)', 'ERR_RNNKIT_BUSY');
    }
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** From now on every use of the owner and of its modules throws ERR_RNNKIT_DISPOSED. */
  markDisposed(): void {
    this.disposed = true;
  }

  private assertNotDisposed(): void {
    if (this.disposed) throw new RnnkitError(`this ${this.what} was disposed; create or load a new one`, 'ERR_RNNKIT_DISPOSED');
  }
}
