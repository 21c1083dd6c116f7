// `rnnkit train` under mpirun: the job's group when the launcher started more than one worker,
// the batch each worker takes (the run's batch size split, so a step sees the same number of
// examples as one process would), and a thread count that does not oversubscribe the machine.

import { cpus } from 'node:os';
import { init, type ProcessGroup } from '../train/process-group';
import { UsageError } from './tasks/task';

/** Open MPI's launcher sets these in every worker's environment. */
export function launchedWorkers(): { size: number; localSize: number } | null {
  const size = Number(process.env.OMPI_COMM_WORLD_SIZE ?? 1);
  if (!(size > 1)) return null;
  return { size, localSize: Number(process.env.OMPI_COMM_WORLD_LOCAL_SIZE ?? size) };
}

export async function joinWorkers(): Promise<ProcessGroup | null> {
  return launchedWorkers() ? init({ backend: 'mpi' }) : null;
}

export function perWorkerBatch(batchSize: number, workers: number): number {
  if (batchSize % workers !== 0) {
    throw new UsageError(`--batch-size ${batchSize} does not split evenly over ${workers} workers; pass a multiple of ${workers} ` +
      '(each step takes the whole batch, batch-size / workers on each)');
  }
  return batchSize / workers;
}

/** Native threads per worker when --threads is not given: this machine's cores shared by its workers. */
export function threadsPerWorker(): number {
  const w = launchedWorkers();
  return Math.max(1, Math.floor(cpus().length / (w ? w.localSize : 1)));
}
