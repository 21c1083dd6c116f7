// Buffers that one training batch's forward and backward use and drop, kept
// from batch to batch instead of allocated anew. Each batch of the g2p model
// allocated about 10 MiB of typed arrays (layer outputs, their gradients,
// copies kept for backward); V8 counts their backing stores as external
// memory and answered with a full mark-compact of the whole heap about twice
// a second, pauses of 10-80 ms on the event loop that fit is meant to keep
// free. A batch asks for its buffers in the same order every time, so the
// n-th request of a batch gets the n-th slot, grown when a longer batch needs
// more. Only what a structure's trainBatch/evaluateBatch makes and consumes
// may come from here: nothing handed to a caller outlives the batch.

import { AsyncLocalStorage } from 'node:async_hooks';
import { allocateFloat32, MAX_TENSOR_ELEMENTS } from './allocation';

// The scratch of the batch whose code is running: only the batch's own calls see it, not a callback
// or a request that runs meanwhile.
const current = new AsyncLocalStorage<BatchScratch>();

/** Runs `work` (one batch's forward and backward) with batchFloat32 served from `scratch`, from its first slot. */
export function withBatchScratch<T>(scratch: BatchScratch, work: () => Promise<T>): Promise<T> {
  scratch.begin();
  return current.run(scratch, work);
}

/**
 * A zeroed buffer of `count` floats (zero = false: the caller writes every element) for a call's
 * result: from the running batch's scratch, valid until the next batch, when a batch's code asks;
 * otherwise new, and the caller's to keep.
 */
export function batchFloat32(name: string, count: number, zero = true): Float32Array {
  const scratch = current.getStore();
  return scratch ? scratch.float32(name, count, zero) : allocateFloat32(name, count);
}

export class BatchScratch {
  private slots: Float32Array[] = [];
  private next = 0;

  /** Starts a batch: from now on requests get the slots from the first again. */
  begin(): void {
    this.next = 0;
  }

  /**
   * `count` floats, zeroed as a new Float32Array would be (zero = false: the caller writes every
   * one), valid until the next begin(). Grows by a quarter more than asked, so batches a few
   * steps longer reuse it too.
   */
  float32(name: string, count: number, zero = true): Float32Array {
    const at = this.next++;
    let slot = this.slots[at];
    if (!slot || slot.length < count) {
      if (slot) this.slots[at] = new Float32Array(0);  // let the old one go before allocating the larger
      slot = allocateFloat32(name, Math.max(count, Math.min(Math.ceil(count * 1.25), MAX_TENSOR_ELEMENTS)));
      this.slots[at] = slot;
    }
    const view = slot.subarray(0, count);
    if (zero) view.fill(0);
    return view;
  }

  /** Drops every slot (the model is disposed, or its buffers should go back to the system). */
  release(): void {
    this.slots = [];
    this.next = 0;
  }

  /** Bytes held, for tests and diagnostics. */
  get bytes(): number {
    return this.slots.reduce((n, s) => n + s.byteLength, 0);
  }
}
