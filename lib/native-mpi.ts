// The optional distributed module (rnnkit_mpi.node, Open MPI's collectives), typed once and
// loaded on first use: the library loads and works without it. A missing module or engine
// throws ERR_RNNKIT_DISTRIBUTED_UNAVAILABLE naming what to install.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { RnnkitError } from './errors';

type Collective = Float32Array | Float64Array;
export type Broadcastable = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface NativeMpi {
  init(): { rank: number; worldSize: number; library: string };
  /** Sums over every rank in place, then divides by `divisor` (1: the sum). */
  allreduceAsync(buffer: Collective, divisor: number): Promise<void>;
  broadcastAsync(buffer: Broadcastable, root: number): Promise<void>;
  barrierAsync(): Promise<void>;
  /** Ends every process of the job with this exit code. */
  abort(code: number): void;
  finalize(): void;
}

const INSTALL = 'Install Open MPI and rebuild rnnkit from source: apt-get install -y libopenmpi-dev openmpi-bin ' +
  '(Debian/Ubuntu), then `npm rebuild rnnkit --build-from-source` (in this repository: npm run build:native).';

function unavailable(what: string, cause?: unknown): RnnkitError {
  return new RnnkitError(`distributed: ${what}\n${INSTALL}`, 'ERR_RNNKIT_DISTRIBUTED_UNAVAILABLE', { cause });
}

let loaded: NativeMpi | null = null;

/** RNNKIT_MPI_ADDON_PATH, else build/Release (or build-cmake/Release) from a source build. */
export function loadNativeMpi(): NativeMpi {
  if (loaded) return loaded;
  const root = path.join(__dirname, '..', '..');  // dist/lib -> package root
  const override = process.env.RNNKIT_MPI_ADDON_PATH;
  // Never prebuilt (it must match the Open MPI that runs mpirun), so PREBUILDS_ONLY has none.
  const candidates = override ? [path.resolve(override)] : process.env.PREBUILDS_ONLY ? []
    : ['build/Release', 'build-cmake/Release'].map((d) => path.join(root, d, 'rnnkit_mpi.node'));
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) {
    throw unavailable(override ? `RNNKIT_MPI_ADDON_PATH names ${candidates[0]}, which does not exist.`
      : process.env.PREBUILDS_ONLY ? 'the distributed module is never prebuilt (it must match the system\'s Open MPI), ' +
        'and PREBUILDS_ONLY is set.'
        : `the optional distributed module (rnnkit_mpi.node) was not built: Open MPI's mpicc was not found when ` +
          `rnnkit was built.`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    loaded = require(file) as NativeMpi;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw unavailable(`the distributed module ${file} could not be loaded: ${reason}`, error);
  }
  return loaded;
}
