// RNN, GRU and LSTM layers exported to ONNX run in onnxruntime-node with
// rnnkit's numbers: every cell (RNN tanh and relu, both GRU variants), stacked and bidirectional,
// without biases, batch-first, with a padded batch of variable lengths
// (sequence_lens) and non-zero initial states.

import assert from 'node:assert/strict';
import { GRU, LSTM, RNN, encodeOnnx, onnxGraphs, type Recurrent } from '../lib';
import { scaledError } from './helpers/compare';
import { randomArray } from './helpers/random-array';
import { ONNX_TOLERANCE, f32, floats, i32, recordError, reportErrors, session, type OrtTensor } from './helpers/onnx';

type Make = (o: { inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; bias: boolean; batchFirst: boolean; dropout: number; seed: number }) => Recurrent;

const CELLS: Array<[string, Make]> = [
  ['RNN tanh', (o) => new RNN({ ...o, nonlinearity: 'tanh' })],
  ['RNN relu', (o) => new RNN({ ...o, nonlinearity: 'relu' })],
  ['GRU', (o) => new GRU(o)],
  ['GRU (resetAfter false)', (o) => new GRU({ ...o, resetAfter: false })],
  ['LSTM', (o) => new LSTM(o)],
];

const SHAPES = [
  { what: 'one layer', numLayers: 1, bidirectional: false, bias: true, batchFirst: false, dropout: 0 },
  { what: 'two bidirectional layers', numLayers: 2, bidirectional: true, bias: true, batchFirst: false, dropout: 0 },
  { what: 'three layers without biases, dropout 0.3 (none at inference)', numLayers: 3, bidirectional: false, bias: false, batchFirst: false, dropout: 0.3 },
  { what: 'batch-first, bidirectional', numLayers: 1, bidirectional: true, bias: true, batchFirst: true, dropout: 0 },
];

describe('ONNX export: recurrent layers', () => {
  const T = 6, B = 4, I = 3, H = 5;
  const lengths = new Int32Array([6, 2, 4, 1]);
  after(reportErrors);  // padded batch: the longest, a short one, the shortest possible

  for (const [cell, make] of CELLS) {
    for (const shape of SHAPES) {
      it(`${cell}, ${shape.what}: onnxruntime agrees with forward on a padded batch with h0/c0`, async () => {
        const layer = make({ inputSize: I, hiddenSize: H, seed: 3, ...shape });
        assert.deepEqual(onnxGraphs(layer), ['sequence']);
        const S = layer.numLayers * layer.numDirections;
        const xShape = shape.batchFirst ? [B, T, I] : [T, B, I];
        const x = randomArray(T * B * I, 11);
        const h0 = randomArray(S * B * H, 12, 0.5);
        const c0 = randomArray(S * B * H, 13, 0.5);
        const lstm = layer.hasCellState;
        const expected = layer.forward({ data: x, shape: xShape }, {
          lengths, h0: { data: h0, shape: [S, B, H] }, c0: lstm ? { data: c0, shape: [S, B, H] } : undefined,
        });
        const s = await session(encodeOnnx(layer));
        const feeds: Record<string, OrtTensor> = { x: f32(x, xShape), lengths: i32(lengths, [B]), h0: f32(h0, [S, B, H]) };
        if (lstm) feeds.c0 = f32(c0, [S, B, H]);
        const got = await s.run(feeds);
        assert.deepEqual(got.output.dims, expected.output.shape);
        // Padded steps are zeros in both.
        const pairs: Array<[string, Float32Array]> = [['output', expected.output.data], ['hN', expected.hN.data]];
        if (lstm) pairs.push(['cN', expected.cN!.data]);
        for (const [name, want] of pairs) {
          const error = scaledError(floats(got[name]), want);
          recordError(`${cell} layer`, error);
          assert.ok(error <= ONNX_TOLERANCE, `${name}: scaled error ${error.toExponential(2)}`);
        }
        layer.dispose();
      });
    }
  }

  it('lengths change the result: a padded step is not read (the check above can fail)', async () => {
    const layer = new GRU({ inputSize: I, hiddenSize: H, bidirectional: true, seed: 5 });
    const s = await session(encodeOnnx(layer));
    const x = randomArray(T * B * I, 21);
    const run = async (l: Int32Array) => floats((await s.run({
      x: f32(x, [T, B, I]), lengths: i32(l, [B]), h0: f32(new Float32Array(2 * B * H), [2, B, H]),
    })).hN);
    const full = await run(new Int32Array(B).fill(T));
    const short = await run(lengths);
    assert.ok(scaledError(short, full) > 1e-2, 'hN with lengths [6,2,4,1] should differ from all 6');
    assert.ok(scaledError(short, layer.forward({ data: x, shape: [T, B, I] }, { lengths }).hN.data) <= ONNX_TOLERANCE);
    layer.dispose();
  });
});
