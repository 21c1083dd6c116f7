// Numerics: a non-finite loss or gradient stops fit with ERR_RNNKIT_NONFINITE
// (or skips the batch with onNonFinite: 'skip'), and no path writes NaN or
// Infinity into the weights: not fit (even when a step itself overflows), not
// the optimizers (non-finite gradients are refused before anything changes),
// not loading weights or checkpoints.

import assert from 'node:assert/strict';
import { Adam, AdamW, ManyToOne, RnnkitError, SGD, clipGradNorm, encodeSafetensors, loadModel, type ManyToOneExample, type Optimizer } from '../lib';
import { allFinite, sameBits } from './helpers/fuzz';

function regression(): ManyToOne {
  return new ManyToOne({ input: { type: 'features', size: 2 }, recurrent: { cell: 'rnn', nonlinearity: 'relu', hiddenSize: 4 },
    output: { type: 'real', size: 1 }, seed: 4 });
}

const good = (i: number): ManyToOneExample => ({ input: [[Math.sin(i), Math.cos(i)], [0.5, -0.5]], target: [Math.sin(2 * i)] });
// Finite inputs whose gradient overflows float32 (the loss, summed in float64, stays finite: ~7e75).
const overflowing: ManyToOneExample = { input: [[3e38, 3e38], [3e38, -3e38]], target: [0] };

async function rejection(promise: Promise<unknown>): Promise<RnnkitError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RnnkitError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

describe('reliability: numerics', function () {
  this.timeout(60000);

  it('a batch whose gradient overflows stops fit with ERR_RNNKIT_NONFINITE naming the epoch and batch, and no weight changes', async function () {
    const model = regression();
    const before = model.parameters.slice();
    const error = await rejection(model.fit([overflowing, good(1), good(2)], { epochs: 2, batchSize: 1, shuffle: false }));
    assert.equal(error.code, 'ERR_RNNKIT_NONFINITE');
    assert.match(error.message, /epoch 1, batch 1: non-finite gradient/);
    assert.ok(sameBits(model.parameters, before), 'the weights were not updated');
    // And a NaN loss (a NaN output bias, as a bad external edit of the weights would leave).
    const poisoned = regression();
    poisoned.parameters[poisoned.parameters.length - 1] = NaN;
    const kept = poisoned.parameters.slice();
    const nan = await rejection(poisoned.fit([good(1), good(2)], { epochs: 1, batchSize: 1 }));
    assert.equal(nan.code, 'ERR_RNNKIT_NONFINITE');
    assert.match(nan.message, /epoch 1, batch 1: non-finite loss/);
    assert.ok(sameBits(poisoned.parameters, kept));
  });

  it("with onNonFinite: 'skip' only the bad batch is skipped: the weights equal a run without it, and stay finite", async function () {
    const data = [good(1), overflowing, good(2), good(3)];
    const options = { epochs: 3, batchSize: 1, shuffle: false, optimizer: { type: 'adam' as const, lr: 0.01 } };
    const model = regression();
    const history = await model.fit(data, { ...options, onNonFinite: 'skip' });
    assert.equal(history.skippedBatches, 3, 'one skipped batch per epoch');
    assert.ok(allFinite(model.parameters));
    const clean = regression();
    await clean.fit(data.filter((e) => e !== overflowing), options);
    assert.ok(sameBits(model.parameters, clean.parameters), 'skipping is as if the batch were absent');
    for (const e of history.epochs) assert.ok(Number.isFinite(e.loss));
  });

  it('a finite gradient whose step overflows the weights (lr 1e38) is undone: fit throws or skips, the weights stay finite', async function () {
    for (const onNonFinite of ['throw', 'skip'] as const) {
      const model = regression();
      const before = model.parameters.slice();
      try {
        const h = await model.fit([good(1), good(2)], { epochs: 2, batchSize: 1, optimizer: { type: 'sgd', lr: 1e38 }, onNonFinite });
        assert.equal(onNonFinite, 'skip');
        assert.ok(h.skippedBatches > 0);
      } catch (error) {
        assert.equal(onNonFinite, 'throw');
        assert.equal((error as RnnkitError).code, 'ERR_RNNKIT_NONFINITE');
        assert.match((error as Error).message, /non-finite (weights after the optimizer step|loss|gradient)/);
      }
      assert.ok(!sameBits(model.parameters, before) || onNonFinite === 'throw', 'steps that did not overflow were taken');
      assert.ok(allFinite(model.parameters), `${onNonFinite}: no NaN or Infinity in the weights`);
    }
  });

  for (const [name, make] of [['SGD (momentum, Nesterov)', () => new SGD({ lr: 0.1, momentum: 0.9, nesterov: true })],
    ['Adam', () => new Adam({ lr: 0.01 })], ['AdamW', () => new AdamW({ lr: 0.01 })]] as Array<[string, () => Optimizer]>) {
    it(`${name} refuses gradients holding NaN, Infinity or -Infinity (sync and async), changing neither weights nor state`, async function () {
      const opt = make();
      const params = Float32Array.from({ length: 257 }, (_, i) => Math.sin(i));
      const grads = Float32Array.from({ length: 257 }, (_, i) => Math.cos(i));
      opt.step(params, grads);  // buffers exist now, so the state has something to protect
      const state = JSON.stringify(opt.state(), (k, v) => (v instanceof Float32Array ? Array.from(v) : v));
      const weights = params.slice();
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of [0, 128, 256]) {
          const g = grads.slice();
          g[at] = bad;
          assert.throws(() => opt.step(params, g), (e: unknown) => e instanceof RangeError && (e as RangeError & { code: string }).code === 'ERR_RNNKIT_VALUE' && /1 non-finite/.test((e as Error).message));
          await assert.rejects(opt.stepAsync(params, g), (e: unknown) => e instanceof RangeError);
        }
      }
      assert.ok(sameBits(params, weights), 'weights unchanged');
      assert.equal(JSON.stringify(opt.state(), (k, v) => (v instanceof Float32Array ? Array.from(v) : v)), state, 'state unchanged');
      assert.equal(opt.stepCount, 1);
      opt.step(params, grads);
      assert.ok(allFinite(params));
    });
  }

  it('Adam refuses eps = 0, which turns a zero gradient entry into a NaN weight', function () {
    for (const make of [() => new Adam({ eps: 0 }), () => new AdamW({ eps: 0 })]) {
      assert.throws(make, (e: unknown) => e instanceof RangeError && /eps/.test((e as Error).message));
    }
    const opt = new Adam({ lr: 0.1, eps: 1e-30 });
    const params = new Float32Array([1, 2, 3]);
    for (let i = 0; i < 5; i++) opt.step(params, new Float32Array([0, 1e-20, 0]));
    assert.ok(allFinite(params), `tiny eps and zero gradients stay finite: ${Array.from(params)}`);
  });

  it('clipGradNorm reports a non-finite norm and leaves such gradients alone (fit then skips or throws)', function () {
    const grads = new Float32Array([1, NaN, 2]);
    assert.ok(Number.isNaN(clipGradNorm(grads, 1)));
    assert.ok(sameBits(grads, new Float32Array([1, NaN, 2])));
    const inf = new Float32Array([3e38, 3e38]);
    assert.ok(Number.isFinite(clipGradNorm(inf, 1)), 'the norm is summed in float64, so large finite gradients clip');
    assert.ok(allFinite(inf));
  });

  it('weights holding NaN or Infinity are refused by loadStateDict, loadModel and resuming, before anything changes', function () {
    const model = regression();
    const before = model.parameters.slice();
    const dict = model.stateDict();
    const [first] = Object.keys(dict);
    for (const bad of [NaN, Infinity]) {
      const data = dict[first].data.slice();
      data[0] = bad;
      const poisoned = { ...dict, [first]: { data, shape: dict[first].shape } };
      assert.throws(() => model.loadStateDict(poisoned), (e: unknown) => e instanceof RangeError && /finite/.test((e as Error).message));
      const bytes = encodeSafetensors(poisoned, { format: 'rnnkit-model', kind: model.kind, config: JSON.stringify(model.config()) });
      assert.throws(() => loadModel(bytes), (e: unknown) => e instanceof RangeError && /finite/.test((e as Error).message));
    }
    assert.ok(sameBits(model.parameters, before));
  });
});
