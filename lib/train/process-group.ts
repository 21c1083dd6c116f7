// A group of worker processes and its collectives (allreduce, broadcast, barrier) on the optional
// Open MPI module. Collectives run one at a time, in call order, on native worker threads; each
// has a deadline, and a collective past it fails the whole job (MPI_Abort) instead of hanging.
// What data-parallel training does with them is in data-parallel.ts.

import { describe } from '../check';
import { RnnkitError, typeError, valueError } from '../errors';
import { loadNativeMpi, type Broadcastable, type NativeMpi } from '../native-mpi';

export interface DistributedInitOptions {
  /** The collective engine; Open MPI is the one built in (workers started by `mpirun -np N`). */
  backend?: 'mpi';
  /**
   * A collective that waits longer than this for the other workers (one died, hangs, or took another
   * path through the program) rejects with ERR_RNNKIT_DISTRIBUTED_TIMEOUT and then aborts the job
   * (default 5 minutes).
   */
  timeoutMs?: number;
}

export type ReduceOp = 'sum' | 'mean';

/** How long a timed-out collective's error has to reach its handlers before the job is aborted. */
const ABORT_GRACE_MS = 500;

export class ProcessGroup {
  readonly backend = 'mpi';
  /** This worker's index, 0 .. worldSize - 1; rank 0 writes checkpoints, logs and reports. */
  readonly rank: number;
  readonly worldSize: number;
  readonly timeoutMs: number;
  /** The MPI library's own version line. */
  readonly library: string;
  private queue: Promise<unknown> = Promise.resolve();
  private state: 'open' | 'closed' | 'broken' = 'open';
  private failure: RnnkitError | null = null;

  /** @internal Use distributed.init. */
  constructor(private readonly mpi: NativeMpi, info: { rank: number; worldSize: number; library: string }, timeoutMs: number) {
    this.rank = info.rank;
    this.worldSize = info.worldSize;
    this.library = info.library;
    this.timeoutMs = timeoutMs;
  }

  get isOpen(): boolean { return this.state === 'open'; }

  /** Sums `buffer` over every worker in place ('mean': then divides by worldSize); every worker gets the same bits. */
  allreduce<T extends Float32Array | Float64Array>(buffer: T, op: ReduceOp = 'sum'): Promise<T> {
    if (!(buffer instanceof Float32Array) && !(buffer instanceof Float64Array)) {
      throw typeError(`buffer: expected a Float32Array or Float64Array, got ${describe(buffer)}`);
    }
    if (op !== 'sum' && op !== 'mean') throw valueError(`op: expected 'sum' or 'mean', got ${describe(op)}`);
    const divisor = op === 'mean' ? this.worldSize : 1;
    return this.run('allreduce', () => this.mpi.allreduceAsync(buffer, divisor)).then(() => buffer);
  }

  /** Copies root's `buffer` into every worker's (each passes a buffer of the same type and length). */
  broadcast<T extends Broadcastable>(buffer: T, root = 0): Promise<T> {
    if (!(buffer instanceof Float32Array || buffer instanceof Float64Array || buffer instanceof Int32Array ||
      buffer instanceof Uint8Array)) {
      throw typeError(`buffer: expected a Float32Array, Float64Array, Int32Array or Uint8Array, got ${describe(buffer)}`);
    }
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      throw valueError(`root: expected a rank in [0, ${this.worldSize - 1}], got ${describe(root)}`);
    }
    return this.run('broadcast', () => this.mpi.broadcastAsync(buffer, root)).then(() => buffer);
  }

  /** Resolves once every worker has called it. */
  barrier(): Promise<void> {
    return this.run('barrier', () => this.mpi.barrierAsync());
  }

  /** Waits for queued collectives, then leaves the group (MPI_Finalize); a process's group cannot reopen. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    await this.queue.catch(() => undefined);
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.mpi.finalize();
  }

  /**
   * @internal The exit hook: leave the group if the user did not, so mpirun sees a clean exit. After a
   * timeout a collective's thread is stuck in MPI and the process could not finish exiting: abort the job.
   */
  finalizeAtExit(): void {
    if (this.state === 'broken') this.mpi.abort(1);
    if (this.state !== 'open') return;
    this.state = 'closed';
    try { this.mpi.finalize(); } catch { /* a collective still running: MPI ends with the process */ }
  }

  /**
   * A timeout or an engine error breaks the group: the other workers are blocked, or will block, in a
   * collective this one will not join. The error is printed (it may never reach a handler that does)
   * and, after its handlers had a moment, MPI_Abort ends every worker of the job; a collective's thread
   * stuck in MPI would keep this process from exiting on its own anyway.
   */
  private fail(error: RnnkitError): RnnkitError {
    if (this.failure) return this.failure;
    this.failure = error;
    this.state = 'broken';
    process.stderr.write(`rnnkit: ${error.message}\n`);
    setTimeout(() => this.mpi.abort(1), ABORT_GRACE_MS);
    return error;
  }

  private run(what: string, start: () => Promise<void>): Promise<void> {
    if (this.state === 'closed') {
      throw new RnnkitError(`distributed: ${what} on a closed group`, 'ERR_RNNKIT_DISTRIBUTED');
    }
    if (this.failure) throw this.failure;
    const next = this.queue.catch(() => undefined).then(() => this.withDeadline(what, start));
    this.queue = next;
    return next;
  }

  private withDeadline(what: string, start: () => Promise<void>): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(this.fail(new RnnkitError(`distributed: ${what} on rank ${this.rank} of ${this.worldSize} got no answer ` +
          `from the other workers within ${this.timeoutMs} ms (a worker died, hangs, or took another path through ` +
          'the program); aborting the job', 'ERR_RNNKIT_DISTRIBUTED_TIMEOUT')));
      }, this.timeoutMs);
      start().then(() => { clearTimeout(timer); resolve(); }, (error: unknown) => {
        clearTimeout(timer);
        const reason = error instanceof Error ? error.message : String(error);
        reject(this.fail(new RnnkitError(`distributed: ${what} on rank ${this.rank} failed: ${reason}; aborting the job`,
          'ERR_RNNKIT_DISTRIBUTED', { cause: error })));
      });
    });
  }
}

let group: ProcessGroup | null = null;

/**
 * Joins the job's group of workers (under `mpirun -np N`; started plainly, a group of one). The
 * same group comes back on every call in a process until it is closed.
 */
export async function init(options: DistributedInitOptions = {}): Promise<ProcessGroup> {
  if (typeof options !== 'object' || options === null) throw typeError(`options: expected an object, got ${describe(options)}`);
  const backend = options.backend ?? 'mpi';
  if (backend !== 'mpi') {
    throw valueError(`backend: expected 'mpi' (Open MPI; the one built in), got ${describe(backend)}`);
  }
  const timeoutMs = options.timeoutMs ?? 300_000;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw valueError(`timeoutMs: expected a positive number of milliseconds, got ${describe(timeoutMs)}`);
  }
  if (group?.isOpen) return group;
  if (group) throw new RnnkitError('distributed: this process already closed its group, and MPI cannot start twice', 'ERR_RNNKIT_DISTRIBUTED');
  const mpi = loadNativeMpi();
  const g = new ProcessGroup(mpi, mpi.init(), timeoutMs);
  group = g;
  process.once('exit', () => g.finalizeAtExit());
  return g;
}
