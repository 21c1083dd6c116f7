// Bad input to Linear, Embedding, the losses, the optimizers, clipping and the
// schedules, and to their raw native bindings: each refusal has the right
// class, a stable code and a message naming the argument, and changes nothing.

import assert from 'node:assert/strict';
import {
  Adam, AdamW, Embedding, Linear, RnnkitError, SGD, clipGradNorm, logSoftmax, mseLoss, schedules,
  softmaxCrossEntropy, type Optimizer, type Tensor,
} from '../lib';
import { native } from '../lib/native';

type ErrorClass = typeof TypeError | typeof RangeError | typeof RnnkitError;

function assertRefused(fn: () => unknown, cls: ErrorClass, code: string, names: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected a ${cls.name}, got ${String(err)}`);
    assert.equal((err as { code?: unknown }).code, code, `code of: ${(err as Error).message}`);
    assert.match((err as Error).message, names);
    return true;
  });
}

const TYPE = 'ERR_RNNKIT_TYPE', SHAPE = 'ERR_RNNKIT_SHAPE', VALUE = 'ERR_RNNKIT_VALUE';

function ramp(n: number, scale = 0.1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => scale * Math.sin(i + 1));
}

function tensor(shape: number[], scale = 0.1): Tensor {
  return { data: ramp(shape.reduce((a, b) => a * b, 1), scale), shape };
}

const bad = (v: unknown) => v as never;  // lets a test pass what the types forbid

describe('building blocks refuse bad input', () => {
  describe('Linear', () => {
    it('refuses bad options with the option named', () => {
      assertRefused(() => new Linear(bad(null)), TypeError, TYPE, /Linear options/);
      assertRefused(() => new Linear({ inFeatures: 0, outFeatures: 2 }), RangeError, VALUE, /inFeatures/);
      assertRefused(() => new Linear({ inFeatures: 2, outFeatures: bad('2') }), TypeError, TYPE, /outFeatures/);
      assertRefused(() => new Linear({ inFeatures: 2, outFeatures: 2, bias: bad(1) }), TypeError, TYPE, /bias/);
      assertRefused(() => new Linear({ inFeatures: 2, outFeatures: 2, seed: 1.5 }), RangeError, VALUE, /seed/);
    });

    it('refuses bad x and dy, and keeps parameters, gradients and the pending backward', () => {
      const layer = new Linear({ inFeatures: 3, outFeatures: 2 });
      const x = tensor([4, 3]);
      layer.forward(x, { training: true });
      const params = layer.parameters.slice();
      assertRefused(() => layer.forward({ data: new Float64Array(12) as never, shape: [4, 3] }), TypeError, TYPE, /x\.data/);
      assertRefused(() => layer.forward(tensor([4, 2])), RangeError, SHAPE, /x: expected shape \[\*, 3\]/);
      assertRefused(() => layer.forward({ data: new Float32Array(11), shape: [4, 3] }), RangeError, SHAPE, /x/);
      assertRefused(() => layer.forward(tensor([0, 3])), RangeError, SHAPE, /x: expected a non-empty tensor/);
      assertRefused(() => layer.forward(tensor([2])), RangeError, SHAPE, /x: expected shape \[3\]/);
      assertRefused(() => layer.forward(x, bad({ training: 'yes' })), TypeError, TYPE, /training/);
      assertRefused(() => layer.backward(tensor([4, 3])), RangeError, SHAPE, /dy: expected shape \[4, 2\]/);
      assertRefused(() => layer.backward(tensor([2, 2, 2])), RangeError, SHAPE, /dy/);
      assert.deepEqual(layer.parameters, params);
      assert.ok(layer.gradients.every((v) => v === 0));
      const dx = layer.backward(tensor([4, 2]));  // the training forward is still there
      assert.deepEqual(dx.shape, [4, 3]);
    });

    it('accepts a rank-1 input as one row', () => {
      const layer = new Linear({ inFeatures: 3, outFeatures: 2 });
      assert.deepEqual(layer.forward(tensor([3])).shape, [2]);
    });

    it('refuses backward before a training forward, and after loadStateDict', () => {
      const layer = new Linear({ inFeatures: 3, outFeatures: 2 });
      assertRefused(() => layer.backward(tensor([1, 2])), RnnkitError, 'ERR_RNNKIT_STATE', /training: true/);
      layer.forward(tensor([1, 3]));
      assertRefused(() => layer.backward(tensor([1, 2])), RnnkitError, 'ERR_RNNKIT_STATE', /backward/);
      layer.forward(tensor([1, 3]), { training: true });
      layer.loadStateDict(layer.stateDict());
      assertRefused(() => layer.backward(tensor([1, 2])), RnnkitError, 'ERR_RNNKIT_STATE', /backward/);
    });

    it('is busy while an async pass runs', async () => {
      const layer = new Linear({ inFeatures: 3, outFeatures: 2 });
      const pending = layer.forwardAsync(tensor([2, 3]), { training: true });
      assertRefused(() => layer.forward(tensor([2, 3])), RnnkitError, 'ERR_RNNKIT_BUSY', /async/);
      assertRefused(() => layer.zeroGrad(), RnnkitError, 'ERR_RNNKIT_BUSY', /async/);
      await pending;
      layer.backward(tensor([2, 2]));
    });

    it('native linearForward/linearBackward check types, sizes and lengths themselves', () => {
      const x = ramp(6), w = ramp(6), y = new Float32Array(4);
      assertRefused(() => native.linearForward(x, w, null, 2, 3, 2, new Float32Array(5)), RangeError, SHAPE, /y: expected 4/);
      assertRefused(() => native.linearForward(bad(new Float64Array(6)), w, null, 2, 3, 2, y), TypeError, TYPE, /x: expected a Float32Array/);
      assertRefused(() => native.linearForward(x, w, null, 0, 3, 2, y), RangeError, VALUE, /N: expected a positive integer/);
      assertRefused(() => native.linearForward(x, w, new Float32Array(3), 2, 3, 2, y), RangeError, SHAPE, /bias/);
      assertRefused(() => native.linearForward(x, w, null, 65536, 65536, 1, y), RangeError, VALUE, /x: .* exceed/);
      assertRefused(() => native.linearBackward(ramp(4), x, w, 2, 3, 2, new Float32Array(6), null, null, bad(1)),
        TypeError, TYPE, /accumulateDx/);
      assertRefused(() => native.linearBackwardAsync(ramp(4), x, w, 2, 3, 2, new Float32Array(5), null, null, false),
        RangeError, SHAPE, /dWeight/);
      assert.ok(y.every((v) => v === 0));
    });
  });

  describe('Embedding', () => {
    it('refuses bad options', () => {
      assertRefused(() => new Embedding({ numEmbeddings: 0, embeddingDim: 2 }), RangeError, VALUE, /numEmbeddings/);
      assertRefused(() => new Embedding({ numEmbeddings: 4, embeddingDim: bad(null) }), TypeError, TYPE, /embeddingDim/);
      assertRefused(() => new Embedding({ numEmbeddings: 4, embeddingDim: 2, paddingIdx: 4 }), RangeError, VALUE, /paddingIdx: .*\[-4, 3\]/);
      assertRefused(() => new Embedding({ numEmbeddings: 4, embeddingDim: 2, paddingIdx: -5 }), RangeError, VALUE, /paddingIdx/);
      assertRefused(() => new Embedding({ numEmbeddings: 4, embeddingDim: 2, paddingIdx: 0.5 }), RangeError, VALUE, /paddingIdx/);
      assertRefused(() => new Embedding({ numEmbeddings: 4, embeddingDim: 2, paddingIdx: bad('1') }), TypeError, TYPE, /paddingIdx/);
    });

    it('refuses bad ids, shapes and dOut, naming the index and value, and changes nothing', () => {
      const layer = new Embedding({ numEmbeddings: 5, embeddingDim: 2, paddingIdx: 0 });
      layer.forward(Int32Array.of(1, 2, 3), [3], { training: true });
      const params = layer.parameters.slice();
      assertRefused(() => layer.forward(bad(Float32Array.of(1, 2)), [2]), TypeError, TYPE, /ids: expected an Int32Array/);
      assertRefused(() => layer.forward(Int32Array.of(1, 5, 2), [3]), RangeError, VALUE, /ids\[1\]: expected an id in \[0, 4\], got 5/);
      assertRefused(() => layer.forward(Int32Array.of(-1), [1]), RangeError, VALUE, /ids\[0\].*got -1/);
      assertRefused(() => layer.forward(Int32Array.of(1, 2), [3]), RangeError, SHAPE, /ids: shape \[3\] needs 3 ids, got 2/);
      assertRefused(() => layer.forward(Int32Array.of(1, 2), bad([2.5])), TypeError, TYPE, /shape/);
      assertRefused(() => layer.forward(Int32Array.of(1, 2), bad('2')), TypeError, TYPE, /shape/);
      assertRefused(() => layer.forward(new Int32Array(0), [0]), RangeError, SHAPE, /at least one id/);
      assertRefused(() => layer.backward(tensor([3, 3])), RangeError, SHAPE, /dOut: expected shape \[3, 2\]/);
      assert.deepEqual(layer.parameters, params);
      assert.ok(layer.gradients.every((v) => v === 0));
      layer.backward(tensor([3, 2]));  // the training forward is still there
    });

    it('refuses backward before a training forward', () => {
      const layer = new Embedding({ numEmbeddings: 5, embeddingDim: 2 });
      assertRefused(() => layer.backward(tensor([1, 2])), RnnkitError, 'ERR_RNNKIT_STATE', /training: true/);
    });

    it('native embeddingForward/Backward check every id and the padding index', () => {
      const w = ramp(10), out = new Float32Array(4), dw = new Float32Array(10);
      assertRefused(() => native.embeddingForward(Int32Array.of(0, 7), w, 2, 5, 2, out), RangeError, VALUE,
        /ids\[1\]: expected an id in \[0, 4\], got 7/);
      assertRefused(() => native.embeddingForwardAsync(Int32Array.of(-3, 0), w, 2, 5, 2, out), RangeError, VALUE, /ids\[0\].*-3/);
      assertRefused(() => native.embeddingBackward(Int32Array.of(0, 1), ramp(4), 5, 2, 5, 2, dw), RangeError, VALUE, /paddingIdx/);
      assertRefused(() => native.embeddingBackward(Int32Array.of(0, 1), ramp(4), -2, 2, 5, 2, dw), RangeError, VALUE, /paddingIdx/);
      assertRefused(() => native.embeddingBackward(Int32Array.of(0, 9), ramp(4), -1, 2, 5, 2, dw), RangeError, VALUE, /ids\[1\]/);
      assert.ok(out.every((v) => v === 0) && dw.every((v) => v === 0));
    });
  });

  describe('losses', () => {
    const logits = tensor([2, 3, 4]);

    it('softmaxCrossEntropy refuses bad targets, weights and options, naming them', () => {
      const targets = Int32Array.of(0, 1, 2, 3, 0, 1);
      assertRefused(() => softmaxCrossEntropy(logits, bad(Float32Array.from(targets))), TypeError, TYPE, /targets: expected an Int32Array/);
      assertRefused(() => softmaxCrossEntropy(logits, targets.subarray(1)), RangeError, SHAPE, /targets: expected 6/);
      assertRefused(() => softmaxCrossEntropy(logits, Int32Array.of(0, 1, 4, 3, 0, 1)), RangeError, VALUE,
        /targets\[2\]: expected a class in \[0, 3\].*got 4/);
      assertRefused(() => softmaxCrossEntropy(logits, Int32Array.of(0, 1, 2, -1, 0, 1)), RangeError, VALUE, /targets\[3\].*-1/);
      const w = Float32Array.of(1, 1, 1, 1, 1, 1);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { weights: w.subarray(2) }), RangeError, SHAPE, /weights: expected 6/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { weights: Float32Array.of(1, 1, -1, 1, 1, 1) }), RangeError, VALUE, /weights\[2\]/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { weights: Float32Array.of(1, 1, 1, NaN, 1, 1) }), RangeError, VALUE, /weights\[3\]/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { weights: bad(new Float64Array(6)) }), TypeError, TYPE, /weights/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { labelSmoothing: 1.5 }), RangeError, VALUE, /labelSmoothing/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { labelSmoothing: bad('0.1') }), TypeError, TYPE, /labelSmoothing/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { reduction: bad('avg') }), RangeError, VALUE, /reduction/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, { reduction: bad(1) }), TypeError, TYPE, /reduction/);
      assertRefused(() => softmaxCrossEntropy(bad({ data: [1, 2], shape: [2] }), targets), TypeError, TYPE, /logits\.data/);
      assertRefused(() => softmaxCrossEntropy(logits, targets, bad(7)), TypeError, TYPE, /options/);
    });

    it('softmaxCrossEntropy reads no target on a masked row, and an all-masked batch gives 0, not NaN', () => {
      const targets = Int32Array.of(0, -1, 2, -100, 0, 1);
      const weights = Float32Array.of(1, 0, 1, 0, 1, 1);
      const r = softmaxCrossEntropy(logits, targets, { weights });
      assert.equal(r.count, 4);
      assert.ok(r.dLogits.data.subarray(4, 8).every((v) => v === 0) && r.dLogits.data.subarray(12, 16).every((v) => v === 0));
      const none = softmaxCrossEntropy(logits, Int32Array.of(-1, -1, -1, -1, -1, -1), { weights: new Float32Array(6) });
      assert.equal(none.loss, 0);
      assert.equal(none.count, 0);
      assert.ok(none.dLogits.data.every((v) => v === 0));
    });

    it('logSoftmax and mseLoss refuse bad tensors', () => {
      assertRefused(() => logSoftmax(tensor([2, 0])), RangeError, SHAPE, /logits: expected a non-empty tensor/);
      assertRefused(() => logSoftmax(bad(null)), TypeError, TYPE, /logits/);
      assertRefused(() => mseLoss(tensor([2, 3]), tensor([3, 2])), RangeError, SHAPE, /target: expected shape \[2, 3\]/);
      assertRefused(() => mseLoss(tensor([2, 3]), tensor([2, 3]), { weights: Float32Array.of(1) }), RangeError, SHAPE, /weights: expected 2/);
      assertRefused(() => mseLoss(tensor([2, 3]), tensor([2, 3]), { weights: Float32Array.of(1, Infinity) }), RangeError, VALUE, /weights\[1\]/);
    });

    it('native softmaxCrossEntropy checks targets of weighted rows, weights and the result array itself', () => {
      const l = ramp(8), result = new Float64Array(2), d = new Float32Array(8);
      assertRefused(() => native.softmaxCrossEntropy(l, Int32Array.of(0, 4), null, 0, 1, 2, 4, result, d), RangeError, VALUE,
        /targets\[1\]: expected a class in \[0, 3\].*got 4/);
      assertRefused(() => native.softmaxCrossEntropyAsync(l, Int32Array.of(-1, 0), Float32Array.of(0.5, 1), 0, 1, 2, 4, result, d),
        RangeError, VALUE, /targets\[0\]/);
      assertRefused(() => native.softmaxCrossEntropy(l, Int32Array.of(0, 1), Float32Array.of(-1, 1), 0, 1, 2, 4, result, d),
        RangeError, VALUE, /weights\[0\]/);
      assertRefused(() => native.softmaxCrossEntropy(l, Int32Array.of(0, 1), null, 2, 1, 2, 4, result, d), RangeError, VALUE, /labelSmoothing/);
      assertRefused(() => native.softmaxCrossEntropy(l, Int32Array.of(0, 1), null, 0, NaN, 2, 4, result, d), RangeError, VALUE, /scale/);
      assertRefused(() => native.softmaxCrossEntropy(l, Int32Array.of(0, 1), null, 0, 1, 2, 4, new Float64Array(1), d), RangeError, SHAPE, /result/);
      assertRefused(() => native.mseLoss(l, ramp(7), null, 1, 2, 4, result, d), RangeError, SHAPE, /target/);
      assert.ok(result.every((v) => v === 0) && d.every((v) => v === 0));
      native.softmaxCrossEntropy(l, Int32Array.of(-1, 2), Float32Array.of(0, 1), 0, 1, 2, 4, result, d);  // masked -1 is fine
      assert.equal(result[1], 1);
    });
  });

  describe('optimizers', () => {
    const makers: Array<[string, () => Optimizer]> = [
      ['SGD', () => new SGD({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
      ['Adam', () => new Adam({ lr: 0.01 })],
      ['AdamW', () => new AdamW({ lr: 0.01 })],
    ];

    it('constructors refuse bad hyper-parameters, naming them', () => {
      assertRefused(() => new SGD(bad({})), TypeError, TYPE, /lr/);
      assertRefused(() => new SGD({ lr: -1 }), RangeError, VALUE, /lr/);
      assertRefused(() => new SGD({ lr: 0.1, momentum: NaN }), RangeError, VALUE, /momentum/);
      assertRefused(() => new SGD({ lr: 0.1, nesterov: true }), RangeError, VALUE, /nesterov: needs momentum > 0/);
      assertRefused(() => new SGD({ lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), RangeError, VALUE, /dampening/);
      assertRefused(() => new SGD({ lr: 0.1, weightDecay: -0.1 }), RangeError, VALUE, /weightDecay/);
      assertRefused(() => new SGD({ lr: 0.1, nesterov: bad('yes') }), TypeError, TYPE, /nesterov/);
      assertRefused(() => new Adam({ betas: [1, 0.9] }), RangeError, VALUE, /betas\[0\]: expected a number in \[0, 1\)/);
      assertRefused(() => new Adam({ betas: bad(0.9) }), TypeError, TYPE, /betas/);
      assertRefused(() => new AdamW({ betas: [0.9, bad('0.99')] }), TypeError, TYPE, /betas\[1\]/);
      assertRefused(() => new Adam({ eps: -1 }), RangeError, VALUE, /eps/);
      assertRefused(() => new AdamW({ lr: Infinity }), RangeError, VALUE, /lr/);
      assertRefused(() => new AdamW(bad([])), TypeError, TYPE, /AdamW options/);
    });

    for (const [name, make] of makers) {
      it(`${name}.step refuses bad buffers and non-finite gradients, changing neither params nor state`, () => {
        const opt = make();
        const params = ramp(6), grads = ramp(6, 0.01);
        opt.step(params, grads);
        const before = { params: params.slice(), state: opt.state() };
        const unchanged = () => {
          assert.deepEqual(params, before.params);
          assert.deepEqual(opt.state(), before.state);
        };
        assertRefused(() => opt.step(bad(new Float64Array(6)), grads), TypeError, TYPE, /params: expected a Float32Array/);
        assertRefused(() => opt.step(params, bad(Array.from(grads))), TypeError, TYPE, /grads: expected a Float32Array/);
        assertRefused(() => opt.step(params, grads.subarray(1)), RangeError, SHAPE, /grads: expected 6 elements/);
        assertRefused(() => opt.step(ramp(7), ramp(7)), RangeError, SHAPE, /params: expected 6 elements/);
        const nan = grads.slice();
        nan[2] = NaN;
        nan[4] = -Infinity;
        assertRefused(() => opt.step(params, nan), RangeError, VALUE, /grads: 2 non-finite values/);
        assertRefused(() => { opt.lr = -0.5; }, RangeError, VALUE, /lr/);
        assertRefused(() => { opt.lr = bad('0.5'); }, TypeError, TYPE, /lr/);
        assert.notEqual(opt.lr, -0.5);
        unchanged();
      });

      it(`${name}.loadState refuses bad state before changing anything`, () => {
        const opt = make();
        const params = ramp(4), grads = ramp(4, 0.01);
        opt.step(params, grads);
        const good = opt.state();
        const buffers = Object.keys(good).filter((k) => k !== 'step');
        assertRefused(() => opt.loadState(bad(null)), TypeError, TYPE, /state/);
        assertRefused(() => opt.loadState({ ...good, step: -1 }), RangeError, VALUE, /state\.step/);
        assertRefused(() => opt.loadState({ ...good, step: 1.5 }), RangeError, VALUE, /state\.step/);
        assertRefused(() => opt.loadState({ ...good, step: bad('1') }), TypeError, TYPE, /state\.step/);
        assertRefused(() => opt.loadState({ ...good, extra: 1 }), RangeError, SHAPE, /unexpected keys 'extra'/);
        assertRefused(() => opt.loadState({ ...good, step: 0 }), RangeError, SHAPE, /unexpected keys/);
        const { [buffers[0]]: _dropped, ...missing } = good;
        assertRefused(() => opt.loadState(missing), RangeError, SHAPE, new RegExp(`missing key '${buffers[0]}'`));
        const nanBuffer = { data: Float32Array.of(0, NaN, 0, 0), shape: [4] };
        assertRefused(() => opt.loadState({ ...good, [buffers[0]]: nanBuffer }), RangeError, VALUE, /finite/);
        if (buffers.length === 2) {
          assertRefused(() => opt.loadState({ ...good, [buffers[1]]: { data: new Float32Array(5), shape: [5] } }),
            RangeError, SHAPE, /expected shape \[4\]/);
          assertRefused(() => opt.loadState({ ...good, exp_avg_sq: { data: Float32Array.of(0, -1, 0, 0), shape: [4] } }),
            RangeError, VALUE, /exp_avg_sq/);
        }
        assert.deepEqual(opt.state(), good);
        assert.equal(opt.stepCount, 1);
      });

      it(`${name} is busy while an async step runs`, async () => {
        const opt = make();
        const params = ramp(1000), grads = ramp(1000, 0.01);
        const pending = opt.stepAsync(params, grads);
        assertRefused(() => opt.step(params, grads), RnnkitError, 'ERR_RNNKIT_BUSY', /optimizer/);
        assertRefused(() => opt.state(), RnnkitError, 'ERR_RNNKIT_BUSY', /optimizer/);
        await pending;
        assert.equal(opt.stepCount, 1);
      });
    }

    it('native sgdStep/adamStep check hyper-parameters and buffers themselves', () => {
      const p = ramp(3), g = ramp(3), v = new Float32Array(3), m = new Float32Array(3);
      assertRefused(() => native.sgdStep(p, g, v, 0.1, 0, 0, true, 0, true), RangeError, VALUE, /nesterov/);
      assertRefused(() => native.sgdStep(p, g, null, 0.1, 0.9, 0, false, 0, true), TypeError, TYPE, /velocity/);
      assertRefused(() => native.sgdStep(p, g, v, -0.1, 0, 0, false, 0, true), RangeError, VALUE, /lr/);
      assertRefused(() => native.sgdStepAsync(p, ramp(2), v, 0.1, 0, 0, false, 0, true), RangeError, SHAPE, /grads/);
      assertRefused(() => native.adamStep(p, g, m, v, 0.1, 1, 0.999, 1e-8, 0, false, 1), RangeError, VALUE, /beta1/);
      assertRefused(() => native.adamStep(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0, false, 0), RangeError, VALUE, /step/);
      assertRefused(() => native.adamStep(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0, false, 2.5), RangeError, VALUE, /step/);
      assertRefused(() => native.adamStep(p, g, m, new Float32Array(2), 0.1, 0.9, 0.999, 1e-8, 0, false, 1), RangeError, SHAPE, /expAvgSq/);
      assertRefused(() => native.adamStep(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0, bad(0), 1), TypeError, TYPE, /decoupled/);
      assertRefused(() => native.scale(p, Infinity), RangeError, VALUE, /factor/);
      assertRefused(() => native.sumSquares(p, new Float64Array(2)), RangeError, SHAPE, /result/);
      assert.deepEqual(p, ramp(3));
      assert.ok(v.every((x) => x === 0) && m.every((x) => x === 0));
    });
  });

  describe('clipGradNorm', () => {
    it('refuses bad arguments', () => {
      assertRefused(() => clipGradNorm(bad([1, 2]), 1), TypeError, TYPE, /grads/);
      assertRefused(() => clipGradNorm(ramp(3), -1), RangeError, VALUE, /maxNorm/);
      assertRefused(() => clipGradNorm(ramp(3), bad(null)), TypeError, TYPE, /maxNorm/);
    });

    it('returns a non-finite norm and leaves the gradients alone', () => {
      const g = Float32Array.of(1, NaN, 2);
      assert.ok(Number.isNaN(clipGradNorm(g, 1)));
      assert.deepEqual(g, Float32Array.of(1, NaN, 2));
      const inf = Float32Array.of(1, Infinity);
      assert.equal(clipGradNorm(inf, 1), Infinity);
      assert.deepEqual(inf, Float32Array.of(1, Infinity));
    });
  });

  describe('schedules', () => {
    it('refuse bad options and bad steps', () => {
      assertRefused(() => schedules.constant(bad('0.1')), TypeError, TYPE, /lr/);
      assertRefused(() => schedules.stepDecay({ lr: 0.1, stepSize: 0 }), RangeError, VALUE, /stepSize/);
      assertRefused(() => schedules.stepDecay({ lr: 0.1, stepSize: 2, gamma: -1 }), RangeError, VALUE, /gamma/);
      assertRefused(() => schedules.cosine({ lr: 0.1, totalSteps: 1.5 }), RangeError, VALUE, /totalSteps/);
      assertRefused(() => schedules.cosine({ lr: 0.1, totalSteps: 10, minLr: NaN }), RangeError, VALUE, /minLr/);
      assertRefused(() => schedules.linearWarmup(bad(0.1), { warmupSteps: 3 }), TypeError, TYPE, /schedule/);
      assertRefused(() => schedules.linearWarmup(schedules.constant(1), { warmupSteps: 3, startFactor: 2 }), RangeError, VALUE, /startFactor/);
      assertRefused(() => schedules.linearWarmup(schedules.constant(1), bad({})), TypeError, TYPE, /warmupSteps/);
      const s = schedules.cosine({ lr: 0.1, totalSteps: 10 });
      assertRefused(() => s(-1), RangeError, VALUE, /step/);
      assertRefused(() => s(2.5), RangeError, VALUE, /step/);
      assertRefused(() => s(bad('3')), TypeError, TYPE, /step/);
    });
  });
});
