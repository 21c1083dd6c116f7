// RNN/GRU/LSTM agree with PyTorch 1.13 on the fixtures of scripts/make-fixtures.py:
// outputs, final states and every gradient, with packed lengths and h0/c0. GRU_RESET_BEFORE
// (resetAfter: false, Keras reset_after=False) has no PyTorch module: its reference is the
// script's float64 autograd loop on nn.GRU's parameters.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { GRU, LSTM, RNN, loadSafetensors, type Recurrent, type Tensor } from '../lib';
import { assertClose } from './helpers/compare';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'recurrent');
const TOLERANCE = 1e-4;

interface FixtureConfig {
  mode: 'RNN_TANH' | 'RNN_RELU' | 'GRU' | 'LSTM' | 'GRU_RESET_BEFORE';
  inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; bias: boolean;
  T: number; B: number; hasH0: boolean; hasLengths: boolean;
}

function makeLayer(c: FixtureConfig): Recurrent {
  const options = { inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers,
    bidirectional: c.bidirectional, bias: c.bias };
  switch (c.mode) {
    case 'RNN_TANH': return new RNN({ ...options, nonlinearity: 'tanh' });
    case 'RNN_RELU': return new RNN({ ...options, nonlinearity: 'relu' });
    case 'GRU': return new GRU(options);
    case 'GRU_RESET_BEFORE': return new GRU({ ...options, resetAfter: false });
    case 'LSTM': return new LSTM(options);
  }
}

function withPrefix(tensors: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(tensors)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, t]) => [name.slice(prefix.length), t]));
}

const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.safetensors')).sort();

describe('recurrent layers match PyTorch', () => {
  it('finds the fixtures of every cell', () => {
    for (const cell of ['rnn-tanh', 'rnn-relu', 'gru', 'lstm', 'gru-reset-before']) {
      assert.ok(files.filter((f) => f.startsWith(`${cell}-`) && (cell === 'gru-reset-before' || !f.startsWith('gru-reset-before-'))).length >= 6,
        `fixtures for ${cell}`);
    }
  });

  for (const file of files) {
    const name = file.replace('.safetensors', '');
    for (const mode of ['sync', 'async'] as const) {
      it(`${name} (${mode}): outputs, final states and all gradients agree`, async () => {
        const { tensors, metadata } = loadSafetensors(path.join(FIXTURES, file));
        const c = JSON.parse(metadata.config) as FixtureConfig;
        const layer = makeLayer(c);
        layer.loadStateDict(withPrefix(tensors, 'param.'));
        const lstm = c.mode === 'LSTM';
        const options = {
          training: true,
          h0: tensors['input.h0'],
          c0: lstm ? tensors['input.c0'] : undefined,
          lengths: c.hasLengths ? Int32Array.from(tensors['input.lengths'].data) : undefined,
        };
        const grads = { dOutput: tensors['dout.output'], dhN: tensors['dout.hN'], dcN: lstm ? tensors['dout.cN'] : undefined };
        const out = mode === 'sync' ? layer.forward(tensors['input.x'], options) : await layer.forwardAsync(tensors['input.x'], options);
        const back = mode === 'sync' ? layer.backward(grads) : await layer.backwardAsync(grads);

        assert.deepEqual(out.output.shape, tensors['out.output'].shape);
        assertClose(out.output.data, tensors['out.output'].data, TOLERANCE, 'output');
        assertClose(out.hN.data, tensors['out.hN'].data, TOLERANCE, 'hN');
        if (lstm) assertClose(out.cN!.data, tensors['out.cN'].data, TOLERANCE, 'cN');
        assertClose(back.dx.data, tensors['grad.x'].data, TOLERANCE, 'grad x');
        if (c.hasH0) {
          assertClose(back.dh0.data, tensors['grad.h0'].data, TOLERANCE, 'grad h0');
          if (lstm) assertClose(back.dc0!.data, tensors['grad.c0'].data, TOLERANCE, 'grad c0');
        }
        const expected = withPrefix(tensors, 'grad.');
        const actual = layer.grads();
        const paramNames = Object.keys(withPrefix(tensors, 'param.'));
        assert.deepEqual(Object.keys(actual).sort(), paramNames.sort(), 'gradient names are the parameter names');
        for (const p of paramNames) assertClose(actual[p].data, expected[p].data, TOLERANCE, `grad ${p}`);
      });
    }
  }
});
