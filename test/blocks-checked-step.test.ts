// Checked optimizer steps (stepChecked / stepCheckedAsync, native sgdStepChecked /
// adamStepChecked): a finite step writes exactly the bits of the old path
// (clipGradNorm's in-place scaling, stepAsync, then a count of non-finite
// weights), in fit too; a step that would overflow changes nothing at all
// (weights, moments, step count) and says how much; bad input is refused with
// an error naming the argument before anything changes.

import assert from 'node:assert/strict';
import { Adam, AdamW, ManyToMany, SGD, clipGradNorm, type Optimizer, type OptimizerState } from '../lib';
import { native } from '../lib/native';
import { allFinite, sameBits } from './helpers/fuzz';
import { randomArray } from './helpers/random-array';

type Builtin = SGD | Adam | AdamW;

const makers: Array<[string, () => Builtin]> = [
  ['SGD (plain)', () => new SGD({ lr: 0.05 })],
  ['SGD (momentum, weight decay)', () => new SGD({ lr: 0.05, momentum: 0.9, weightDecay: 0.01 })],
  ['SGD (momentum, dampening)', () => new SGD({ lr: 0.05, momentum: 0.9, dampening: 0.3 })],
  ['SGD (Nesterov, weight decay)', () => new SGD({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ['Adam', () => new Adam({ lr: 0.01 })],
  ['Adam (L2 weight decay)', () => new Adam({ lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 })],
  ['AdamW', () => new AdamW({ lr: 0.01 })],
];

/** state() with every buffer as its bits, to compare exactly. */
function stateBits(opt: Optimizer): Record<string, number | number[]> {
  const out: Record<string, number | number[]> = {};
  for (const [k, v] of Object.entries(opt.state())) {
    out[k] = typeof v === 'number' ? v : Array.from(new Uint32Array(v.data.buffer, v.data.byteOffset, v.data.length));
  }
  return out;
}

/** The copy path fit keeps for optimizers without stepCheckedAsync: the same optimizer, that method hidden. */
function withoutCheckedStep(inner: Optimizer): Optimizer {
  return {
    get lr() { return inner.lr; },
    set lr(value: number) { inner.lr = value; },
    get stepCount() { return inner.stepCount; },
    step: (p, g) => inner.step(p, g),
    stepAsync: (p, g) => inner.stepAsync(p, g),
    state: () => inner.state(),
    loadState: (s: OptimizerState) => inner.loadState(s),
  };
}

const N = 1031;
const MAX_NORM = 2;

describe('checked optimizer steps', function () {
  for (const [name, make] of makers) {
    it(`${name}: a finite checked step equals clipGradNorm + stepAsync + counting, bit for bit, and leaves grads alone`, async function () {
      const [old, checked, checkedSync] = [make(), make(), make()];
      const [pOld, pChecked, pSync] = [0, 1, 2].map(() => randomArray(N, 1));
      for (let k = 0; k < 6; k++) {
        // Large gradients on even steps (clipped), small ones on odd steps (not clipped).
        const grads = randomArray(N, 10 + k, k % 2 === 0 ? 5 : 0.01);
        const scaled = grads.slice();
        const norm = clipGradNorm(scaled, MAX_NORM);
        await old.stepAsync(pOld, scaled);
        const count = new Float64Array(1);
        native.countNonfinite(pOld, count);
        assert.equal(count[0], 0);
        const factor = MAX_NORM / (norm + 1e-6);
        const gradScale = factor < 1 ? factor : 1;
        assert.equal(k % 2 === 0, gradScale < 1, 'even steps clip');
        const kept = grads.slice();
        assert.deepEqual(await checked.stepCheckedAsync(pChecked, grads, { gradScale }), { applied: true, nonFinite: 0 });
        assert.deepEqual(checkedSync.stepChecked(pSync, grads, { gradScale }), { applied: true, nonFinite: 0 });
        assert.ok(sameBits(grads, kept), 'grads are read, not scaled in place');
      }
      assert.ok(sameBits(pChecked, pOld), 'weights');
      assert.ok(sameBits(pSync, pOld), 'weights (sync)');
      assert.deepEqual(stateBits(checked), stateBits(old), 'state');
      assert.deepEqual(stateBits(checkedSync), stateBits(old), 'state (sync)');
      assert.equal(checked.stepCount, 6);
    });

    it(`${name}: a step that would overflow changes nothing (weights, buffers, step count) and reports the count`, async function () {
      const opt = make();
      const params = randomArray(N, 2);
      for (let k = 0; k < 3; k++) await opt.stepCheckedAsync(params, randomArray(N, 20 + k));
      const [weights, state, lr] = [params.slice(), stateBits(opt), opt.lr];
      const grads = randomArray(N, 30);
      opt.lr = 1e300;  // float32(1e300) = Infinity: every weight the step moves overflows
      const r = await opt.stepCheckedAsync(params, grads);
      assert.equal(r.applied, false);
      assert.ok(r.nonFinite > 0 && r.nonFinite <= N, `count ${r.nonFinite}`);
      assert.deepEqual(opt.stepChecked(params, grads), r, 'the sync twin refuses the same step');
      assert.ok(sameBits(params, weights), 'weights unchanged');
      assert.deepEqual(stateBits(opt), state, 'state unchanged');
      assert.equal(opt.stepCount, 3);
      // A NaN gradient is refused the same way, without a separate pass over the gradients.
      opt.lr = lr;
      const nan = grads.slice();
      nan[17] = NaN;
      assert.deepEqual(await opt.stepCheckedAsync(params, nan), { applied: false, nonFinite: 1 });
      assert.ok(sameBits(params, weights));
      assert.deepEqual(stateBits(opt), state);
      // Training goes on as if the refused steps had not been asked for.
      const twin = make();
      const p2 = randomArray(N, 2);
      for (let k = 0; k < 3; k++) twin.step(p2, randomArray(N, 20 + k));
      twin.step(p2, grads);
      assert.deepEqual(await opt.stepCheckedAsync(params, grads), { applied: true, nonFinite: 0 });
      assert.ok(sameBits(params, p2));
      assert.deepEqual(stateBits(opt), stateBits(twin));
    });

    it(`${name}: a refused first step leaves the state as before it ({ step: 0 }, no buffers)`, async function () {
      const opt = make();
      const params = randomArray(N, 3);
      const weights = params.slice();
      const grads = randomArray(N, 4);
      const lr = opt.lr;
      opt.lr = 1e300;
      assert.equal((await opt.stepCheckedAsync(params, grads)).applied, false);
      assert.deepEqual(opt.state(), { step: 0 });
      assert.ok(sameBits(params, weights));
      opt.lr = lr;
      const fresh = make();
      const p2 = params.slice();
      fresh.step(p2, grads);
      assert.equal(opt.stepChecked(params, grads).applied, true);
      assert.ok(sameBits(params, p2), 'the next step is a first step');
      assert.deepEqual(stateBits(opt), stateBits(fresh));
    });
  }

  it('Adam refuses a step whose second moment would overflow, though the weight would stay finite', async function () {
    const opt = new Adam({ lr: 0.01 });
    const params = randomArray(8, 5);
    await opt.stepCheckedAsync(params, randomArray(8, 6));
    const [weights, state] = [params.slice(), stateBits(opt)];
    const grads = randomArray(8, 7);
    grads[2] = 1e20;  // squares to Infinity in exp_avg_sq; m / sqrt(v) would be 0
    assert.deepEqual(await opt.stepCheckedAsync(params, grads), { applied: false, nonFinite: 1 });
    assert.ok(sameBits(params, weights));
    assert.deepEqual(stateBits(opt), state);
  });

  it('bad input to a checked step gets an error naming the argument, before anything changes', async function () {
    const opt = new Adam({ lr: 0.01 });
    const params = randomArray(16, 8);
    opt.step(params, randomArray(16, 9));
    const [weights, state] = [params.slice(), stateBits(opt)];
    const grads = randomArray(16, 10);
    type Args = Parameters<Builtin['stepChecked']>;
    const refusals: Array<[Args, ErrorConstructor, RegExp]> = [
      [[[1, 2] as unknown as Float32Array, grads], TypeError, /^params: expected a Float32Array/],
      [[params, new Float64Array(16) as unknown as Float32Array], TypeError, /^grads: expected a Float32Array/],
      [[params, new Float32Array(15)], RangeError, /^grads: expected 16 elements/],
      [[new Float32Array(17), new Float32Array(17)], RangeError, /^params: expected 16 elements/],
      [[params, grads, 3 as never], TypeError, /^options: expected an object/],
      [[params, grads, { gradScale: -1 }], RangeError, /^options\.gradScale: expected a finite number >= 0, got -1/],
      [[params, grads, { gradScale: NaN }], RangeError, /^options\.gradScale/],
      [[params, grads, { gradScale: Infinity }], RangeError, /^options\.gradScale/],
      [[params, grads, { gradScale: '0.5' as never }], TypeError, /^options\.gradScale/],
    ];
    for (const [args, type, message] of refusals) {
      const refused = (e: unknown) => e instanceof type && message.test((e as Error).message);
      assert.throws(() => opt.stepChecked(...args), refused, String(message));
      await assert.rejects(opt.stepCheckedAsync(...args), refused, String(message));
    }
    assert.ok(sameBits(params, weights), 'weights unchanged');
    assert.deepEqual(stateBits(opt), state, 'state unchanged');
    assert.equal(opt.stepCount, 1);
    // The optimizer is busy while its async step runs.
    const pending = opt.stepCheckedAsync(params, grads);
    assert.throws(() => opt.stepChecked(params, grads), (e: unknown) => (e as { code?: string }).code === 'ERR_RNNKIT_BUSY');
    assert.equal((await pending).applied, true);
  });

  it('the native checked steps check every argument (buffers apart, gradScale, result) before writing', async function () {
    const n = 8;
    const params = randomArray(n, 11), grads = randomArray(n, 12);
    const shared = new Float32Array(3 * n);
    const [m, v] = [new Float32Array(n), new Float32Array(n)];
    const result = new Float64Array(1);
    const weights = params.slice();
    const adam = (over: Partial<Record<number, unknown>>) => {
      const args: unknown[] = [params, grads, m, v, 0.01, 0.9, 0.999, 1e-8, 0, false, 1, 1, result];
      for (const [i, value] of Object.entries(over)) args[Number(i)] = value;
      return args as Parameters<typeof native.adamStepChecked>;
    };
    const sgd = (over: Partial<Record<number, unknown>>) => {
      const args: unknown[] = [params, grads, new Float32Array(n), 0.1, 0.9, 0, false, 0, true, 1, result];
      for (const [i, value] of Object.entries(over)) args[Number(i)] = value;
      return args as Parameters<typeof native.sgdStepChecked>;
    };
    const cases: Array<[string, () => unknown, RegExp]> = [
      ['adam expAvg = params', () => native.adamStepChecked(...adam({ 2: params })), /^expAvg: expected a buffer apart from params/],
      ['adam expAvgSq overlapping expAvg', () => native.adamStepChecked(...adam({ 2: shared.subarray(0, n), 3: shared.subarray(n - 1, 2 * n - 1) })),
        /^expAvgSq: expected a buffer apart from expAvg/],
      ['adam grads = expAvgSq', () => native.adamStepChecked(...adam({ 3: grads })), /^expAvgSq: expected a buffer apart from grads/],
      ['adam gradScale -1', () => native.adamStepChecked(...adam({ 11: -1 })), /^gradScale: expected a finite number >= 0/],
      ['adam gradScale missing', () => native.adamStepChecked(...adam({ 11: undefined })), /^gradScale: expected a number/],
      ['adam result of 2', () => native.adamStepChecked(...adam({ 12: new Float64Array(2) })), /^result: expected 1 elements/],
      ['adam result Float32Array', () => native.adamStepChecked(...adam({ 12: new Float32Array(1) })), /^result: expected a Float64Array/],
      ['adam step 0', () => native.adamStepChecked(...adam({ 10: 0 })), /^step: expected a finite number >= 1/],
      ['sgd velocity = params', () => native.sgdStepChecked(...sgd({ 2: params })), /^velocity: expected a buffer apart from params/],
      ['sgd gradScale Infinity', () => native.sgdStepChecked(...sgd({ 9: Infinity })), /^gradScale: expected a finite number >= 0/],
      ['sgd result missing', () => native.sgdStepChecked(...sgd({ 10: null })), /^result: expected a Float64Array/],
      ['sgd grads short', () => native.sgdStepChecked(...sgd({ 1: new Float32Array(n - 1) })), /^grads: expected 8 elements/],
    ];
    for (const [what, call, message] of cases) {
      assert.throws(call, (e: unknown) => e instanceof Error && message.test(e.message), `${what}: ${message}`);
    }
    // The Async twins refuse synchronously too, before queueing any work.
    assert.throws(() => native.adamStepCheckedAsync(...adam({ 2: params })), /^RangeError: expAvg: expected a buffer apart/);
    assert.throws(() => native.sgdStepCheckedAsync(...sgd({ 9: -2 })), /^RangeError: gradScale/);
    assert.ok(sameBits(params, weights), 'params unchanged');
    assert.ok(m.every((x) => x === 0) && v.every((x) => x === 0), 'moments unchanged');
    // And with good arguments they run: result[0] = 0, the step written.
    await native.adamStepCheckedAsync(...adam({}));
    assert.equal(result[0], 0);
    assert.ok(!sameBits(params, weights) && allFinite(params));
  });

  for (const [name, make] of [makers[3], makers[4], makers[6]]) {
    it(`${name}: fit with clipping takes the same steps as fit over the copy path (an optimizer without stepCheckedAsync), bit for bit, skipped batches included`, async function () {
      const model = () => new ManyToMany({
        input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 5 }, output: { type: 'real', size: 1 }, seed: 7,
      });
      const data = Array.from({ length: 12 }, (_, i) => ({
        input: Array.from({ length: 2 + (i % 4) }, (_, t) => [Math.sin(i + t), Math.cos(3 * i - t)]),
        target: Array.from({ length: 2 + (i % 4) }, (_, t) => [4 * Math.sin(2 * i + t)]),
      }));
      const runs = [];
      for (const copyPath of [false, true]) {
        const m = model();
        const inner = make();
        const optimizer = copyPath ? withoutCheckedStep(inner) : inner;
        const lr = inner.lr;
        const norms: number[] = [];
        const history = await m.fit(data, {
          epochs: 3, batchSize: 4, clipNorm: 0.5, optimizer, onNonFinite: 'skip',
          // The 5th batch's step overflows every weight it moves (lr 1e300): skipped and undone.
          onBatchEnd: (r) => {
            norms.push(r.gradNorm);
            inner.lr = r.epoch === 2 && r.batch === 1 ? 1e300 : lr;
          },
        });
        runs.push({ parameters: m.parameters, state: stateBits(inner), steps: inner.stepCount, history, norms });
      }
      const [checked, copied] = runs;
      assert.equal(checked.history.skippedBatches, 1);
      assert.equal(copied.history.skippedBatches, 1);
      assert.ok(checked.norms.some((g) => g > 0.5), 'some batches were clipped');
      assert.deepEqual(checked.norms, copied.norms, 'gradient norms');
      assert.ok(sameBits(checked.parameters, copied.parameters), 'weights');
      assert.deepEqual(checked.state, copied.state, 'optimizer state');
      assert.equal(checked.steps, 8);
      assert.equal(copied.steps, 8);
    });
  }
});
