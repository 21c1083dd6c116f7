// Property-based fuzzing of the stateless building blocks: losses (against a
// float64 reference), optimizers (refused steps change neither parameters nor
// state) and clipGradNorm. Junk, NaN/Infinity, wrong kinds and shapes must give
// a correct result or a coded TypeError/RangeError. Run counts: test/helpers/fuzz.ts.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Adam, AdamW, SGD, clipGradNorm, logSoftmax, mseLoss, mseLossAsync, softmaxCrossEntropy, softmaxCrossEntropyAsync, type Optimizer, type Tensor } from '../lib';
import { allFinite, anyArrayKind, attempt, attemptAsync, check, checkAsync, floatValue, floats, junk, moderate, sameBits, tensorArb } from './helpers/fuzz';

const close = (a: number, b: number, tol = 1e-4) => Math.abs(a - b) <= tol * (1 + Math.abs(b));

/** Row weights: absent, valid, or broken (negative, NaN, wrong length or kind). */
function weightsArb(rows: number): fc.Arbitrary<unknown> {
  return fc.option(fc.oneof(
    { weight: 6, arbitrary: floats(rows, fc.constantFrom(0, 1, 1, 0.5, 2)) },
    { weight: 1, arbitrary: floats(rows, fc.constantFrom(1, -1, NaN, Infinity)) },
    { weight: 1, arbitrary: anyArrayKind(rows, fc.constant(1)) },
    { weight: 1, arbitrary: junk }), { nil: undefined });
}

function lossCase() {
  return fc.record({ lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }), V: fc.integer({ min: 1, max: 5 }) })
    .chain(({ lead, V }) => {
      const rows = lead.reduce((a, b) => a * b, 1);
      return fc.record({
        lead: fc.constant(lead), V: fc.constant(V), rows: fc.constant(rows),
        logits: tensorArb([...lead, V]),
        targets: fc.oneof({ weight: 6, arbitrary: fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: rows, maxLength: rows }).map((v) => Int32Array.from(v)) },
          { weight: 1, arbitrary: fc.array(fc.integer({ min: -2, max: V + 1 }), { minLength: rows, maxLength: rows + 1 }).map((v) => Int32Array.from(v)) },
          { weight: 1, arbitrary: junk }),
        target: tensorArb([...lead, V]),
        weights: weightsArb(rows),
        labelSmoothing: fc.option(fc.oneof(fc.constantFrom(0, 0.1, 1), junk), { nil: undefined }),
        reduction: fc.option(fc.oneof(fc.constantFrom('mean', 'sum'), junk), { nil: undefined }),
        async: fc.boolean(),
      });
    });
}

/** PyTorch's cross-entropy with label smoothing and row weights, in float64. */
function referenceCrossEntropy(logits: Float32Array, targets: Int32Array, weights: Float32Array | undefined, eps: number, rows: number, V: number) {
  let sum = 0, total = 0;
  for (let n = 0; n < rows; n++) {
    const w = weights ? weights[n] : 1;
    total += w;
    if (w === 0) continue;
    const row = Array.from(logits.subarray(n * V, (n + 1) * V));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    const logp = row.map((v) => v - lse);
    const smooth = -logp.reduce((s, v) => s + v, 0) / V;
    sum += w * ((1 - eps) * -logp[targets[n]] + eps * smooth);
  }
  return { sum, total };
}

/** Hyper-parameters of size at most 1 (an absurd lr, momentum or dampening such as 1e300 overflows float32, as in PyTorch). */
function sane(opt: Optimizer): boolean {
  const o = opt as unknown as Record<string, number>;
  return ['lr', 'momentum', 'dampening', 'weightDecay'].every((k) => o[k] === undefined || Math.abs(o[k]) <= 1);
}

describe('fuzz: losses, optimizers, clipping', function () {
  this.timeout(120000);

  it('softmaxCrossEntropy equals a float64 reference, its gradient rows sum to zero, or it refuses with a coded error', async function () {
    await checkAsync('softmaxCrossEntropy', lossCase(), async (c) => {
      const options = { weights: c.weights as Float32Array, labelSmoothing: c.labelSmoothing as number, reduction: c.reduction as 'sum' };
      const r = await attemptAsync(() => (c.async ? softmaxCrossEntropyAsync(c.logits as Tensor, c.targets as Int32Array, options)
        : Promise.resolve().then(() => softmaxCrossEntropy(c.logits as Tensor, c.targets as Int32Array, options))));
      if (!r.ok) return;
      const logits = (c.logits as Tensor).data;
      if (!moderate(logits)) return;
      const eps = (c.labelSmoothing as number | undefined) ?? 0;
      const shape = (c.logits as Tensor).shape, V = shape[shape.length - 1], rows = logits.length / V;  // as accepted
      const ref = referenceCrossEntropy(logits, c.targets as Int32Array, c.weights as Float32Array | undefined, eps, rows, V);
      const scale = c.reduction === 'sum' ? 1 : ref.total > 0 ? 1 / ref.total : 0;
      assert.ok(close(r.value.loss, ref.sum * scale), `loss ${r.value.loss} vs reference ${ref.sum * scale}`);
      assert.ok(close(r.value.count, ref.total), 'count is the weight total');
      const d = r.value.dLogits.data;
      assert.deepEqual(r.value.dLogits.shape, (c.logits as Tensor).shape);
      for (let n = 0; n < rows; n++) {
        const s = d.subarray(n * V, (n + 1) * V).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(s) < 1e-4, `dLogits row ${n} sums to ${s}`);
      }
    }, 500);
  });

  it('mseLoss and logSoftmax equal float64 references or refuse with a coded error', async function () {
    await checkAsync('mseLoss/logSoftmax', lossCase(), async (c) => {
      const options = { weights: c.weights as Float32Array, reduction: c.reduction as 'sum' };
      const r = await attemptAsync(() => (c.async ? mseLossAsync(c.logits as Tensor, c.target as Tensor, options)
        : Promise.resolve().then(() => mseLoss(c.logits as Tensor, c.target as Tensor, options))));
      if (r.ok && moderate((c.logits as Tensor).data) && moderate((c.target as Tensor).data)) {
        const p = (c.logits as Tensor).data, t = (c.target as Tensor).data, w = c.weights as Float32Array | undefined;
        const shape = (c.logits as Tensor).shape, V = shape[shape.length - 1], rows = p.length / V;  // as accepted
        let sum = 0, total = 0;
        for (let n = 0; n < rows; n++) {
          const wn = w ? w[n] : 1;
          total += wn * V;
          for (let v = 0; v < V; v++) sum += wn * (p[n * V + v] - t[n * V + v]) ** 2;
        }
        const expected = c.reduction === 'sum' ? sum : total > 0 ? sum / total : 0;
        assert.ok(close(r.value.loss, expected), `mse ${r.value.loss} vs ${expected}`);
      }
      const l = attempt(() => logSoftmax(c.logits as Tensor));
      if (l.ok && moderate((c.logits as Tensor).data)) {
        const width = l.value.shape[l.value.shape.length - 1], rows = l.value.data.length / width;
        for (let n = 0; n < rows; n++) {
          const s = l.value.data.subarray(n * width, (n + 1) * width).reduce((a, b) => a + Math.exp(b), 0);
          assert.ok(Math.abs(s - 1) < 1e-4, `softmax row ${n} sums to ${s}`);
        }
      }
    }, 500);
  });

  it('optimizers refuse junk options; a refused step changes neither parameters nor state; an accepted one stays finite', async function () {
    const options = fc.record({
      lr: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1e-3, 0.1, 1) }, { weight: 1, arbitrary: junk }),
      momentum: fc.oneof(fc.constantFrom(0, 0.9), junk), dampening: fc.oneof(fc.constantFrom(0, 0.1), junk),
      nesterov: fc.oneof(fc.boolean(), junk), weightDecay: fc.oneof(fc.constantFrom(0, 0.01), junk),
      betas: fc.oneof(fc.constant([0.9, 0.999]), fc.constant([1, 0.5]), fc.constant([0.9]), junk), eps: fc.oneof(fc.constant(1e-8), junk),
    }, { requiredKeys: [] });
    const arb = fc.record({
      kind: fc.constantFrom('sgd', 'adam', 'adamw'), options: fc.oneof({ weight: 9, arbitrary: options }, { weight: 1, arbitrary: junk }),
      n: fc.integer({ min: 1, max: 6 }),
    }).chain((c) => fc.record({
      kind: fc.constant(c.kind), options: fc.constant(c.options), n: fc.constant(c.n),
      steps: fc.array(fc.record({
        params: fc.oneof({ weight: 6, arbitrary: floats(c.n) }, { weight: 1, arbitrary: anyArrayKind(c.n) }),
        grads: fc.oneof({ weight: 6, arbitrary: floats(c.n) }, { weight: 1, arbitrary: anyArrayKind(c.n, floatValue) }, { weight: 1, arbitrary: floats(c.n + 1) }),
        lr: fc.option(fc.oneof(fc.constantFrom(1e-3, 0.5), junk), { nil: undefined }),
        async: fc.boolean(),
      }), { minLength: 1, maxLength: 4 }),
    }));
    await checkAsync('optimizers', arb, async (c) => {
      const built = attempt<Optimizer>(() => (c.kind === 'sgd' ? new SGD(c.options as never) : c.kind === 'adam' ? new Adam(c.options as never) : new AdamW(c.options as never)));
      if (!built.ok) return;
      const opt = built.value;
      const params = new Float32Array(c.n).fill(0.5);
      for (const s of c.steps) {
        if (s.lr !== undefined) {
          const lr = opt.lr;
          const set = attempt(() => { opt.lr = s.lr as number; });
          if (!set.ok) assert.equal(opt.lr, lr, 'a refused lr leaves the old one');
        }
        const p = s.params instanceof Float32Array && s.params.length === c.n ? params : s.params;
        const before = params.slice(), state = JSON.stringify(opt.state(), (k, v) => (v instanceof Float32Array ? Array.from(v) : v));
        const r = await attemptAsync(() => (s.async ? opt.stepAsync(p as Float32Array, s.grads as Float32Array)
          : Promise.resolve().then(() => opt.step(p as Float32Array, s.grads as Float32Array))));
        if (!r.ok) {
          assert.ok(sameBits(params, before), `a refused step leaves the parameters (${r.error.message})`);
          assert.equal(JSON.stringify(opt.state(), (k, v) => (v instanceof Float32Array ? Array.from(v) : v)), state, 'and the state');
        } else if (sane(opt) && moderate(s.grads as Float32Array) && moderate(before)) {
          // (An absurd lr such as 1e300 can overflow float32 here; fit() undoes such a step, see reliability-numerics.)
          assert.ok(allFinite(params), `moderate gradients and lr <= 1 keep the parameters finite: ${Array.from(params)}`);
        }
      }
    }, 500);
  });

  it('clipGradNorm scales finite gradients to at most maxNorm, leaves non-finite ones alone, and refuses junk', function () {
    check('clipGradNorm', fc.record({ grads: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 8 }).chain((n) => floats(n, floatValue)) }, { weight: 1, arbitrary: junk }),
      maxNorm: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(0, 0.5, 1, 100) }, { weight: 1, arbitrary: junk }) }), ({ grads, maxNorm }) => {
      const before = grads instanceof Float32Array || grads instanceof Float64Array ? grads.slice() : null;  // float64 gradients are clipped too
      const r = attempt(() => clipGradNorm(grads as Float32Array, maxNorm as number));
      if (!r.ok) {
        if (before) assert.ok(sameBits(grads as Float32Array, before));
        return;
      }
      const g = grads as Float32Array;
      const expected = Math.sqrt(Array.from(before!).reduce((s, v) => s + v * v, 0));
      if (!Number.isFinite(r.value)) {
        assert.ok(sameBits(g, before!), 'a non-finite norm leaves the gradients alone');
        return;
      }
      assert.ok(close(r.value, expected, 1e-5), `norm ${r.value} vs ${expected}`);
      const after = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
      assert.ok(after <= Math.max(expected, 0) && after <= (maxNorm as number) * (1 + 1e-5) + 1e-30 || after <= expected * (1 + 1e-6) && expected <= (maxNorm as number),
        `norm after clipping ${after}, maxNorm ${maxNorm}`);
    }, 500);
  });
});
