// Optimizer state saves and restores bit-identically: training resumed from a
// checkpoint (also through a safetensors file) continues exactly as if it had
// never stopped; sync and async steps agree bit for bit.

import assert from 'node:assert/strict';
import { Adam, AdamW, SGD, decodeSafetensors, encodeSafetensors, type Optimizer, type OptimizerState, type Tensor } from '../lib';

function gradient(n: number, k: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 0.3 * k) * (1 + (i % 3)));
}

const makers: Array<[string, () => Optimizer]> = [
  ['SGD (momentum, Nesterov, weight decay)', () => new SGD({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ['SGD (plain)', () => new SGD({ lr: 0.05 })],
  ['Adam', () => new Adam({ lr: 0.01, weightDecay: 0.1 })],
  ['AdamW', () => new AdamW({ lr: 0.01 })],
];

/** Through a safetensors file: buffers as F32 tensors, the step count in the metadata. */
function roundTrip(state: OptimizerState): OptimizerState {
  const tensors = Object.fromEntries(Object.entries(state).filter(([, v]) => typeof v !== 'number')) as Record<string, Tensor>;
  const bytes = encodeSafetensors(tensors, { step: String(state.step) });
  const file = decodeSafetensors(bytes);
  return { ...file.tensors, step: Number(file.metadata.step) };
}

describe('optimizer state', () => {
  for (const [name, make] of makers) {
    it(`${name}: resuming from a saved state continues bit-identically`, () => {
      const n = 257;
      const reference = make();
      const params = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
      for (let k = 0; k < 3; k++) reference.step(params, gradient(n, k));
      const saved = reference.state();
      const savedParams = params.slice();
      for (let k = 3; k < 7; k++) reference.step(params, gradient(n, k));

      for (const restoredState of [saved, roundTrip(saved)]) {
        const resumed = make();
        resumed.loadState(restoredState);
        assert.equal(resumed.stepCount, 3);
        const p = savedParams.slice();
        for (let k = 3; k < 7; k++) resumed.step(p, gradient(n, k));
        assert.deepEqual(p, params, 'parameters are bit-identical');
        assert.deepEqual(resumed.state(), reference.state(), 'state is bit-identical');
      }
    });

    it(`${name}: state() returns copies, and loadState copies in`, () => {
      const opt = make();
      const params = new Float32Array(8).fill(1);
      opt.step(params, gradient(8, 0));
      const state = opt.state();
      const buffers = Object.values(state).filter((v): v is Tensor => typeof v !== 'number');
      for (const t of buffers) t.data.fill(123);
      if (buffers.length > 0) assert.notDeepEqual(opt.state(), state);
      const fresh = opt.state();
      const other = make();
      other.loadState(fresh);
      for (const v of Object.values(fresh)) if (typeof v !== 'number') v.data.fill(-7);
      assert.deepEqual(other.state(), opt.state());
    });

    it(`${name}: sync and async steps agree bit for bit`, async () => {
      const a = make(), b = make();
      const pa = Float32Array.from({ length: 100 }, (_, i) => Math.cos(i)), pb = pa.slice();
      for (let k = 0; k < 4; k++) {
        a.step(pa, gradient(100, k));
        await b.stepAsync(pb, gradient(100, k));
      }
      assert.deepEqual(pb, pa);
      assert.deepEqual(b.state(), a.state());
    });
  }

  it('a state at step 0 holds only the step, and loading it resets the optimizer', () => {
    const opt = new Adam();
    assert.deepEqual(opt.state(), { step: 0 });
    const params = new Float32Array(4);
    opt.step(params, gradient(4, 1));
    opt.loadState({ step: 0 });
    assert.deepEqual(opt.state(), { step: 0 });
    opt.step(new Float32Array(6), gradient(6, 1));  // a fresh start may size itself anew
    assert.equal(opt.stepCount, 1);
  });

  it('lr changes between steps take effect, as a schedule would set them', () => {
    const opt = new SGD({ lr: 1 });
    const p = Float32Array.of(1);
    opt.step(p, Float32Array.of(0.5));
    opt.lr = 0.1;
    opt.step(p, Float32Array.of(0.5));
    assert.equal(p[0], Math.fround(Math.fround(1 - 0.5) - Math.fround(0.1) * 0.5));
  });
});
