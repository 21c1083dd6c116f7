// LSTM with a projection (projSize, PyTorch's proj_size): agrees with PyTorch 1.13 on the fixtures of
// scripts/make-projection-fixtures.py (outputs, hN, cN and every gradient, with packed lengths, h0/c0,
// bidirectional and stacked layers), passes a finite-difference gradient check in float64, keeps
// PyTorch's parameter names and shapes, refuses bad values with coded errors before anything changes,
// and goes through the structures, model files and state dicts; ONNX export refuses it.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  EncoderDecoder, GRU, LSTM, ManyToOne, OneToMany, RNN, encodeOnnx, exportOnnx, loadModel, loadSafetensors, onnxGraphs,
  type Recurrent, type Tensor, type Tensor64,
} from '../lib';
import { native, NativeCell } from '../lib/native';
import { assertClose, scaledError } from './helpers/compare';
import { seededTensor } from './helpers/recurrent-kinds';
import { tempDir } from './helpers/structures';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'projection');
/** Scaled error (max |a - b| / max |b|) allowed against PyTorch's float64 reference rounded to float32. */
const TOLERANCE = 2e-5;
const VALUE = 'ERR_RNNKIT_VALUE', SHAPE = 'ERR_RNNKIT_SHAPE', TYPE = 'ERR_RNNKIT_TYPE';

interface FixtureConfig {
  inputSize: number; hiddenSize: number; projSize: number; numLayers: number; bidirectional: boolean; bias: boolean;
  T: number; B: number; hasH0: boolean; hasLengths: boolean;
}

function withPrefix(tensors: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(tensors)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, t]) => [name.slice(prefix.length), t]));
}

/** [A, C, F] -> [C, A, F]. */
function swap01(t: Tensor): Tensor {
  const [A, C, F] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let a = 0; a < A; a++) for (let c = 0; c < C; c++) out.set(t.data.subarray((a * C + c) * F, (a * C + c + 1) * F), (c * A + a) * F);
  return { data: out, shape: [C, A, F] };
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

const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.safetensors')).sort();
const worst: Record<string, number> = {};

describe('LSTM projSize (PyTorch proj_size)', function () {
  this.timeout(60000);
  after(() => {
    const line = Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ');
    console.log(`      largest scaled errors against PyTorch: ${line}`);
  });

  describe('matches PyTorch 1.13', () => {
    it('finds the fixtures (stacked, bidirectional, lengths, h0/c0, no bias, projSize 1)', () => {
      assert.ok(files.length >= 6, `${files.length} fixtures`);
    });

    for (const file of files) {
      const name = file.replace('.safetensors', '');
      for (const mode of ['sync', 'async', 'batchFirst'] as const) {
        it(`${name} (${mode}): outputs, hN, cN and all gradients agree within ${TOLERANCE}`, async () => {
          const { tensors, metadata } = loadSafetensors(path.join(FIXTURES, file));
          const c = JSON.parse(metadata.config) as FixtureConfig;
          const batchFirst = mode === 'batchFirst';
          const layer = new LSTM({ inputSize: c.inputSize, hiddenSize: c.hiddenSize, projSize: c.projSize, numLayers: c.numLayers,
            bidirectional: c.bidirectional, bias: c.bias, batchFirst });
          const params = withPrefix(tensors, 'param.');
          assert.deepEqual(layer.parameterShapes(), Object.entries(params).map(([n, t]) => [n, t.shape]),
            "PyTorch's parameter names, shapes and order");
          layer.loadStateDict(params);
          const options = {
            training: true, h0: tensors['input.h0'], c0: tensors['input.c0'],
            lengths: c.hasLengths ? Int32Array.from(tensors['input.lengths'].data) : undefined,
          };
          const x = batchFirst ? swap01(tensors['input.x']) : tensors['input.x'];
          const dOutput = batchFirst ? swap01(tensors['dout.output']) : tensors['dout.output'];
          const grads = { dOutput, dhN: tensors['dout.hN'], dcN: tensors['dout.cN'] };
          const out = mode === 'async' ? await layer.forwardAsync(x, options) : layer.forward(x, options);
          const back = mode === 'async' ? await layer.backwardAsync(grads) : layer.backward(grads);
          const output = batchFirst ? swap01(out.output) : out.output;
          const dx = batchFirst ? swap01(back.dx) : back.dx;

          const compare = (what: string, actual: Tensor, expected: Tensor) => {
            assert.deepEqual(actual.shape, expected.shape, `${what} shape`);
            const kind = what.startsWith('grad') ? 'gradients' : 'outputs';
            worst[kind] = Math.max(worst[kind] ?? 0, scaledError(actual.data, expected.data));
            assertClose(actual.data, expected.data, TOLERANCE, what);
          };
          compare('output', output, tensors['out.output']);
          compare('hN', out.hN, tensors['out.hN']);
          compare('cN', out.cN!, tensors['out.cN']);
          compare('grad x', dx, tensors['grad.x']);
          if (c.hasH0) {
            compare('grad h0', back.dh0, tensors['grad.h0']);
            compare('grad c0', back.dc0!, tensors['grad.c0']);
          }
          const expected = withPrefix(tensors, 'grad.');
          const actual = layer.grads();
          for (const p of Object.keys(params)) compare(`grad ${p}`, actual[p], expected[p]);
        });
      }
    }
  });

  it('passes a finite-difference gradient check in float64 (params, x, h0, c0; lengths, 2 layers, bidirectional)', () => {
    const [T, B, I, H, P, L, D] = [4, 3, 3, 4, 2, 2, 2];
    const layer = new LSTM({ inputSize: I, hiddenSize: H, projSize: P, numLayers: L, bidirectional: true, dtype: 'float64', seed: 5 });
    const f64 = (shape: number[], seed: number, scale = 1): Tensor64 => {
      const t = seededTensor(shape, seed, scale);
      return { data: Float64Array.from(t.data), shape };
    };
    const x = f64([T, B, I], 1), h0 = f64([L * D, B, P], 2, 0.5), c0 = f64([L * D, B, H], 3, 0.5);
    const wy = f64([T, B, D * P], 4), wh = f64([L * D, B, P], 5), wc = f64([L * D, B, H], 6);
    const lengths = Int32Array.of(4, 2, 1);
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
    const loss = () => {
      const out = layer.forward(x, { h0, c0, lengths, training: true });
      return dot(out.output.data, wy.data) + dot(out.hN.data, wh.data) + dot(out.cN!.data, wc.data);
    };
    loss();
    layer.zeroGrad();
    const back = layer.backward({ dOutput: wy, dhN: wh, dcN: wc });
    const analytic = { params: layer.gradients.slice(), x: back.dx.data, h0: back.dh0.data, c0: back.dc0!.data };
    const relative = (values: Float64Array, grad: Float64Array) => {
      let num = 0, den = 0;
      const eps = 1e-6;
      for (let i = 0; i < values.length; i++) {
        const keep = values[i];
        values[i] = keep + eps; const up = loss();
        values[i] = keep - eps; const down = loss();
        values[i] = keep;
        const fd = (up - down) / (2 * eps);
        num += (fd - grad[i]) ** 2;
        den += (fd + grad[i]) ** 2;
      }
      return Math.sqrt(num) / Math.sqrt(den);
    };
    const errors = {
      params: relative(layer.parameters, analytic.params), x: relative(x.data, analytic.x),
      h0: relative(h0.data, analytic.h0), c0: relative(c0.data, analytic.c0),
    };
    console.log(`      relative errors |fd - a| / |fd + a|: ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);
    for (const [what, e] of Object.entries(errors)) assert.ok(e < 1e-6, `${what}: relative error ${e}`);
  });

  it('takes unbatched [T, I] input with h0 [L*D, projSize] and c0 [L*D, hiddenSize], like a batch of one', () => {
    const layer = new LSTM({ inputSize: 3, hiddenSize: 5, projSize: 2, numLayers: 2, seed: 2 });
    const x = seededTensor([4, 3], 1), h0 = seededTensor([2, 2], 2), c0 = seededTensor([2, 5], 3);
    const alone = layer.forward(x, { h0, c0 });
    const batched = layer.forward({ data: x.data, shape: [4, 1, 3] }, { h0: { data: h0.data, shape: [2, 1, 2] }, c0: { data: c0.data, shape: [2, 1, 5] } });
    assert.deepEqual(alone.output.shape, [4, 2]);
    assert.deepEqual(alone.hN.shape, [2, 2]);
    assert.deepEqual(alone.cN!.shape, [2, 5]);
    assert.deepEqual(alone.output.data, batched.output.data);
    assert.deepEqual(alone.cN!.data, batched.cN!.data);
  });

  it('state dicts: weight_hr_l{k}[_reverse] with PyTorch shapes, and a stateDict round trip is exact', () => {
    const layer = new LSTM({ inputSize: 3, hiddenSize: 6, projSize: 4, numLayers: 2, bidirectional: true, bias: false, seed: 3 });
    const shapes = Object.fromEntries(layer.parameterShapes());
    assert.deepEqual(shapes.weight_hh_l0, [24, 4]);
    assert.deepEqual(shapes.weight_ih_l1, [24, 8]);
    assert.deepEqual(shapes.weight_hr_l1_reverse, [4, 6]);
    assert.equal(layer.numParameters, 2 * (24 * 3 + 24 * 4 + 4 * 6) + 2 * (24 * 8 + 24 * 4 + 4 * 6));
    const copy = new LSTM({ inputSize: 3, hiddenSize: 6, projSize: 4, numLayers: 2, bidirectional: true, bias: false, seed: 4 });
    copy.loadStateDict(layer.stateDict());
    assert.deepEqual(copy.parameters, layer.parameters);
    assertRefused(() => new LSTM({ inputSize: 3, hiddenSize: 6, numLayers: 2, bidirectional: true, bias: false }).loadStateDict(layer.stateDict()),
      RangeError, SHAPE, /stateDict\['weight_hh_l0'\]: expected shape \[24, 6\]/);
  });

  describe('bad input gets a coded error naming projSize, before anything changes', () => {
    it('refuses projSize on RNN and GRU, as PyTorch does', () => {
      assertRefused(() => new GRU({ inputSize: 3, hiddenSize: 4, projSize: 2 } as never), RangeError, VALUE, /^projSize: only LSTM has a projection.*GRU/);
      assertRefused(() => new RNN({ inputSize: 3, hiddenSize: 4, projSize: 0 } as never), RangeError, VALUE, /^projSize: only LSTM.*RNN/);
    });

    it('refuses projSize >= hiddenSize, negative, fractional and non-number values', () => {
      const make = (projSize: unknown) => () => new LSTM({ inputSize: 3, hiddenSize: 4, projSize: projSize as number });
      assertRefused(make(4), RangeError, VALUE, /^projSize: expected an integer smaller than hiddenSize \(4\).*got 4/);
      assertRefused(make(9), RangeError, VALUE, /^projSize: .*hiddenSize \(4\)/);
      assertRefused(make(-1), RangeError, VALUE, /^projSize: expected a non-negative integer, got -1/);
      assertRefused(make(1.5), RangeError, VALUE, /^projSize: expected a non-negative integer, got 1\.5/);
      assertRefused(make('2'), TypeError, TYPE, /^projSize: expected a non-negative integer, got "2"/);
      assert.equal(new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 0 }).projSize, 0, 'projSize 0 is no projection');
    });

    it('the raw binding checks projSize itself', () => {
      const config = { numLayers: 1, numDirections: 1, inputSize: 3, hiddenSize: 4, bias: true, dropout: 0, workspaceLimitBytes: 1e9 };
      assertRefused(() => new native.RecurrentStack({ ...config, cell: NativeCell.Gru, projSize: 2 }), RangeError, VALUE, /^projSize: only an LSTM/);
      assertRefused(() => new native.RecurrentStack({ ...config, cell: NativeCell.Lstm, projSize: 4 }), RangeError, VALUE, /^projSize: expected 0 <= projSize < hiddenSize \(4\), got 4/);
      assertRefused(() => new native.RecurrentStack({ ...config, cell: NativeCell.Lstm, projSize: -1 }), RangeError, VALUE, /^projSize/);
      assert.equal(new native.RecurrentStack({ ...config, cell: NativeCell.Lstm, projSize: 2 }).paramCount(), 16 * 3 + 16 * 2 + 32 + 2 * 4);
    });

    it('h0, c0, dhN and dcN of the wrong width are refused, naming projSize or hiddenSize; nothing changes', () => {
      const layer = new LSTM({ inputSize: 3, hiddenSize: 5, projSize: 2, numLayers: 2, seed: 1 });
      const x = seededTensor([4, 3, 3], 1);
      const good = layer.forward(x, { training: true });
      const before = { params: layer.parameters.slice(), grads: layer.gradients.slice() };
      assertRefused(() => layer.forward(x, { h0: seededTensor([2, 3, 5], 2) }), RangeError, SHAPE, /^h0: expected shape \[2, 3, 2\] \(\[numLayers\*numDirections=2, B=3, projSize=2\]\)/);
      assertRefused(() => layer.forward(x, { c0: seededTensor([2, 3, 2], 2) }), RangeError, SHAPE, /^c0: expected shape \[2, 3, 5\] \(.*hiddenSize=5/);
      assertRefused(() => layer.backward({ dhN: seededTensor([2, 3, 5], 3) }), RangeError, SHAPE, /^dhN: expected shape \[2, 3, 2\]/);
      assertRefused(() => layer.backward({ dcN: seededTensor([2, 3, 2], 3) }), RangeError, SHAPE, /^dcN: expected shape \[2, 3, 5\]/);
      assertRefused(() => layer.backward({ dOutput: seededTensor([4, 3, 5], 3) }), RangeError, SHAPE, /^dOutput: expected shape \[4, 3, 2\]/);
      assert.deepEqual(layer.parameters, before.params);
      assert.deepEqual(layer.gradients, before.grads);
      // The training forward before the refusals is still the one backward differentiates.
      const back = layer.backward({ dOutput: { data: new Float32Array(good.output.data.length).fill(1), shape: good.output.shape } });
      assert.deepEqual(back.dx.shape, [4, 3, 3]);
    });

    it('structure specs refuse projSize on other cells, too large, and in the attention decoder', () => {
      const base = { input: { type: 'features' as const, size: 3 }, output: { type: 'real' as const, size: 1 } };
      assertRefused(() => new ManyToOne({ ...base, recurrent: { cell: 'gru', hiddenSize: 4, projSize: 2 } }), RangeError, VALUE,
        /^recurrent\.projSize: only an 'lstm' cell has a projection/);
      assertRefused(() => new ManyToOne({ ...base, recurrent: { cell: 'lstm', hiddenSize: 4, projSize: 4 } }), RangeError, VALUE,
        /^recurrent\.projSize: expected an integer smaller than hiddenSize \(4\)/);
      const ed = { input: { type: 'tokens' as const, vocabSize: 5, embeddingSize: 3 }, encoder: { cell: 'lstm' as const, hiddenSize: 4, projSize: 2 },
        output: { vocabSize: 5, embeddingSize: 3, startToken: 0, endToken: 1 } };
      assertRefused(() => new EncoderDecoder({ ...ed, decoder: { cell: 'lstm', hiddenSize: 4, projSize: 3 }, attention: 'bahdanau' }), RangeError, VALUE,
        /^decoder\.projSize: the attention decoder's LSTM has no projection/);
      // luong-dot scores against the encoder's outputs, which are projSize wide.
      assertRefused(() => new EncoderDecoder({ ...ed, decoder: { cell: 'gru', hiddenSize: 4 }, attention: 'luong-dot' }), RangeError, SHAPE,
        /encoder\.projSize 2.*= 2\), got 4/);
      assert.ok(new EncoderDecoder({ ...ed, decoder: { cell: 'gru', hiddenSize: 2 }, attention: 'luong-dot' }));
    });
  });

  describe('in the structures', () => {
    const tmp = tempDir('projection');
    after(() => tmp.remove());

    it('ManyToOne: the head reads D*projSize features; a model file keeps projSize and predicts the same bits', async () => {
      const model = new ManyToOne({ input: { type: 'features', size: 3 }, recurrent: { cell: 'lstm', hiddenSize: 6, projSize: 2, bidirectional: true, numLayers: 2 },
        output: { type: 'classes', numClasses: 3 }, seed: 4 });
      assert.equal(model.head.inFeatures, 4);
      assert.ok(model.parameterShapes().some(([n, s]) => n === 'encoder.rnn.weight_hr_l1_reverse' && s.join() === '2,6'));
      const data = Array.from({ length: 24 }, (_, i) => ({ input: [[i % 3, 1, -1], [0.5, i % 2, 0]], target: i % 3 }));
      await model.fit(data, { epochs: 2, batchSize: 8, optimizer: { type: 'adam', lr: 1e-2 }, seed: 1 });
      const file = tmp.file('m2o.safetensors');
      model.save(file);
      const { model: loaded } = loadModel(file);
      assert.equal((loaded.config() as { recurrent: { projSize?: number } }).recurrent.projSize, 2);
      const inputs = data.map((e) => e.input);
      assert.deepEqual((loaded as ManyToOne).predictProba(inputs), model.predictProba(inputs));
    });

    it('a spec without projSize writes no projSize key (files of before read the same)', () => {
      const m = new ManyToOne({ input: { type: 'features', size: 3 }, recurrent: { cell: 'lstm', hiddenSize: 4 }, output: { type: 'real', size: 1 } });
      assert.ok(!('projSize' in (m.config().recurrent as object)));
    });

    it("OneToMany and EncoderDecoder bridge their context into projSize-wide initial states", async () => {
      const o2m = new OneToMany({ condition: { type: 'features', size: 5 }, conditioning: 'first-step', recurrent: { cell: 'lstm', hiddenSize: 6, projSize: 5, numLayers: 1 },
        output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 } });
      // context size 5 == projSize 5 with one layer: the bridge is the identity, as with hiddenSize before.
      assert.ok(!o2m.parameterShapes().some(([n]) => n.includes('bridge')));
      const ed = new EncoderDecoder({ input: { type: 'tokens', vocabSize: 6, embeddingSize: 3 }, encoder: { cell: 'lstm', hiddenSize: 5, projSize: 3 },
        decoder: { cell: 'lstm', hiddenSize: 4, projSize: 2, numLayers: 2 }, output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 } });
      const shapes = Object.fromEntries(ed.parameterShapes());
      assert.deepEqual(shapes['decoder.bridge.weight'], [4, 3], 'bridge: encoder context (3) -> 2 layers x projSize 2');
      assert.deepEqual(shapes['decoder.head.weight'], [6, 2]);
      await ed.fit([{ input: [2, 3], target: [3, 2] }, { input: [4], target: [4] }], { epochs: 1, batchSize: 2 });
      assert.equal(ed.predict([[2, 3]], { maxLength: 4 }).length, 1);
    });

    it('attention reads a projected encoder: memory is D*projSize wide', async () => {
      const ed = new EncoderDecoder({ input: { type: 'tokens', vocabSize: 6, embeddingSize: 3 },
        encoder: { cell: 'lstm', hiddenSize: 5, projSize: 2, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 6 },
        output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 }, attention: 'bahdanau' });
      assert.deepEqual(Object.fromEntries(ed.parameterShapes())['decoder.head.weight'], [6, 6 + 4], 'head: decoder state + context of D*projSize');
      const data = [{ input: [2, 3, 4], target: [4, 3, 2] }, { input: [5], target: [5] }];
      const before = await ed.evaluate(data);
      await ed.fit(data, { epochs: 20, batchSize: 2, optimizer: { type: 'adam', lr: 0.05 } });
      assert.ok((await ed.evaluate(data)) < before, 'training lowers the loss');
      const [t] = ed.predict([[2, 3, 4]], { maxLength: 5 });
      assert.equal(t.attention!.length, t.tokens.length + 1);
      assert.equal(t.attention![0].length, 3);
    });
  });

  describe('ONNX export refuses it (ONNX LSTM has no projection)', () => {
    it('a projSize LSTM layer, and structures holding one, get ERR_RNNKIT_UNSUPPORTED naming projSize', () => {
      const tmp = tempDir('projection-onnx');
      try {
        const layer: Recurrent = new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 2 });
        const unsupported = /^projSize: ONNX's LSTM operator has no projection/;
        assertRefused(() => encodeOnnx(layer), Error, 'ERR_RNNKIT_UNSUPPORTED', unsupported);
        assertRefused(() => onnxGraphs(layer), Error, 'ERR_RNNKIT_UNSUPPORTED', unsupported);
        const file = tmp.file('never.onnx');
        assertRefused(() => exportOnnx(layer, file), Error, 'ERR_RNNKIT_UNSUPPORTED', unsupported);
        assert.ok(!fs.existsSync(file), 'no file is written');
        const m2o = new ManyToOne({ input: { type: 'features', size: 3 }, recurrent: { cell: 'lstm', hiddenSize: 4, projSize: 2 }, output: { type: 'real', size: 1 } });
        assertRefused(() => encodeOnnx(m2o), Error, 'ERR_RNNKIT_UNSUPPORTED', /projSize 2 \(encoder\.rnn\)/);
        const ed = new EncoderDecoder({ input: { type: 'tokens', vocabSize: 6, embeddingSize: 3 }, encoder: { cell: 'gru', hiddenSize: 4 },
          decoder: { cell: 'lstm', hiddenSize: 4, projSize: 3 }, output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 } });
        assertRefused(() => exportOnnx(ed, tmp.file('ed.onnx')), Error, 'ERR_RNNKIT_UNSUPPORTED', /projSize 3 \(decoder\.rnn\)/);
        assert.deepEqual(fs.readdirSync(tmp.dir), []);
      } finally {
        tmp.remove();
      }
    });
  });
});
