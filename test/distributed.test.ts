// Data-parallel training over Open MPI, on loopback: workers started by mpirun from here. N workers
// on shards equal one process on the N-times larger batch (within rounding), hold bit-identical
// weights after every step, start from rank 0's weights, checkpoint on rank 0 only and resume bit
// for bit, stop early together, and a dead or hung worker ends the job with an error in bounded time.
// Without Open MPI (or under PREBUILDS_ONLY) the multi-process tests skip, saying why; the library
// still loads and distributed.init throws a clear coded error (tested here either way).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { distributed, RnnkitError } from '../lib';
import { evaluateLoss } from '../lib/train/fit';
import type { TrainConfig, TrainResult } from './distributed.child';
import { baseOptions, makeModel, PER_WORKER_BATCH, trainingData, validationData, type CaseName } from './helpers/distributed-cases';
import { assertNoOrphans, launch, launchProgram, mpiSkipReason } from './helpers/mpi-launch';
import { tempDir } from './helpers/structures';

const LIB = path.join(__dirname, '..', 'lib', 'index.js');
const CLI = path.join(__dirname, '..', '..', 'bin', 'rnnkit');

function readRanks<T>(dir: string, n: number): T[] {
  return Array.from({ length: n }, (_, r) => JSON.parse(fs.readFileSync(path.join(dir, `rank-${r}.json`), 'utf8')) as T);
}

async function trainJob(np: number, dir: string, config: TrainConfig): Promise<TrainResult[]> {
  fs.mkdirSync(dir, { recursive: true });
  const job = launch(np, ['train', dir, JSON.stringify(config)], 90000);
  const r = await job.done;
  assert.equal(r.code, 0, `mpirun exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  await assertNoOrphans(job.pids.values());
  return readRanks<TrainResult>(dir, np);
}

function assertSameOnEveryRank(results: TrainResult[], what: string): void {
  const [first, ...rest] = results;
  assert.ok(first.afterStep.length > 0, `${what}: no steps recorded`);
  for (const r of rest) {
    assert.equal(r.afterStep.length, first.afterStep.length, `${what}: rank ${r.rank} took another number of steps`);
    r.afterStep.forEach((h, i) => assert.equal(h, first.afterStep[i], `${what}: rank ${r.rank}'s weights differ from rank 0's after step ${i + 1}`));
    assert.equal(r.final, first.final, `${what}: final weights of rank ${r.rank}`);
    assert.deepEqual(r.history, first.history, `${what}: rank ${r.rank}'s history`);
  }
}

describe('distributed: without the engine', function () {
  this.timeout(60000);

  it('the library loads and distributed.init throws ERR_RNNKIT_DISTRIBUTED_UNAVAILABLE naming what to install', function () {
    const script = `const r = require(${JSON.stringify(LIB)}); r.distributed.init().then(() => console.log('no error'),
      (e) => console.log(JSON.stringify({ code: e.code, message: e.message, gru: typeof r.GRU })));`;
    const out = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8', env: { ...process.env, RNNKIT_MPI_ADDON_PATH: '/nonexistent/rnnkit_mpi.node' },
    });
    assert.equal(out.status, 0, out.stderr);
    const e = JSON.parse(out.stdout) as { code: string; message: string; gru: string };
    assert.equal(e.code, 'ERR_RNNKIT_DISTRIBUTED_UNAVAILABLE');
    assert.match(e.message, /libopenmpi-dev/);
    assert.match(e.message, /\/nonexistent\/rnnkit_mpi\.node/);
    assert.equal(e.gru, 'function', 'the rest of the library is there');
  });

  it('init and fit refuse bad options with coded errors before loading anything', async function () {
    await assert.rejects(distributed.init({ backend: 'gloo' as 'mpi' }), (e: RnnkitError) => e.code === 'ERR_RNNKIT_VALUE' && /backend/.test(e.message));
    await assert.rejects(distributed.init({ timeoutMs: -5 }), (e: RnnkitError) => e.code === 'ERR_RNNKIT_VALUE' && /timeoutMs/.test(e.message));
    const model = makeModel('many-to-one');
    const before = model.parameters.slice();
    await assert.rejects(model.fit(trainingData('many-to-one'), { distributed: { rank: 0 } as never }),
      (e: RnnkitError) => e.code === 'ERR_RNNKIT_TYPE' && /distributed/.test(e.message));
    assert.deepEqual(model.parameters, before);
  });
});

describe('distributed: data-parallel training on Open MPI (loopback)', function () {
  this.timeout(120000);
  const reason = mpiSkipReason();
  const tmp = tempDir('distributed');
  after(() => tmp.remove());
  before(function () {
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
  });

  it('3 workers: allreduce (sum, mean), broadcast of every type from the last rank, barrier off the event loop', async function () {
    const dir = tmp.file('collectives');
    fs.mkdirSync(dir);
    const job = launch(3, ['collectives', dir], 60000);
    const r = await job.done;
    assert.equal(r.code, 0, r.stderr);
    const ranks = readRanks<{ rank: number; worldSize: number; pid: number; f32: number[]; f64: number[]; b: Record<string, number[]>; ticks: number }>(dir, 3);
    await assertNoOrphans(ranks.map((x) => x.pid));
    for (const x of ranks) {
      assert.equal(x.worldSize, 3);
      assert.deepEqual(x.f32, [6, 1.5, -3]);  // exact: small integers and halves
      assert.equal(x.f64[0], 2);
      assert.ok(Math.abs(x.f64[1] - 1 / 3) < 1e-15);
      assert.deepEqual(x.b, { f32: [1.25, -7], f64: [Math.PI], i32: [-123456], u8: [200, 7] });
    }
    assert.deepEqual(ranks.map((x) => x.rank), [0, 1, 2]);
    // Ranks 1 and 2 waited ~300 ms in the barrier for rank 0; their timers kept firing meanwhile.
    for (const x of ranks.slice(1)) assert.ok(x.ticks >= 10, `rank ${x.rank}: ${x.ticks} timer ticks during the barrier`);
  });

  // Bound: the workers' step and one process's on the whole batch add the same terms in another order
  // (each shard's mean, weighted and summed, against one sum), float32 rounding, ~1e-7 relative per
  // gradient value. Through Adam (whose step size does not scale with the gradient) and 2 epochs of
  // 4 or 3 steps at lr <= 1e-2, such differences move a weight by far less than 1e-4; a wrong
  // combination (unweighted shard means, clipping before the reduction, another batch order) moves
  // weights by ~1e-3 or more, which the second check shows for one plausible mistake.
  const TOLERANCE = 1e-4;
  const cases: Array<{ name: CaseName; np: number }> = [
    { name: 'many-to-one', np: 2 },
    { name: 'encoder-decoder', np: 3 },
  ];
  for (const { name, np } of cases) {
    it(`${name}: ${np} workers on shards equal one process on the ${np}x batch (within ${TOLERANCE}), bit-identical on every rank after every step`, async function () {
      const results = await trainJob(np, tmp.file(`equal-${name}`), { case: name, epochs: 2 });
      assertSameOnEveryRank(results, name);
      const single = makeModel(name);
      const history = await single.fit(trainingData(name), { ...baseOptions(PER_WORKER_BATCH * np), epochs: 2 });
      const distributedWeights = results[0].parameters;
      let worst = 0;
      single.parameters.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - distributedWeights[i])); });
      assert.ok(worst <= TOLERANCE, `largest weight difference ${worst}`);
      assert.equal(results[0].afterStep.length, Math.ceil(38 / (PER_WORKER_BATCH * np)) * 2, 'steps');
      history.epochs.forEach((e, i) => {
        assert.ok(Math.abs(e.loss - results[0].history.epochs[i].loss) <= 1e-5 * Math.abs(e.loss), `epoch ${i + 1} loss`);
      });
      // The check can fail: one process on the per-worker batch (another step count and order) lands far outside it.
      const wrong = makeModel(name);
      await wrong.fit(trainingData(name), { ...baseOptions(PER_WORKER_BATCH), epochs: 2 });
      let apart = 0;
      wrong.parameters.forEach((v, i) => { apart = Math.max(apart, Math.abs(v - distributedWeights[i])); });
      assert.ok(apart > 10 * TOLERANCE, `a different run is only ${apart} away`);
    });
  }

  it('every worker starts from rank 0\'s weights (each began with its own)', async function () {
    const results = await trainJob(2, tmp.file('broadcast'), { case: 'many-to-one', epochs: 1, seedByRank: true });
    assert.notEqual(results[0].initial, results[1].initial, 'the workers began with different weights');
    assertSameOnEveryRank(results, 'broadcast');
    const fromRank0 = makeModel('many-to-one', 1000);
    await fromRank0.fit(trainingData('many-to-one'), { ...baseOptions(PER_WORKER_BATCH * 2), epochs: 1 });
    let worst = 0;
    fromRank0.parameters.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - results[1].parameters[i])); });
    assert.ok(worst <= TOLERANCE, `rank 1 trained from rank 0's start: largest difference ${worst}`);
  });

  it('weight averaging: every rank ends with the same average of weights that started as rank 0\'s', async function () {
    const averaging = { decay: 0.8 };
    const results = await trainJob(2, tmp.file('averaging'), { case: 'many-to-one', epochs: 2, seedByRank: true, averaging });
    assert.notEqual(results[0].initial, results[1].initial, 'the workers began with different weights');
    assertSameOnEveryRank(results, 'averaging');
    const single = makeModel('many-to-one', 1000);
    await single.fit(trainingData('many-to-one'), { ...baseOptions(PER_WORKER_BATCH * 2), epochs: 2, averaging });
    let worst = 0;
    single.parameters.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - results[1].parameters[i])); });
    assert.ok(worst <= TOLERANCE, `the average of 2 workers against one process: largest difference ${worst}`);
  });

  it('only rank 0 writes the checkpoint and reports; 2 workers resume from it bit for bit', async function () {
    const whole = await trainJob(2, tmp.file('whole'), { case: 'encoder-decoder', epochs: 4, validation: true });
    const firstDir = tmp.file('first-half');
    const first = await trainJob(2, firstDir, { case: 'encoder-decoder', epochs: 2, validation: true, checkpoint: true });
    assert.ok(fs.existsSync(path.join(firstDir, 'checkpoint-rank0.safetensors')), 'rank 0 wrote its checkpoint');
    assert.ok(!fs.existsSync(path.join(firstDir, 'checkpoint-rank1.safetensors')), 'rank 1 wrote none');
    assert.ok(first[0].batchReports > 0, 'rank 0 ran onBatchEnd');
    assert.equal(first[1].batchReports, 0, 'rank 1 ran no onBatchEnd');
    const resumed = await trainJob(2, tmp.file('resumed'), {
      case: 'encoder-decoder', epochs: 4, validation: true, resumeFrom: path.join(firstDir, 'checkpoint-rank0.safetensors'),
    });
    assertSameOnEveryRank(resumed, 'resumed');
    assert.equal(resumed[0].final, whole[0].final, 'resumed weights equal the uninterrupted run\'s bit for bit');
    assert.deepEqual(resumed[1].history.epochs, whole[1].history.epochs, 'the same epochs, losses and validation losses');
  });

  it('validation loss is the whole validation set\'s on every rank, and early stopping stops all at the same epoch', async function () {
    const config: TrainConfig = { case: 'many-to-one', epochs: 30, validation: true, earlyStopping: { patience: 1, minDelta: 0.02, restoreBest: true } };
    const results = await trainJob(2, tmp.file('early'), config);
    assertSameOnEveryRank(results, 'early stopping');
    const h = results[0].history;
    assert.ok(h.stoppedEarly && h.epochs.length < 30, `stopped early at epoch ${h.epochs.length}`);
    // The reduced validation loss is the full set's (each rank evaluated half of it).
    const model = makeModel('many-to-one');
    const last = Float32Array.from(results[0].parameters);
    model.parameters.set(last);
    const full = await evaluateLoss(model, validationData('many-to-one'), PER_WORKER_BATCH);
    // restoreBest put back the best epoch's weights: their full-set loss is the best recorded one.
    const best = h.epochs[h.bestEpoch! - 1].validationLoss!;
    assert.ok(Math.abs(full - best) <= 1e-6 * Math.abs(best), `full-set loss ${full}, reduced ${best}`);
  });

  it('a worker killed mid-training ends the job with an error within seconds, leaving no process behind', async function () {
    const job = launch(2, ['train', tmp.file('killed'), JSON.stringify({ case: 'encoder-decoder', epochs: 100000 })], 60000);
    await job.line(/^pid 1 /);
    await job.line(/^pid 0 /);
    await new Promise((r) => setTimeout(r, 1500));  // well into training
    const killedAt = Date.now();
    process.kill(job.pids.get(1)!, 'SIGKILL');
    const r = await job.done;
    const seconds = (Date.now() - killedAt) / 1000;
    assert.notEqual(r.code, 0, 'mpirun reports the failure');
    assert.ok(seconds < 15, `the job ended ${seconds} s after the kill`);
    await assertNoOrphans(job.pids.values());
  });

  for (const stay of [false, true]) {
    it(`a hung worker makes the others fail with ERR_RNNKIT_DISTRIBUTED_TIMEOUT after timeoutMs, and the job ends (${stay ? 'the failing worker stays' : 'the failing worker exits'})`, async function () {
      const config: TrainConfig = { case: 'many-to-one', epochs: 100000, stall: { rank: 1, step: 3 }, timeoutMs: 2000, stayAfterError: stay };
      const job = launch(2, ['train', tmp.file(`hung-${stay}`), JSON.stringify(config)], 60000);
      await job.line(/^stalled 1/);
      const stalledAt = Date.now();
      const r = await job.done;
      const seconds = (Date.now() - stalledAt) / 1000;
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /ERR_RNNKIT_DISTRIBUTED_TIMEOUT|got no answer from the other workers within 2000 ms/);
      assert.ok(seconds >= 1.5 && seconds < 15, `the job ended ${seconds} s after the stall`);
      await assertNoOrphans(job.pids.values());
    });
  }

  it('an engine error (a broadcast into a shorter buffer) fails the job with ERR_RNNKIT_DISTRIBUTED instead of hanging', async function () {
    const job = launch(2, ['mismatch', tmp.file('mismatch')], 60000);
    const r = await job.done;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /rnnkit: distributed: broadcast on rank 1 failed: rnnkit: MPI_Bcast failed: .*aborting the job/);
    assert.ok(r.ms < 20000, `the job took ${r.ms} ms`);
    await assertNoOrphans(job.pids.values());
  });

  it('workers given different options all refuse to start, with ERR_RNNKIT_DISTRIBUTED naming the difference', async function () {
    const job = launch(2, ['train', tmp.file('disagree'), JSON.stringify({ case: 'many-to-one', epochs: 2, disagree: true })], 60000);
    const r = await job.done;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /worker failed: ERR_RNNKIT_DISTRIBUTED .*epochs: 3 here, 2 on rank 0/);
    assert.doesNotMatch(r.stdout + r.stderr, /ERR_RNNKIT_DISTRIBUTED_TIMEOUT/);
    await assertNoOrphans(job.pids.values());
  });

  it('a group of one (no mpirun): fit trains bit for bit as without a group; misuse gets coded errors', function () {
    const script = `
      const r = require(${JSON.stringify(LIB)});
      const { makeModel, trainingData, baseOptions } = require(${JSON.stringify(path.join(__dirname, 'helpers', 'distributed-cases.js'))});
      const codeOf = async (f) => { try { await f(); return 'no error'; } catch (e) { return e.code; } };
      (async () => {
        const g = await r.distributed.init();
        const out = { worldSize: g.worldSize, rank: g.rank, same: await r.distributed.init() === g };
        const a = makeModel('encoder-decoder'), b = makeModel('encoder-decoder');
        await a.fit(trainingData('encoder-decoder'), { ...baseOptions(6), epochs: 2, distributed: g });
        await b.fit(trainingData('encoder-decoder'), { ...baseOptions(6), epochs: 2 });
        out.bitIdentical = Buffer.compare(Buffer.from(a.parameters.buffer), Buffer.from(b.parameters.buffer)) === 0;
        out.int32Allreduce = await codeOf(() => g.allreduce(new Int32Array(2)));
        out.badOp = await codeOf(() => g.allreduce(new Float32Array(2), 'max'));
        out.badRoot = await codeOf(() => g.broadcast(new Float32Array(2), 1));
        out.arrayBroadcast = await codeOf(() => g.broadcast([1, 2]));
        await g.close();
        out.afterClose = await codeOf(() => g.barrier());
        out.fitAfterClose = await codeOf(() => a.fit(trainingData('encoder-decoder'), { epochs: 1, distributed: g }));
        out.initAfterClose = await codeOf(() => r.distributed.init());
        console.log(JSON.stringify(out));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      worldSize: 1, rank: 0, same: true, bitIdentical: true,
      int32Allreduce: 'ERR_RNNKIT_TYPE', badOp: 'ERR_RNNKIT_VALUE', badRoot: 'ERR_RNNKIT_VALUE', arrayBroadcast: 'ERR_RNNKIT_TYPE',
      afterClose: 'ERR_RNNKIT_DISTRIBUTED', fitAfterClose: 'ERR_RNNKIT_DISTRIBUTED', initAfterClose: 'ERR_RNNKIT_DISTRIBUTED',
    });
  });

  it('rnnkit train under mpirun -np 2: rank 0 alone reports and saves, with the metrics of a one-process run', async function () {
    const args = ['train', 'names-gender', '--epochs', '1', '--dropout', '0', '--json', '--no-pictures'];
    const dpOut = tmp.file('cli-dp'), oneOut = tmp.file('cli-one');
    const job = launchProgram(2, [process.execPath, CLI, ...args, '--out', dpOut], 120000);
    const r = await job.done;
    assert.equal(r.code, 0, r.stderr);
    const dp = JSON.parse(r.stdout) as { metrics: Record<string, number>; training: { steps: number } };  // one document: rank 0's
    assert.deepEqual(fs.readdirSync(dpOut), ['model.safetensors']);
    assert.match(r.stderr, /data-parallel: 2 workers \(mpirun\), batch 16 each/);
    const one = spawnSync(process.execPath, [CLI, ...args, '--out', oneOut], { encoding: 'utf8' });
    assert.equal(one.status, 0, one.stderr);
    const single = JSON.parse(one.stdout) as typeof dp;
    assert.equal(dp.training.steps, single.training.steps, 'the same steps of the same 32 examples');
    // Rounding only (the sums over the batch in another order, see TOLERANCE): a relative 1e-5 on the test loss.
    const a = dp.metrics.test_loss, b = single.metrics.test_loss;
    assert.ok(Math.abs(a - b) <= 1e-5 * b, `test loss ${a} with 2 workers, ${b} in one process`);
  });
});
