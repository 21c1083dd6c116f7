// One worker of the distributed tests, started by mpirun from test/distributed.test.ts:
// `node distributed.child.js SCENARIO OUT_DIR [JSON]`. It writes what it saw into
// OUT_DIR/rank-<r>.json for the test to compare across workers and with one process.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { distributed, setNumThreads, type FitOptions } from '../lib';
import { makeOptimizer } from '../lib/train/fit';
import { baseOptions, makeModel, PER_WORKER_BATCH, trainingData, validationData, type CaseName } from './helpers/distributed-cases';

export interface TrainConfig {
  case: CaseName;
  epochs: number;
  /** Checkpoint into OUT_DIR/checkpoint-rank<r>.safetensors (only rank 0 must write). */
  checkpoint?: boolean;
  resumeFrom?: string;
  /** Each rank starts from other weights (the broadcast must replace them with rank 0's). */
  seedByRank?: boolean;
  validation?: boolean;
  earlyStopping?: { patience: number; minDelta?: number; restoreBest?: boolean };
  /** This rank stops taking part at this step (0-based) and waits forever: a hung worker. */
  stall?: { rank: number; step: number };
  timeoutMs?: number;
  /** Rank 1 asks for one epoch more than the others: the workers must all refuse to start. */
  disagree?: boolean;
  /** On an error, do not exit: the group's own abort must end the job. */
  stayAfterError?: boolean;
  /** fit's weight averaging. */
  averaging?: { decay: number; startStep?: number };
}

export interface TrainResult {
  rank: number;
  worldSize: number;
  pid: number;
  /** sha256 of the weights before the broadcast, after each optimizer step, and at the end. */
  initial: string;
  afterStep: string[];
  final: string;
  parameters: number[];
  history: { epochs: Array<{ loss: number; validationLoss?: number }>; stoppedEarly: boolean; bestEpoch: number | null };
  batchReports: number;
}

const hash = (p: Float32Array) => createHash('sha256').update(Buffer.from(p.buffer, p.byteOffset, p.byteLength)).digest('hex');

async function collectives(out: string): Promise<void> {
  const group = await distributed.init({ timeoutMs: 20000 });
  const { rank, worldSize } = group;
  const f32 = await group.allreduce(Float32Array.of(rank + 1, 0.5, -rank), 'sum');
  const f64 = await group.allreduce(Float64Array.of(rank + 1, 1 / 3), 'mean');
  const root = worldSize - 1;
  const b = {
    f32: await group.broadcast(Float32Array.of(rank === root ? 1.25 : 0, rank === root ? -7 : 0), root),
    f64: await group.broadcast(Float64Array.of(rank === root ? Math.PI : 0), root),
    i32: await group.broadcast(Int32Array.of(rank === root ? -123456 : 0), root),
    u8: await group.broadcast(Uint8Array.of(rank === root ? 200 : 0, rank === root ? 7 : 0), root),
  };
  // The event loop stays free while a collective waits: a timer fires during a barrier that rank 0 enters late.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  if (rank === 0) await new Promise((r) => setTimeout(r, 300));
  await group.barrier();
  clearInterval(timer);
  await group.close();
  fs.writeFileSync(path.join(out, `rank-${rank}.json`), JSON.stringify({
    rank, worldSize, pid: process.pid, f32: Array.from(f32), f64: Array.from(f64),
    b: Object.fromEntries(Object.entries(b).map(([k, v]) => [k, Array.from(v)])), ticks,
  }));
}

/** An engine error: rank 1 receives a broadcast into a shorter buffer than rank 0 sends (MPI_ERR_TRUNCATE). */
async function mismatch(): Promise<void> {
  const group = await distributed.init({ timeoutMs: 20000 });
  process.stdout.write(`pid ${group.rank} ${process.pid}\n`);
  await group.broadcast(new Float32Array(group.rank === 0 ? 1000 : 10), 0);
  await group.barrier();
  await group.close();
}

async function train(out: string, config: TrainConfig): Promise<void> {
  const group = await distributed.init({ timeoutMs: config.timeoutMs ?? 30000 });
  const { rank } = group;
  process.stdout.write(`pid ${rank} ${process.pid}\n`);
  const model = makeModel(config.case, config.seedByRank ? 1000 + rank : undefined);
  const initial = hash(model.parameters);
  const afterStep: string[] = [];
  // Every rank's weights after each optimizer step (every rank steps, even one whose shard was empty).
  const base = baseOptions(PER_WORKER_BATCH);
  const optimizer = makeOptimizer(base.optimizer);
  const step = optimizer.stepCheckedAsync!.bind(optimizer);
  optimizer.stepCheckedAsync = async (params, grads, o) => {
    const r = await step(params, grads, o);
    afterStep.push(hash(params as Float32Array));
    return r;
  };
  const trainBatch = model.trainBatch.bind(model);
  model.trainBatch = async (batch, context) => {
    if (config.stall && config.stall.rank === rank && afterStep.length >= config.stall.step) {
      process.stdout.write(`stalled ${rank}\n`);
      setInterval(() => undefined, 1000);
      await new Promise(() => undefined);
    }
    return trainBatch(batch, context);
  };
  let batchReports = 0;
  const options: FitOptions<unknown> = {
    ...base, optimizer, epochs: config.epochs + (config.disagree && rank === 1 ? 1 : 0), distributed: group,
    onBatchEnd: () => { batchReports++; },
  };
  if (config.checkpoint) options.checkpointPath = path.join(out, `checkpoint-rank${rank}.safetensors`);
  if (config.resumeFrom) options.resumeFrom = config.resumeFrom;
  if (config.validation) options.validation = validationData(config.case);
  if (config.earlyStopping) options.earlyStopping = config.earlyStopping;
  if (config.averaging) options.averaging = config.averaging;
  const history = await model.fit(trainingData(config.case), options);
  await group.close();
  const result: TrainResult = {
    rank, worldSize: group.worldSize, pid: process.pid, initial, afterStep, final: hash(model.parameters),
    parameters: Array.from(model.parameters), batchReports,
    history: { epochs: history.epochs.map((e) => ({ loss: e.loss, validationLoss: e.validationLoss })),
      stoppedEarly: history.stoppedEarly, bestEpoch: history.bestEpoch },
  };
  fs.writeFileSync(path.join(out, `rank-${rank}.json`), JSON.stringify(result));
}

if (require.main === module) {
  setNumThreads(1);  // one thread per worker: the workers share the machine's cores
  const [scenario, out, json] = process.argv.slice(2);
  const config = scenario === 'train' ? JSON.parse(json) as TrainConfig : null;
  const run = config ? train(out, config) : scenario === 'mismatch' ? mismatch() : collectives(out);
  run.catch((error: { code?: string; message?: string }) => {
    process.stderr.write(`worker failed: ${error.code ?? ''} ${error.message ?? String(error)}\n`);
    if (config?.stayAfterError) setInterval(() => undefined, 1000);
    else process.exit(3);
  });
}
