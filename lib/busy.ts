// Guards an object whose async native work borrows its buffers: while such a
// call runs, every other use throws ERR_RNNKIT_BUSY instead of racing it.

import { RnnkitError } from './errors';

export class BusyGuard {
  private pending = 0;

  constructor(private readonly what: string) {}

  /** Throws when async work is still running. */
  assertIdle(): void {
    if (this.pending > 0) {
      throw new RnnkitError(`an async call is still running on this ${this.what}; await it first`, 'ERR_RNNKIT_BUSY');
    }
  }

  /** Marks the object busy until `work` settles. */
  async track<T>(work: Promise<T>): Promise<T> {
    this.pending++;
    try {
      return await work;
    } finally {
      this.pending--;
    }
  }
}
