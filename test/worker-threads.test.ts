// The addon is context-aware: rnnkit loads in several worker_threads at once, each trains (sync
// and async native calls) at the same time as the other, and gets the main thread's numbers for
// the same seed. This file is also the workers' script: in a worker it trains and posts the result.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Adam, GRU, mseLoss, type Tensor } from '../lib';
import { randomArray } from './helpers/random-array';

interface TrainResult {
  losses: number[];
  parameters: Float32Array;
}

interface WorkerJob {
  rnnkitWorkerTest: true;
  seed: number;
  steps: number;
  /** Both workers wait here until all have loaded rnnkit, so they train at the same time. */
  barrier: SharedArrayBuffer;
  parties: number;
}

/** A 2-layer GRU fitted to a fixed target with Adam; odd steps use the async (libuv pool) calls. */
async function train(seed: number, steps: number): Promise<TrainResult> {
  const T = 12, B = 3, I = 4, H = 8;
  const gru = new GRU({ inputSize: I, hiddenSize: H, numLayers: 2, seed });
  const optimizer = new Adam({ lr: 1e-2 });
  const x: Tensor = { data: randomArray(T * B * I, seed + 1), shape: [T, B, I] };
  const target: Tensor = { data: randomArray(T * B * H, seed + 2).map((v) => v * 0.5), shape: [T, B, H] };
  const losses: number[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      gru.zeroGrad();
      if (step % 2 === 0) {
        const { output } = gru.forward(x, { training: true });
        const { loss, dPred } = mseLoss(output, target);
        gru.backward({ dOutput: dPred });
        optimizer.step(gru.parameters, gru.gradients);
        losses.push(loss);
      } else {
        const { output } = await gru.forwardAsync(x, { training: true });
        const { loss, dPred } = mseLoss(output, target);
        await gru.backwardAsync({ dOutput: dPred });
        await optimizer.stepAsync(gru.parameters, gru.gradients);
        losses.push(loss);
      }
    }
    return { losses, parameters: gru.parameters.slice() };
  } finally {
    gru.dispose();
  }
}

function runWorker(job: WorkerJob): Promise<TrainResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: job });
    let result: TrainResult | undefined;
    worker.once('message', (message: TrainResult) => { result = message; });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`worker exited with code ${code}${result ? '' : ' before posting a result'}`));
    });
  });
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.rnnkitWorkerTest) {
  const job = workerData as WorkerJob;
  // Loading rnnkit here (the import above) registered the addon in this worker's environment.
  const arrived = new Int32Array(job.barrier);
  Atomics.add(arrived, 0, 1);
  Atomics.notify(arrived, 0);
  while (Atomics.load(arrived, 0) < job.parties) Atomics.wait(arrived, 0, Atomics.load(arrived, 0), 10_000);
  train(job.seed, job.steps).then((result) => parentPort!.postMessage(result), (error: unknown) => {
    throw error;
  });
} else if (typeof describe === 'function') {
  describe('rnnkit in worker_threads', function () {
    this.timeout(60_000);

    it('two workers load rnnkit at once, train at the same time, and match the main thread bit for bit', async () => {
      const seeds = [11, 12];
      const steps = 8;
      const barrier = new SharedArrayBuffer(4);
      const inWorkers = await Promise.all(seeds.map((seed) =>
        runWorker({ rnnkitWorkerTest: true, seed, steps, barrier, parties: seeds.length })));
      for (const [i, seed] of seeds.entries()) {
        const onMain = await train(seed, steps);
        assert.deepEqual(inWorkers[i].losses, onMain.losses, `seed ${seed}: losses`);
        assert.deepEqual(inWorkers[i].parameters, onMain.parameters, `seed ${seed}: parameters`);
        assert.ok(onMain.losses[steps - 1] < onMain.losses[0], `seed ${seed}: training lowered the loss`);
      }
      assert.notDeepEqual(inWorkers[0].parameters, inWorkers[1].parameters, 'different seeds train differently');
    });

    it('a worker loads rnnkit again after an earlier worker that used it has exited', async () => {
      const barrier = new SharedArrayBuffer(4);
      const first = await runWorker({ rnnkitWorkerTest: true, seed: 5, steps: 2, barrier, parties: 1 });
      const second = await runWorker({ rnnkitWorkerTest: true, seed: 5, steps: 2, barrier, parties: 1 });
      assert.deepEqual(second.parameters, first.parameters);
    });

    it('terminating a worker while its native work is in flight leaves the process running', () => {
      // In a child process, so a crash shows up as a failed test rather than killing mocha.
      const lib = require.resolve('../lib');
      const script = `
        const { Worker } = require('node:worker_threads');
        const worker = new Worker(${JSON.stringify(`
          const { GRU } = require(${JSON.stringify(lib)});
          const gru = new GRU({ inputSize: 64, hiddenSize: 256, numLayers: 2, seed: 1 });
          const x = { data: new Float32Array(200 * 16 * 64).fill(0.1), shape: [200, 16, 64] };
          const loop = () => gru.forwardAsync(x, { training: true }).then(loop);
          loop();
          require('node:worker_threads').parentPort.postMessage('started');
        `)}, { eval: true });
        worker.once('message', () => setTimeout(() => worker.terminate().then((code) => {
          const { GRU } = require(${JSON.stringify(lib)});
          const gru = new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 });
          gru.forward({ data: new Float32Array(2), shape: [1, 1, 2] });
          console.log('survived ' + code);
        }), 50));
      `;
      const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, `child exited with ${run.status} (signal ${run.signal}):\n${run.stderr}`);
      assert.match(run.stdout, /survived 1/);
    });
  });
}
