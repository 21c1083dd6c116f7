// Threads rnnkit's native kernels may use per call, shared by every layer in
// the process. OpenBLAS itself is held at one thread; rnnkit's own pool (whose
// workers sleep between jobs) splits the work. A server that must keep its
// event loop responsive can leave a core free: setNumThreads(cores - 1).
// On Linux the pool keeps its workers off the caller's CPU for each job
// (RNNKIT_KEEP_AFFINITY=1 turns that off; see native/kernels/parallel.h).

import { checkPositiveInteger } from './check';
import { native } from './native';

/** Threads a native call may use, the calling thread included (default: the machine's cores, at most 64). */
export function setNumThreads(threads: number): void {
  native.setNumThreads(checkPositiveInteger('threads', threads, 1024));
}

export function getNumThreads(): number {
  return native.getNumThreads();
}
