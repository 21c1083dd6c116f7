// AttentionDecoder agrees with a PyTorch 1.13 reference on the fixtures of
// scripts/make-attention-fixtures.py: outputs, attention weights, final states
// and every gradient, with source and target lengths and h0/c0; and step()
// decoding (reusing the attention keys) reproduces forward().

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { loadSafetensors, type Tensor } from '../lib';
import { AttentionDecoder, type AttentionKind, type DecoderState } from '../lib/layers/attention-decoder';
import { assertClose } from './helpers/compare';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'attention');
const TOLERANCE = 1e-4;

interface FixtureConfig {
  cell: 'rnn' | 'gru' | 'lstm';
  nonlinearity: 'tanh' | 'relu';
  attention: AttentionKind;
  inputSize: number; memorySize: number; hiddenSize: number; attentionSize: number;
  M: number; N: number; B: number;
}

function withPrefix(tensors: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(tensors)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, t]) => [name.slice(prefix.length), t]));
}

function load(file: string) {
  const { tensors, metadata } = loadSafetensors(path.join(FIXTURES, file));
  const c = JSON.parse(metadata.config) as FixtureConfig;
  const layer = new AttentionDecoder({
    cell: c.cell, nonlinearity: c.nonlinearity, inputSize: c.inputSize, memorySize: c.memorySize,
    hiddenSize: c.hiddenSize, attention: c.attention, attentionSize: c.attentionSize,
  });
  layer.loadStateDict(withPrefix(tensors, 'param.'));
  const lstm = c.cell === 'lstm';
  const sourceLengths = Int32Array.from(tensors['input.sourceLengths'].data);
  const targetLengths = Int32Array.from(tensors['input.targetLengths'].data);
  return { tensors, c, layer, lstm, sourceLengths, targetLengths };
}

/** Step i of a time-major [T, B, F] tensor as [1, B, F]. */
function timeStep(t: Tensor, i: number): Tensor {
  const [, B, F] = t.shape;
  return { data: t.data.slice(i * B * F, (i + 1) * B * F), shape: [1, B, F] };
}

const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.safetensors')).sort();

describe('AttentionDecoder matches PyTorch', () => {
  it('finds the fixtures of every cell and attention kind', () => {
    const configs = files.map((f) => JSON.parse(loadSafetensors(path.join(FIXTURES, f)).metadata.config) as FixtureConfig);
    for (const attention of ['bahdanau', 'luong-dot', 'luong-general'] as const) {
      for (const cell of ['gru', 'lstm'] as const) {
        assert.ok(configs.some((c) => c.cell === cell && c.attention === attention), `fixture for ${cell} ${attention}`);
      }
    }
    for (const nonlinearity of ['tanh', 'relu'] as const) {
      assert.ok(configs.some((c) => c.cell === 'rnn' && c.nonlinearity === nonlinearity), `fixture for rnn ${nonlinearity}`);
    }
  });

  for (const file of files) {
    const name = file.replace('.safetensors', '');
    for (const mode of ['sync', 'async'] as const) {
      it(`${name} (${mode}): outputs, weights, final states and all gradients agree`, async () => {
        const { tensors, layer, lstm, sourceLengths, targetLengths } = load(file);
        const x = tensors['input.x'];
        const memory = tensors['input.memory'];
        const options = {
          sourceLengths, targetLengths, training: true,
          h0: tensors['input.h0'], c0: lstm ? tensors['input.c0'] : undefined,
        };
        const grads = { dOutput: tensors['dout.output'], dhN: tensors['dout.hN'], dcN: lstm ? tensors['dout.cN'] : undefined };
        const out = mode === 'sync' ? layer.forward(x, memory, options) : await layer.forwardAsync(x, memory, options);
        const back = mode === 'sync' ? layer.backward(grads) : await layer.backwardAsync(grads);

        assert.deepEqual(out.output.shape, tensors['out.output'].shape);
        assert.deepEqual(out.weights.shape, tensors['out.weights'].shape);
        assert.deepEqual(out.hN.shape, tensors['out.hN'].shape);
        assertClose(out.output.data, tensors['out.output'].data, TOLERANCE, 'output');
        assertClose(out.weights.data, tensors['out.weights'].data, TOLERANCE, 'weights');
        assertClose(out.hN.data, tensors['out.hN'].data, TOLERANCE, 'hN');
        if (lstm) assertClose(out.cN!.data, tensors['out.cN'].data, TOLERANCE, 'cN');
        else assert.equal(out.cN, undefined);
        assertClose(back.dx.data, tensors['grad.x'].data, TOLERANCE, 'grad x');
        assertClose(back.dMemory.data, tensors['grad.memory'].data, TOLERANCE, 'grad memory');
        assertClose(back.dh0.data, tensors['grad.h0'].data, TOLERANCE, 'grad h0');
        if (lstm) assertClose(back.dc0!.data, tensors['grad.c0'].data, TOLERANCE, 'grad c0');
        const expected = withPrefix(tensors, 'grad.');
        const actual = layer.grads();
        const paramNames = Object.keys(withPrefix(tensors, 'param.'));
        assert.deepEqual(Object.keys(actual).sort(), paramNames.sort(), 'gradient names are the parameter names');
        for (const p of paramNames) assertClose(actual[p].data, expected[p].data, TOLERANCE, `grad ${p}`);
      });
    }
  }
});

describe('AttentionDecoder.step reproduces forward', () => {
  const unpadded = files.filter((f) => {
    const { tensors, metadata } = loadSafetensors(path.join(FIXTURES, f));
    const M = (JSON.parse(metadata.config) as FixtureConfig).M;
    return tensors['input.targetLengths'].data.every((m) => m === M);
  });

  it('has fixtures without target padding, with keys to reuse', () => {
    const kinds = unpadded.map((f) => (JSON.parse(loadSafetensors(path.join(FIXTURES, f)).metadata.config) as FixtureConfig).attention);
    assert.ok(kinds.includes('bahdanau') && kinds.includes('luong-general'), `unpadded fixtures: ${unpadded.join(', ')}`);
  });

  for (const file of unpadded) {
    it(`${file.replace('.safetensors', '')}: M step() calls with reuseKeys give forward's outputs`, () => {
      const { tensors, c, layer, lstm, sourceLengths } = load(file);
      const x = tensors['input.x'];
      const memory = tensors['input.memory'];
      const h0 = tensors['input.h0'];
      const c0 = lstm ? tensors['input.c0'] : undefined;
      const full = layer.forward(x, memory, { sourceLengths, h0, c0 });

      let state: DecoderState = { h: h0, c: c0 };
      for (let i = 0; i < c.M; i++) {
        const out = layer.step(timeStep(x, i), memory, state, { sourceLengths, reuseKeys: i > 0 });
        assert.deepEqual(out.output.shape, [1, c.B, c.hiddenSize + c.memorySize]);
        assert.deepEqual(out.weights.shape, [1, c.B, c.N]);
        const what = `step ${i}`;
        assertClose(out.output.data, timeStep(full.output, i).data, TOLERANCE, `${what} output vs forward`);
        assertClose(out.weights.data, timeStep(full.weights, i).data, TOLERANCE, `${what} weights vs forward`);
        assertClose(out.output.data, timeStep(tensors['out.output'], i).data, TOLERANCE, `${what} output vs PyTorch`);
        assertClose(out.weights.data, timeStep(tensors['out.weights'], i).data, TOLERANCE, `${what} weights vs PyTorch`);
        if (lstm) assert.ok(out.cN, `${what}: an LSTM step returns cN`);
        state = { h: out.hN, c: out.cN };
      }
      assertClose(state.h.data, full.hN.data, TOLERANCE, 'final h vs forward');
      assertClose(state.h.data, tensors['out.hN'].data, TOLERANCE, 'final h vs PyTorch');
      if (lstm) {
        assertClose(state.c!.data, full.cN!.data, TOLERANCE, 'final c vs forward');
        assertClose(state.c!.data, tensors['out.cN'].data, TOLERANCE, 'final c vs PyTorch');
      }
    });
  }
});
