// fit's weight averaging (FitOptions.averaging): the average it leaves in the
// model is the exponential moving average of the weights after each applied
// step, recomputed here in float32 operation by operation (bit for bit: the
// kernel's order, average += (1 - decay) * (x - average), is its contract);
// validation scores the average; checkpoints carry it and a resume continues
// it bit-identically; bad options are refused before anything changes.

import assert from 'node:assert/strict';
import { RnnkitError, type FitOptions } from '../lib';
import { native } from '../lib/native';
import { MODEL_CASES, type ModelCase } from './helpers/structure-models';
import { assertSameBits, tempDir } from './helpers/structures';

function byName(part: string): ModelCase {
  const c = MODEL_CASES.find((m) => m.name.includes(part));
  if (!c) throw new Error(`no model case ${part}`);
  return c;
}

/** average += (1 - decay) * (x - average), each operation rounded to float32 as the kernel does. */
function referenceAverage(average: Float32Array, x: Float32Array, decay: number): void {
  const rate = Math.fround(1 - decay);
  for (let i = 0; i < average.length; i++) {
    average[i] = Math.fround(average[i] + Math.fround(rate * Math.fround(x[i] - average[i])));
  }
}

const OPTIONS: FitOptions<unknown> = { batchSize: 8, optimizer: { type: 'adam', lr: 1e-2 }, clipNorm: 1, seed: 3 };

describe('fit: weight averaging', function () {
  this.timeout(60000);

  it('the movingAverage kernel matches the float32 recurrence bit for bit, sync and async', async function () {
    const n = 1037, x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const a = Float32Array.from({ length: n }, (_, i) => Math.cos(i)), b = a.slice(), expected = a.slice();
    native.movingAverage(a, x, 0.9);
    await native.movingAverageAsync(b, x, 0.9);
    referenceAverage(expected, x, 0.9);
    assertSameBits(a, expected, 'sync');
    assertSameBits(b, expected, 'async');
    assert.throws(() => native.movingAverage(a, x.subarray(1), 0.9), /x/);
    assert.throws(() => native.movingAverage(a, a, 0.9), /average|x/);
  });

  for (const part of ['ManyToOne', 'EncoderDecoder']) {
    it(`${part}: fit ends with the moving average of the weights after each step (from startStep, with warmup)`, async function () {
      const c = byName(part), data = c.data(1, 40);
      for (const [startStep, warmup] of [[0, false], [4, false], [0, true], [3, true]] as const) {
        const model = c.make();
        const decay = 0.8;
        const expected = model.parameters.slice();
        let step = 0;
        await model.fit(data, {
          ...OPTIONS, epochs: 2, averaging: { decay, startStep, warmup },
          onBatchEnd: (r) => {
            if (r.skipped) return;
            step++;
            const n = step - startStep;
            if (step === startStep) expected.set(model.parameters);
            else if (step > startStep) referenceAverage(expected, model.parameters, warmup ? Math.min(decay, (1 + n) / (10 + n)) : decay);
          },
        });
        assert.ok(step > startStep + 3, `${step} steps`);
        assertSameBits(model.parameters, expected, `startStep ${startStep}, warmup ${warmup}`);
      }
    });
  }

  it('validation and early stopping score the average; restoreBest restores the best epoch\'s average', async function () {
    const c = byName('ManyToOne'), data = c.data(2, 40), validation = c.data(3, 16);
    const model = c.make();
    const history = await model.fit(data, { ...OPTIONS, epochs: 3, validation, averaging: { decay: 0.9 } });
    // fit left the last epoch's average in the model: evaluating it gives the last validation loss.
    assert.equal(await model.evaluate(validation, { batchSize: 8 }), history.epochs[2].validationLoss);

    const kept = c.make();
    const h2 = await kept.fit(data, {
      ...OPTIONS, epochs: 4, validation, averaging: { decay: 0.9 }, earlyStopping: { patience: 10, restoreBest: true },
    });
    const bestLoss = Math.min(...h2.epochs.map((e) => e.validationLoss as number));
    assert.equal(await kept.evaluate(validation, { batchSize: 8 }), bestLoss);
  });

  it('a batch report\'s withAverage runs work with the average in the weights, then puts the training weights back', async function () {
    const c = byName('ManyToOne'), data = c.data(4, 40);
    const model = c.make();
    const decay = 0.8;
    const expected = model.parameters.slice();
    let checked = 0;
    await model.fit(data, {
      ...OPTIONS, epochs: 1, averaging: { decay },
      onBatchEnd: async (r) => {
        if (!r.skipped) referenceAverage(expected, model.parameters, decay);
        assert.ok(r.withAverage, 'averaging on: the report has withAverage');
        const training = model.parameters.slice();
        const seen = await r.withAverage!(async () => model.parameters.slice());
        assertSameBits(seen, expected, 'inside withAverage');
        assertSameBits(model.parameters, training, 'after withAverage');
        checked++;
      },
    });
    assert.ok(checked >= 4, `${checked} batches`);
    await model.fit(data, { ...OPTIONS, epochs: 1, onBatchEnd: (r) => assert.equal(r.withAverage, undefined) });
  });

  it('a checkpoint carries the average: a resumed fit ends bit-identical to an uninterrupted one', async function () {
    const c = byName('EncoderDecoder (attention'), data = c.data(4, 32);
    const tmp = tempDir('rnnkit-averaging-');
    try {
      const options = { ...OPTIONS, averaging: { decay: 0.7 } };
      const whole = c.make();
      await whole.fit(data, { ...options, epochs: 4 });
      const first = c.make();
      await first.fit(data, { ...options, epochs: 2, checkpointPath: tmp.file('ck.safetensors') });
      const resumed = c.make();
      await resumed.fit(data, { ...options, epochs: 4, resumeFrom: tmp.file('ck.safetensors') });
      assertSameBits(resumed.parameters, whole.parameters, 'resumed average');

      // A checkpoint and a fit that disagree on averaging: refused before the model changes.
      const other = c.make(), before = other.parameters.slice();
      await assert.rejects(other.fit(data, { ...OPTIONS, epochs: 4, resumeFrom: tmp.file('ck.safetensors') }),
        (e: RnnkitError) => e.code === 'ERR_RNNKIT_FORMAT' && /averaging/.test(e.message));
      assertSameBits(other.parameters, before, 'untouched');
      await first.fit(data, { ...OPTIONS, epochs: 1, checkpointPath: tmp.file('plain.safetensors') });
      await assert.rejects(other.fit(data, { ...options, epochs: 2, resumeFrom: tmp.file('plain.safetensors') }),
        (e: RnnkitError) => e.code === 'ERR_RNNKIT_FORMAT' && /without averaging/.test(e.message));
      assertSameBits(other.parameters, before, 'untouched');
    } finally {
      tmp.remove();
    }
  });

  it('refuses bad averaging options, naming them, before training', async function () {
    const c = byName('ManyToOne'), data = c.data(5, 8);
    const model = c.make(), before = model.parameters.slice();
    const bad: Array<[unknown, RegExp]> = [
      [{ decay: 1 }, /averaging\.decay: expected a number in \(0, 1\)/],
      [{ decay: 0 }, /averaging\.decay/],
      [{ decay: Number.NaN }, /averaging\.decay/],
      [{}, /averaging\.decay/],
      [{ decay: 0.9, startStep: -1 }, /averaging\.startStep/],
      [{ decay: 0.9, startStep: 1.5 }, /averaging\.startStep/],
      ['0.9', /averaging/],
    ];
    for (const [averaging, message] of bad) {
      await assert.rejects(model.fit(data, { ...OPTIONS, epochs: 1, averaging: averaging as never }), message);
    }
    assertSameBits(model.parameters, before, 'untouched');
  });
});
