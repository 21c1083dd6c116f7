// The shared fit loop through the structures: determinism for a seed,
// checkpoint and bit-identical resume (optimizer state and generators
// included), one training call at a time per model, and the guard against
// non-finite losses, gradients and weights.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import {
  Adam, ManyToMany, RnnkitError, loadSafetensors, saveSafetensors, schedules, type BatchReport, type FitOptions,
} from '../lib';
import { MODEL_CASES, type ModelCase } from './helpers/structure-models';
import { assertSameBits, hasNonFinite, tempDir } from './helpers/structures';

function byName(part: string): ModelCase {
  const c = MODEL_CASES.find((m) => m.name.includes(part));
  if (!c) throw new Error(`no model case ${part}`);
  return c;
}

const differs = (a: Float32Array, b: Float32Array) => a.some((v, i) => !Object.is(v, b[i]));

function fitOptions(extra: FitOptions<unknown> = {}): FitOptions<unknown> {
  return {
    batchSize: 8, optimizer: { type: 'adam', lr: 5e-3 }, clipNorm: 1,
    schedule: schedules.linearWarmup(schedules.cosine({ lr: 5e-3, totalSteps: 20 }), { warmupSteps: 3 }), seed: 42, ...extra,
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RnnkitError, `expected an RnnkitError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

describe('structures: training loop', function () {
  this.timeout(60000);
  const tmp = tempDir('training');
  after(() => tmp.remove());

  // Dropout and scheduled sampling draw from the model's generator, shuffling from the data generator.
  const RANDOM_CASES: Array<{ name: string; c: ModelCase; extra: { dropout?: number; scheduledSampling?: number } }> = [
    { name: 'ManyToMany, 2-layer LSTM with dropout 0.3', c: byName('2-layer LSTM'), extra: { dropout: 0.3 } },
    { name: "OneToMany 'first-step' with scheduled sampling 0.5", c: byName("'first-step'"), extra: { scheduledSampling: 0.5 } },
    { name: "EncoderDecoder 'every-step', dropout 0.3 and scheduled sampling 0.4", c: byName("'every-step', GRU"), extra: { dropout: 0.3, scheduledSampling: 0.4 } },
    { name: 'EncoderDecoder with Bahdanau attention and scheduled sampling 0.4', c: byName('bahdanau'), extra: { scheduledSampling: 0.4 } },
  ];

  describe('determinism', function () {
    for (const { name, c, extra } of RANDOM_CASES) {
      it(`${name}: two runs with the same seed give bit-identical parameters and losses; another seed differs`, async function () {
        const data = c.data(5, 40);
        const run = async (seed: number) => {
          const model = c.make(extra);
          const history = await model.fit(data, fitOptions({ epochs: 2, seed }));
          return { parameters: model.parameters, losses: history.epochs.map((e) => e.loss) };
        };
        const [a, b, other] = [await run(42), await run(42), await run(43)];
        assertSameBits(a.parameters, b.parameters, 'parameters');
        assert.deepEqual(a.losses, b.losses);
        assert.ok(differs(a.parameters, other.parameters), 'a different data seed gives different parameters');
      });
    }
  });

  describe('checkpoint and resume', function () {
    for (const { name, c, extra } of RANDOM_CASES) {
      it(`${name}: 2 epochs, checkpoint, then a fresh model resumed to 4 epochs equals 4 uninterrupted epochs bit for bit`, async function () {
        const data = c.data(6, 40);
        const validation = c.data(7, 8);
        const options = fitOptions({ validation });

        const straight = c.make(extra);
        const straightHistory = await straight.fit(data, { ...options, epochs: 4 });

        const file = tmp.file(`resume-${c.name.length}-${Object.keys(extra).join('-')}.safetensors`);
        const first = c.make(extra);
        await first.fit(data, { ...options, epochs: 2, checkpointPath: file });
        const resumed = c.make(extra);
        const reports: BatchReport[] = [];
        const resumedHistory = await resumed.fit(data, { ...options, epochs: 4, resumeFrom: file, onBatchEnd: (r) => { reports.push(r); } });

        assertSameBits(resumed.parameters, straight.parameters, 'parameters after resume');
        assert.deepEqual(resumedHistory.epochs.map((e) => [e.epoch, e.loss, e.validationLoss]),
          straightHistory.epochs.map((e) => [e.epoch, e.loss, e.validationLoss]));
        assert.deepEqual([...new Set(reports.map((r) => r.epoch))], [3, 4], 'only epochs 3 and 4 ran after resuming');

        // The comparison can fail: resuming with the model generator's state replaced (what draws
        // dropout masks and scheduled-sampling choices) gives other parameters.
        const { tensors, metadata } = loadSafetensors(file);
        const trainer = JSON.parse(metadata.trainer);
        const altered = tmp.file(`altered-${c.name.length}.safetensors`);
        saveSafetensors(altered, tensors, { ...metadata, trainer: JSON.stringify({ ...trainer, modelRandom: [1, 2, 3, 4] }) });
        const otherGenerator = c.make(extra);
        await otherGenerator.fit(data, { ...options, epochs: 4, resumeFrom: altered });
        assert.ok(differs(otherGenerator.parameters, straight.parameters), 'the restored model generator matters');
        // And continuing the 2-epoch model without the checkpoint (fresh optimizer, generators going on) differs too.
        await first.fit(data, { ...options, epochs: 2 });
        assert.ok(differs(first.parameters, straight.parameters), 'a plain second fit differs from a resumed one');
      });
    }

    it('early stopping with restoreBest: a best epoch before the checkpoint is still restored after resuming', async function () {
      const c = byName('2-layer LSTM');
      const data = c.data(11, 32);
      const validation = c.data(12, 8);
      // A learning rate far too large: the validation loss is best early and worse after, so the
      // weights to restore were kept before the checkpoint at epoch 2.
      const options = {
        batchSize: 8, optimizer: { type: 'sgd' as const, lr: 8 }, seed: 3, validation,
        earlyStopping: { patience: 10, restoreBest: true },
      };
      const straight = c.make();
      const straightHistory = await straight.fit(data, { ...options, epochs: 4 });
      assert.ok(straightHistory.bestEpoch !== null && straightHistory.bestEpoch <= 2,
        `the setup needs a best epoch before the checkpoint (best ${straightHistory.bestEpoch}; validation losses ` +
        `${straightHistory.epochs.map((e) => e.validationLoss).join(', ')})`);

      const file = tmp.file('early-stopping.safetensors');
      await c.make().fit(data, { ...options, epochs: 2, checkpointPath: file });
      const resumed = c.make();
      const resumedHistory = await resumed.fit(data, { ...options, epochs: 4, resumeFrom: file });
      assert.equal(resumedHistory.bestEpoch, straightHistory.bestEpoch);
      assertSameBits(resumed.parameters, straight.parameters, 'parameters after resume: the best epoch\'s');

      // Best weights of another size are refused before anything is loaded.
      const { tensors, metadata } = loadSafetensors(file);
      const best = tensors['best.parameters'];
      assert.ok(best && best.data.length === resumed.parameters.length, 'the checkpoint holds the best weights');
      const truncated = tmp.file('early-stopping-truncated.safetensors');
      saveSafetensors(truncated, { ...tensors, 'best.parameters': { data: best.data.slice(1), shape: [best.data.length - 1] } }, metadata);
      const model = c.make();
      const before = model.parameters.slice();
      const error = await expectCode(model.fit(data, { ...options, epochs: 4, resumeFrom: truncated }), 'ERR_RNNKIT_FORMAT');
      assert.match(error.message, /best weights/);
      assertSameBits(model.parameters, before, 'parameters untouched by the refused checkpoint');
    });

    it('the checkpoint holds the optimizer state: resuming with a fresh optimizer instance continues its moments and step count', async function () {
      const c = byName('2-layer LSTM');
      const data = c.data(8, 24);
      const file = tmp.file('optimizer.safetensors');
      const straightOptimizer = new Adam({ lr: 1e-2 });
      const straight = c.make();
      await straight.fit(data, { epochs: 3, batchSize: 8, optimizer: straightOptimizer, seed: 1 });
      await c.make().fit(data, { epochs: 1, batchSize: 8, optimizer: new Adam({ lr: 1e-2 }), seed: 1, checkpointPath: file });
      const resumedOptimizer = new Adam({ lr: 1e-2 });
      const resumed = c.make();
      await resumed.fit(data, { epochs: 3, batchSize: 8, optimizer: resumedOptimizer, seed: 1, resumeFrom: file });
      assert.equal(resumedOptimizer.stepCount, straightOptimizer.stepCount);
      assertSameBits(resumed.parameters, straight.parameters, 'parameters');
    });

    it('refuses to resume a checkpoint of another structure, before changing anything', async function () {
      const file = tmp.file('other-kind.safetensors');
      const a = byName('bahdanau');
      await a.make().fit(a.data(1, 8), { epochs: 1, batchSize: 8, checkpointPath: file });
      const b = byName('2-layer LSTM');
      const model = b.make();
      const before = model.parameters.slice();
      const error = await expectCode(model.fit(b.data(1, 8), { epochs: 2, resumeFrom: file }), 'ERR_RNNKIT_FORMAT');
      assert.match(error.message, /EncoderDecoder/);
      assertSameBits(model.parameters, before, 'parameters');
    });
    it('a fit stopped by timeBudgetMs in the middle of an epoch resumes that epoch from its start, bit-identically', async function () {
      // The loop's clock is performance.now(): a fake one makes the stop land at a chosen batch.
      const c = byName('2-layer LSTM');
      const data = c.data(10, 40);
      const options = fitOptions({ epochs: 3 });
      const straight = c.make({ dropout: 0.3 });
      await straight.fit(data, options);

      const file = tmp.file('budget.safetensors');
      const stopped = c.make({ dropout: 0.3 });
      // Defined, not assigned: Node 18's performance.now is read-only.
      const own = Object.getOwnPropertyDescriptor(performance, 'now');
      let clock = 0;
      Object.defineProperty(performance, 'now', { value: () => clock, configurable: true, writable: true });
      try {
        const history = await stopped.fit(data, {
          ...options, timeBudgetMs: 1000, checkpointPath: file,
          onBatchEnd: (r) => { if (r.epoch === 2 && r.batch === 2) clock += 5000; },
        });
        assert.equal(history.epochs.length, 2, 'epoch 1 and the part of epoch 2 that ran are reported');
      } finally {
        if (own) Object.defineProperty(performance, 'now', own);
        else delete (performance as { now?: unknown }).now;
      }
      const resumed = c.make({ dropout: 0.3 });
      const reports: BatchReport[] = [];
      await resumed.fit(data, { ...options, resumeFrom: file, onBatchEnd: (r) => { reports.push(r); } });
      assert.deepEqual([...new Set(reports.map((r) => r.epoch))], [2, 3], 'the interrupted epoch runs again in full');
      assertSameBits(resumed.parameters, straight.parameters, 'parameters');
    });

    it('refuses a checkpoint whose optimizer state or counters do not fit, leaving the model as it was', async function () {
      const c = byName('2-layer LSTM');
      const data = c.data(4, 16);
      const file = tmp.file('sgd.safetensors');
      await c.make().fit(data, { epochs: 1, batchSize: 8, optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9 }, checkpointPath: file });
      const model = c.make();
      const before = model.parameters.slice();
      // Adam cannot take SGD's momentum buffer.
      const error = await model.fit(data, { epochs: 2, batchSize: 8, optimizer: { type: 'adam' }, resumeFrom: file }).then(() => null, (e: Error) => e);
      assert.ok(error instanceof Error && /momentum_buffer/.test(error.message), String(error));
      assertSameBits(model.parameters, before, 'parameters after a refused resume (optimizer state)');
      // Counters that are not a checkpoint's.
      const { tensors, metadata } = loadSafetensors(file);
      const trainer = JSON.parse(metadata.trainer);
      for (const bad of [{ dataRandom: [1, 2, 3] }, { modelRandom: 'x' }, { epoch: -1 }, { step: 1.5 }]) {
        const altered = tmp.file('altered-trainer.safetensors');
        saveSafetensors(altered, tensors, { ...metadata, trainer: JSON.stringify({ ...trainer, ...bad }) });
        const e = await model.fit(data, { epochs: 2, batchSize: 8, optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9 }, resumeFrom: altered })
          .then(() => null, (x: Error) => x);
        assert.ok(e instanceof RnnkitError && e.code === 'ERR_RNNKIT_FORMAT', `${JSON.stringify(bad)}: ${String(e)}`);
        assertSameBits(model.parameters, before, `parameters after a refused resume (${JSON.stringify(bad)})`);
      }
    });
  });

  describe('one training call at a time', function () {
    it('a second overlapping fit() is refused with ERR_RNNKIT_BUSY and the first completes exactly as a lone run', async function () {
      const c = byName('bahdanau');
      const data = c.data(9, 32);
      const lone = c.make();
      await lone.fit(data, fitOptions({ epochs: 2 }));

      const model = c.make();
      const first = model.fit(data, fitOptions({ epochs: 2 }));
      const before = model.parameters.slice();
      await expectCode(model.fit(data, fitOptions({ epochs: 1, seed: 7 })), 'ERR_RNNKIT_BUSY');
      await expectCode(model.evaluate(data), 'ERR_RNNKIT_BUSY');
      assertSameBits(model.parameters, before, 'the refused calls changed nothing');
      await first;
      assertSameBits(model.parameters, lone.parameters, 'parameters of the first fit');
      // Once it has finished the model trains again.
      await model.fit(data, fitOptions({ epochs: 1 }));
      assert.ok(differs(model.parameters, lone.parameters));
    });

    it('a fit() that failed releases the model for the next call', async function () {
      const c = byName('2-layer LSTM');
      const model = c.make();
      model.parameters[0] = NaN;
      await expectCode(model.fit(c.data(1, 8), { epochs: 1 }), 'ERR_RNNKIT_NONFINITE');
      model.parameters[0] = 0;
      await model.fit(c.data(1, 8), { epochs: 1 });
    });
  });

  describe('non-finite values', function () {
    it('a NaN weight stops fit at the first batch with ERR_RNNKIT_NONFINITE and no other weight changes', async function () {
      const c = byName('bahdanau');
      const model = c.make();
      model.parameters[3] = NaN;
      const before = model.parameters.slice();
      const error = await expectCode(model.fit(c.data(2, 16), { epochs: 2, batchSize: 8 }), 'ERR_RNNKIT_NONFINITE');
      assert.match(error.message, /epoch 1, batch 1/);
      assertSameBits(model.parameters, before, 'parameters');
      assert.equal(model.parameters.filter(Number.isNaN).length, 1);
    });

    it("with onNonFinite: 'skip', every batch with a NaN loss is skipped and counted, and nothing is updated", async function () {
      const c = byName('2-layer LSTM');
      const model = c.make();
      model.parameters[model.parameters.length - 1] = NaN;  // the output bias: every loss is NaN
      const before = model.parameters.slice();
      const reports: BatchReport[] = [];
      const history = await model.fit(c.data(2, 20), { epochs: 2, batchSize: 8, onNonFinite: 'skip', onBatchEnd: (r) => { reports.push(r); } });
      assert.equal(reports.length, 6);
      assert.ok(reports.every((r) => r.skipped));
      assert.equal(history.skippedBatches, 6);
      assertSameBits(model.parameters, before, 'parameters');
    });

    const HUGE: Array<FitOptions<unknown>['optimizer']> = [{ type: 'adam', lr: 1e38 }, { type: 'sgd', lr: 1e38 }, { type: 'sgd', lr: 1e30 }];
    for (const c of [byName('2-layer LSTM'), byName('bahdanau'), byName("'first-step'"), byName('tokens -> classes, 2-layer bidirectional')]) {
      it(`${c.name}: a learning rate so large that a step overflows never leaves a non-finite weight, whether fit throws or skips`, async function () {
        let sawProblem = false;
        for (const optimizer of HUGE) {
          for (const onNonFinite of ['throw', 'skip'] as const) {
            const model = c.make();
            let history;
            try {
              history = await model.fit(c.data(3, 40), { epochs: 2, batchSize: 8, optimizer, onNonFinite });
            } catch (error) {
              assert.equal(onNonFinite, 'throw', `only 'throw' may throw: ${String(error)}`);
              assert.equal((error as RnnkitError).code, 'ERR_RNNKIT_NONFINITE');
              sawProblem = true;
            }
            if (history && history.skippedBatches > 0) sawProblem = true;
            assert.ok(!hasNonFinite(model.parameters), `${JSON.stringify(optimizer)} ${onNonFinite}: ` +
              `${model.parameters.filter((v) => !Number.isFinite(v)).length} non-finite weights`);
          }
        }
        assert.ok(sawProblem, 'the learning rates were large enough to cause trouble');
      });
    }

    it("a step that overflows the weights is undone; with 'skip' the optimizer's state too, so training goes on as if the batch were absent", async function () {
      // The learning rate is raised to 1e300 for the second batch only (from onBatchEnd), so that
      // batch's step overflows every weight it moves. Undone, with Adam's moments and step count,
      // the run must equal one that never saw that batch.
      const make = () => new ManyToMany({
        input: { type: 'features', size: 1 }, recurrent: { cell: 'gru', hiddenSize: 3 }, output: { type: 'real', size: 1 }, seed: 3,
      });
      const [g0, g1, g2] = [
        { input: [[0.5], [0.1]], target: [[1], [0]] },
        { input: [[0.9]], target: [[-1]] },
        { input: [[-0.2], [0.3], [0.1]], target: [[0], [1], [0.5]] },
      ];
      const reference = make();
      const referenceOptimizer = new Adam({ lr: 1e-2 });
      await reference.fit([g0, g2], { epochs: 1, batchSize: 1, shuffle: false, optimizer: referenceOptimizer });

      for (const onNonFinite of ['skip', 'throw'] as const) {
        const tested = make();
        const optimizer = new Adam({ lr: 1e-2 });
        const afterFirst: Float32Array[] = [];
        const run = tested.fit([g0, g1, g2], {
          epochs: 1, batchSize: 1, shuffle: false, optimizer, onNonFinite,
          onBatchEnd: (r) => {
            if (r.batch === 1) { afterFirst.push(tested.parameters.slice()); optimizer.lr = 1e300; }
            if (r.batch === 2) optimizer.lr = 1e-2;
          },
        });
        if (onNonFinite === 'throw') {
          const error = await expectCode(run, 'ERR_RNNKIT_NONFINITE');
          assert.match(error.message, /batch 2/);
          assertSameBits(tested.parameters, afterFirst[0], 'parameters after the refused step');
          continue;
        }
        const history = await run;
        assert.equal(history.skippedBatches, 1);
        assert.equal(optimizer.stepCount, referenceOptimizer.stepCount);
        assertSameBits(tested.parameters, reference.parameters, 'parameters');
      }
    });
  });
});

