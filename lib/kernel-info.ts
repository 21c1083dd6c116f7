// Which kernel paths this process runs, for bug reports, benchmarks and tests
// that must say what they measured (see "Determinism" in the README).

import { native, type IsaName } from './native';

export type { IsaName };

export interface KernelInfo {
  /** rnnkit's instruction-set path: RNNKIT_ISA capped at the CPU's best ('baseline' off x86-64). */
  isa: IsaName;
  /** The best path this CPU can run. */
  cpuIsa: IsaName;
  /** OpenBLAS's kernel family (its CPU detection, or OPENBLAS_CORETYPE), e.g. 'Haswell'. */
  blasCore: string;
  /** OpenBLAS's build configuration string. */
  blasConfig: string;
}

export function kernelInfo(): KernelInfo {
  return { ...native.kernelInfo() };
}
