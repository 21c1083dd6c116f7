// RNN, GRU and LSTM with dtype 'float64': Float64Array parameters, gradients, inputs and outputs on the
// kernels' double instantiation. They agree with the float32 layers within float32 rounding, pass
// finite-difference gradient checks at ~1e-9 relative error (the point of the feature: float32 cannot get
// below ~1e-3 there), train with SGD/Adam/AdamW and clipGradNorm, save and load as F64 safetensors, and
// are refused where only float32 goes (mixed arrays, ONNX).

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Adam, AdamW, GRU, LSTM, RNN, SGD, clipGradNorm, encodeOnnx, loadSafetensors, saveSafetensors,
  type Recurrent, type Tensor, type Tensor64,
} from '../lib';
import { native, NativeCell } from '../lib/native';
import { scaledError } from './helpers/compare';
import { seededTensor } from './helpers/recurrent-kinds';
import { tempDir } from './helpers/structures';

const TYPE = 'ERR_RNNKIT_TYPE', VALUE = 'ERR_RNNKIT_VALUE';
/** float64 against float32 on the same weights and inputs: float32's rounding, scaled by the reference's size. */
const FLOAT32_TOLERANCE = 1e-5;
const FD_TOLERANCE = 1e-6;

interface Kind {
  name: string;
  lstm: boolean;
  make(o: { dtype: 'float32' | 'float64'; seed?: number }): Recurrent<'float32' | 'float64'>;
  width: number;  // of h
}

const [I, H] = [3, 4];
const common = { inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true };
const KINDS: Kind[] = [
  { name: 'RNN (tanh)', lstm: false, width: H, make: (o) => new RNN({ ...common, ...o }) },
  { name: 'RNN (relu)', lstm: false, width: H, make: (o) => new RNN({ ...common, nonlinearity: 'relu', ...o }) },
  { name: 'GRU', lstm: false, width: H, make: (o) => new GRU({ ...common, ...o }) },
  { name: 'GRU (resetAfter false)', lstm: false, width: H, make: (o) => new GRU({ ...common, resetAfter: false, ...o }) },
  { name: 'LSTM', lstm: true, width: H, make: (o) => new LSTM({ ...common, ...o }) },
  { name: 'LSTM (projSize 2)', lstm: true, width: 2, make: (o) => new LSTM({ ...common, projSize: 2, ...o }) },
];

const [T, B, L, D] = [5, 3, 2, 2];
const LENGTHS = Int32Array.of(5, 2, 4);

const to64 = (t: Tensor): Tensor64 => ({ data: Float64Array.from(t.data), shape: [...t.shape] });

/** Inputs and upstream gradients of one case, in float32 (the float64 run widens the same values). */
function probe(kind: Kind) {
  const W = kind.width;
  return {
    x: seededTensor([T, B, I], 1), h0: seededTensor([L * D, B, W], 2, 0.5),
    c0: kind.lstm ? seededTensor([L * D, B, H], 3, 0.5) : undefined,
    dOutput: seededTensor([T, B, D * W], 4), dhN: seededTensor([L * D, B, W], 5),
    dcN: kind.lstm ? seededTensor([L * D, B, H], 6) : undefined,
  };
}

type ErrorClass = new (...args: never[]) => Error;
function assertRefused(fn: () => unknown, cls: ErrorClass, code: string, names: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected a ${cls.name}, got ${String(err)}`);
    assert.equal((err as { code?: unknown }).code, code, `code of: ${(err as Error).message}`);
    assert.match((err as Error).message, names);
    return true;
  });
}

const measured = { float32: 0, fd: 0 };

describe("recurrent layers with dtype 'float64'", function () {
  this.timeout(60000);
  after(() => console.log(`      largest float32-vs-float64 scaled error ${measured.float32.toExponential(1)}, ` +
    `largest finite-difference relative error ${measured.fd.toExponential(1)}`));

  for (const kind of KINDS) {
    describe(kind.name, () => {
      it('parameters, gradients, outputs and state dicts are Float64Arrays; the float32 default is unchanged', () => {
        const layer = kind.make({ dtype: 'float64' });
        assert.equal(layer.dtype, 'float64');
        assert.ok(layer.parameters instanceof Float64Array && layer.gradients instanceof Float64Array);
        const p = probe(kind);
        const out = layer.forward(to64(p.x), { h0: to64(p.h0), c0: p.c0 && to64(p.c0), lengths: LENGTHS, training: true });
        assert.ok(out.output.data instanceof Float64Array && out.hN.data instanceof Float64Array);
        if (kind.lstm) assert.ok(out.cN!.data instanceof Float64Array);
        const back = layer.backward({ dOutput: to64(p.dOutput) });
        assert.ok(back.dx.data instanceof Float64Array && back.dh0.data instanceof Float64Array);
        for (const t of Object.values(layer.stateDict())) assert.ok(t.data instanceof Float64Array);
        assert.equal(kind.make({ dtype: 'float32' }).dtype, 'float32');
        assert.equal(kind.make({} as never).parameters.constructor, Float32Array);
      });

      it('agrees with the float32 layer on the same weights within float32 rounding, forward and backward', async () => {
        const f32 = kind.make({ dtype: 'float32', seed: 7 });
        const f64 = kind.make({ dtype: 'float64' });
        f64.loadStateDict(f32.stateDict());  // a float64 layer takes float32 weights, widened exactly
        assert.deepEqual(Array.from(f64.parameters), Array.from(f32.parameters));
        const p = probe(kind);
        const o32 = f32.forward(p.x, { h0: p.h0, c0: p.c0, lengths: LENGTHS, training: true });
        const g32 = f32.backward({ dOutput: p.dOutput, dhN: p.dhN, dcN: p.dcN });
        const o64 = await f64.forwardAsync(to64(p.x), { h0: to64(p.h0), c0: p.c0 && to64(p.c0), lengths: LENGTHS, training: true });
        const g64 = await f64.backwardAsync({ dOutput: to64(p.dOutput), dhN: to64(p.dhN), dcN: p.dcN && to64(p.dcN) });
        const pairs: Array<[string, ArrayLike<number>, ArrayLike<number>]> = [
          ['output', o32.output.data, o64.output.data], ['hN', o32.hN.data, o64.hN.data],
          ['dx', g32.dx.data, g64.dx.data], ['dh0', g32.dh0.data, g64.dh0.data], ['parameter gradients', f32.gradients, f64.gradients],
        ];
        if (kind.lstm) pairs.push(['cN', o32.cN!.data, o64.cN!.data], ['dc0', g32.dc0!.data, g64.dc0!.data]);
        for (const [what, a, b] of pairs) {
          const e = scaledError(a, b);
          measured.float32 = Math.max(measured.float32, e);
          assert.ok(e <= FLOAT32_TOLERANCE, `${what}: scaled error ${e.toExponential(2)}`);
        }
      });

      it(`passes a central-difference gradient check below ${FD_TOLERANCE} relative error (params, x, h0${kind.lstm ? ', c0' : ''})`, () => {
        // relu's kink: weights small enough that no pre-activation sits within eps of 0 on these inputs.
        const layer = kind.make({ dtype: 'float64', seed: 11 }) as Recurrent<'float64'>;
        if (kind.name.includes('relu')) for (let i = 0; i < layer.parameters.length; i++) layer.parameters[i] *= 0.6;
        const p = probe(kind);
        const x = to64(p.x), h0 = to64(p.h0), c0 = p.c0 && to64(p.c0);
        const wy = to64(p.dOutput), wh = to64(p.dhN), wc = p.dcN && to64(p.dcN);
        const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
        const loss = () => {
          const out = layer.forward(x, { h0, c0, lengths: LENGTHS, training: true });
          return dot(out.output.data, wy.data) + dot(out.hN.data, wh.data) + (wc ? dot(out.cN!.data, wc.data) : 0);
        };
        loss();
        layer.zeroGrad();
        const back = layer.backward({ dOutput: wy, dhN: wh, dcN: wc });
        const grads: Array<[string, Float64Array, Float64Array]> = [
          ['params', layer.parameters, layer.gradients.slice()], ['x', x.data, back.dx.data], ['h0', h0.data, back.dh0.data]];
        if (c0) grads.push(['c0', c0.data, back.dc0!.data]);
        const eps = 1e-6;
        for (const [what, values, analytic] of grads) {
          let num = 0, den = 0;
          for (let i = 0; i < values.length; i++) {
            const keep = values[i];
            values[i] = keep + eps; const up = loss();
            values[i] = keep - eps; const down = loss();
            values[i] = keep;
            const fd = (up - down) / (2 * eps);
            num += (fd - analytic[i]) ** 2;
            den += (fd + analytic[i]) ** 2;
          }
          const rel = Math.sqrt(num) / Math.sqrt(den);
          measured.fd = Math.max(measured.fd, rel);
          assert.ok(rel < FD_TOLERANCE, `${what}: relative error ${rel.toExponential(2)}`);
        }
      });
    });
  }

  it('a float32 layer fails the same finite-difference check (why float64 exists)', () => {
    const layer = new LSTM({ ...common, seed: 11 });
    const p = probe(KINDS[4]);
    const loss = () => layer.forward(p.x, { training: true }).output.data.reduce((s, v, i) => s + v * p.dOutput.data[i], 0);
    loss();
    layer.zeroGrad();
    layer.backward({ dOutput: p.dOutput });
    const analytic = layer.gradients.slice();
    let num = 0, den = 0;
    for (let i = 0; i < layer.parameters.length; i++) {
      const keep = layer.parameters[i];
      layer.parameters[i] = keep + 1e-3; const up = loss();
      layer.parameters[i] = keep - 1e-3; const down = loss();
      layer.parameters[i] = keep;
      const fd = (up - down) / 2e-3;
      num += (fd - analytic[i]) ** 2;
      den += (fd + analytic[i]) ** 2;
    }
    assert.ok(Math.sqrt(num) / Math.sqrt(den) > 10 * FD_TOLERANCE, 'float32 differences are far noisier');
  });

  it('batchFirst and unbatched inputs work in float64 as in float32', () => {
    const f32 = new GRU({ inputSize: I, hiddenSize: H, batchFirst: true, seed: 3 });
    const f64 = new GRU({ inputSize: I, hiddenSize: H, batchFirst: true, dtype: 'float64' });
    f64.loadStateDict(f32.stateDict());
    const x = seededTensor([B, T, I], 9);
    assert.ok(scaledError(f32.forward(x).output.data, f64.forward(to64(x)).output.data) < FLOAT32_TOLERANCE);
    const u = seededTensor([T, I], 10);
    const out = f64.forward(to64(u));
    assert.deepEqual(out.output.shape, [T, H]);
    assert.ok(scaledError(f32.forward(u).output.data, out.output.data) < FLOAT32_TOLERANCE);
  });

  describe('training', () => {
    it('SGD, Adam and AdamW step float64 parameters with float64 state; state() and loadState() round-trip', () => {
      for (const make of [() => new SGD({ lr: 0.1, momentum: 0.9 }), () => new Adam({ lr: 0.01 }), () => new AdamW({ lr: 0.01 })]) {
        const layer = new LSTM({ inputSize: I, hiddenSize: H, dtype: 'float64', seed: 1 });
        const opt = make();
        const x = to64(seededTensor([T, B, I], 1)), dOutput = to64(seededTensor([T, B, H], 2));
        const before = layer.parameters.slice();
        for (let step = 0; step < 3; step++) {
          layer.zeroGrad();
          layer.forward(x, { training: true });
          layer.backward({ dOutput });
          clipGradNorm(layer.gradients, 1);
          opt.step(layer.parameters, layer.gradients);
        }
        assert.ok(layer.parameters.some((v, i) => v !== before[i]), 'the weights moved');
        const state = opt.state();
        for (const [k, v] of Object.entries(state)) if (k !== 'step') assert.ok((v as Tensor64).data instanceof Float64Array, k);
        const copy = make();
        copy.loadState(state);
        assert.deepEqual(copy.state(), state);
        // A float32 buffer pair on an optimizer whose state is float64 is refused, changing nothing.
        assertRefused(() => opt.step(new Float32Array(layer.parameters.length), new Float32Array(layer.parameters.length)), TypeError, TYPE,
          /^params: expected a Float64Array \(the element type of this optimizer's state\)/);
        assert.deepEqual(opt.state(), state);
      }
    });

    it('a plain SGD step in float64 is p - lr * g exactly, and clipGradNorm scales Float64Arrays', () => {
      const p = Float64Array.of(1, 2, 3), g = Float64Array.of(0.1, 1 / 3, -2);
      new SGD({ lr: 0.5 }).step(p, g);
      assert.deepEqual(Array.from(p), [1 - 0.5 * 0.1, 2 - 0.5 / 3, 3 + 1]);
      const grads = Float64Array.of(3, 4);
      assert.equal(clipGradNorm(grads, 1), 5);
      assert.ok(Math.abs(Math.hypot(grads[0], grads[1]) - 5 / (5 + 1e-6)) < 1e-15);
    });

    it('mixed float32/float64 buffers are refused with a coded TypeError', () => {
      assertRefused(() => new Adam().step(new Float64Array(3), new Float32Array(3)), TypeError, TYPE, /^grads: expected a Float64Array \(the type of params\)/);
      assertRefused(() => native.adamStep(new Float64Array(3), new Float64Array(3), new Float32Array(3), new Float64Array(3), 0.1, 0.9, 0.999, 1e-8, 0, false, 1),
        TypeError, TYPE, /^expAvg: expected a Float64Array/);
      const layer = new LSTM({ inputSize: I, hiddenSize: H, dtype: 'float64' });
      assertRefused(() => layer.bindStorage(new Float32Array(layer.numParameters) as never, new Float32Array(layer.numParameters) as never),
        TypeError, TYPE, /^bindStorage: expected Float64Array views/);
    });
  });

  describe('files and state dicts', () => {
    const tmp = tempDir('float64');
    after(() => tmp.remove());

    it('saveSafetensors writes F64 and loadSafetensors(keepFloat64) loads the exact bits back', () => {
      const layer = new LSTM({ inputSize: I, hiddenSize: H, projSize: 3, bidirectional: true, dtype: 'float64', seed: 2 });
      for (let i = 0; i < layer.parameters.length; i++) layer.parameters[i] += 1e-12 * i;  // bits float32 cannot hold
      const file = tmp.file('lstm64.safetensors');
      saveSafetensors(file, layer.stateDict());
      const bytes = fs.readFileSync(file);
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
      assert.ok(Object.entries(header).every(([k, v]) => k === '__metadata__' || (v as { dtype: string }).dtype === 'F64'));
      const loaded = new LSTM({ inputSize: I, hiddenSize: H, projSize: 3, bidirectional: true, dtype: 'float64' });
      loaded.loadStateDict(loadSafetensors(file, { keepFloat64: true }).tensors);
      assert.deepEqual(loaded.parameters, layer.parameters);
      // Without keepFloat64 every tensor is rounded to float32, as before; a float32 layer loads that.
      const rounded = loadSafetensors(file).tensors;
      assert.ok(Object.values(rounded).every((t) => t.data instanceof Float32Array));
      const f32 = new LSTM({ inputSize: I, hiddenSize: H, projSize: 3, bidirectional: true });
      f32.loadStateDict(rounded);
      assert.deepEqual(Array.from(f32.parameters), Array.from(layer.parameters, Math.fround));
      assert.ok(path.basename(file));
    });

    it('a float32 layer refuses a Float64Array state dict (no silent rounding)', () => {
      const f64 = new GRU({ inputSize: I, hiddenSize: H, dtype: 'float64' });
      assertRefused(() => new GRU({ inputSize: I, hiddenSize: H }).loadStateDict(f64.stateDict() as never), TypeError, TYPE,
        /^stateDict\['weight_ih_l0'\]\.data: expected a Float32Array/);
    });
  });

  describe('bad input', () => {
    it('refuses an unknown dtype, naming it', () => {
      assertRefused(() => new LSTM({ inputSize: I, hiddenSize: H, dtype: 'float16' as never }), RangeError, VALUE, /^dtype: expected 'float32' or 'float64', got "float16"/);
      assertRefused(() => new RNN({ inputSize: I, hiddenSize: H, dtype: 64 as never }), TypeError, TYPE, /^dtype: expected 'float32' or 'float64', got 64/);
      const config = { cell: NativeCell.Gru, numLayers: 1, numDirections: 1, inputSize: I, hiddenSize: H, bias: true, dropout: 0, workspaceLimitBytes: 1e9 };
      assertRefused(() => new native.RecurrentStack({ ...config, dtype: 'half' as never }), RangeError, VALUE, /^dtype: expected 'float32' or 'float64', got 'half'/);
    });

    it('refuses float32 tensors in a float64 layer (and the reverse) before anything changes', () => {
      const layer = new LSTM({ inputSize: I, hiddenSize: H, dtype: 'float64', seed: 4 });
      const x = seededTensor([T, B, I], 1);
      layer.forward(to64(x), { training: true });
      const before = layer.parameters.slice();
      assertRefused(() => layer.forward(x as never), TypeError, TYPE, /^x\.data: expected a Float64Array \(a dtype 'float64' layer's\), got Float32Array/);
      assertRefused(() => layer.forward(to64(x), { h0: seededTensor([1, B, H], 2) as never }), TypeError, TYPE, /^h0\.data: expected a Float64Array/);
      assertRefused(() => layer.backward({ dOutput: seededTensor([T, B, H], 3) as never }), TypeError, TYPE, /^dOutput\.data: expected a Float64Array/);
      assertRefused(() => new LSTM({ inputSize: I, hiddenSize: H }).forward(to64(x) as never), TypeError, TYPE, /^x\.data: expected a Float32Array/);
      assert.deepEqual(layer.parameters, before);
      assert.deepEqual(layer.backward({ dOutput: to64(seededTensor([T, B, H], 3)) }).dx.shape, [T, B, I], 'the pending backward survives');
    });

    it('the raw float64 binding refuses Float32Arrays and counts 8-byte workspace elements', () => {
      const config = { cell: NativeCell.Lstm, numLayers: 1, numDirections: 1, inputSize: I, hiddenSize: H, bias: true, dropout: 0, workspaceLimitBytes: 1e9 };
      const s64 = new native.RecurrentStack({ ...config, dtype: 'float64' }), s32 = new native.RecurrentStack(config);
      assert.equal(s64.workspaceBytes(T, B), 2 * s32.workspaceBytes(T, B));
      const n = s64.paramCount();
      assertRefused(() => s64.forward(new Float32Array(n), new Float64Array(T * B * I), T, B, null, null, null, false, 0,
        new Float64Array(T * B * H), new Float64Array(B * H), new Float64Array(B * H)), TypeError, TYPE, /^params: expected a Float64Array, got Float32Array/);
      assertRefused(() => s64.forward(new Float64Array(n), new Float64Array(T * B * I), T, B, null, null, null, false, 0,
        new Float32Array(T * B * H), new Float64Array(B * H), new Float64Array(B * H)), TypeError, TYPE, /^output: expected a Float64Array/);
    });

    it('ONNX export refuses a float64 layer with ERR_RNNKIT_UNSUPPORTED naming dtype', () => {
      assertRefused(() => encodeOnnx(new GRU({ inputSize: I, hiddenSize: H, dtype: 'float64' }) as never), Error, 'ERR_RNNKIT_UNSUPPORTED',
        /^dtype: ONNX export takes float32 layers; this GRU is dtype 'float64'/);
    });
  });
});
