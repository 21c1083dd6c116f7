// Size of OpenBLAS's thread pool, shared by every layer in the process.

import { checkPositiveInteger } from './check';
import { native } from './native';

/** Threads OpenBLAS may use per GEMM (set it explicitly so it does not fight libuv's pool). */
export function setNumThreads(threads: number): void {
  native.setNumThreads(checkPositiveInteger('threads', threads, 1024));
}

export function getNumThreads(): number {
  return native.getNumThreads();
}
