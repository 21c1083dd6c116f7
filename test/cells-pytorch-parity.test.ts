// RNNCell/GRUCell/LSTMCell stepped in a loop agree with PyTorch 1.13's cells on the fixtures of
// scripts/make-cell-fixtures.py: every step's h (and c), and every gradient of a loss summed over
// the steps, through the whole loop (the user's BPTT over the tapes).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { GRUCell, LSTMCell, RNNCell, loadSafetensors, type RecurrentCell, type Tensor } from '../lib';
import { runLoop } from './helpers/cells';
import { assertClose } from './helpers/compare';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'cells');
// As the layers' parity test: float32 kernels against a float64 reference, max error over max |reference|.
const TOLERANCE = 1e-4;

interface FixtureConfig {
  mode: 'RNN_TANH' | 'RNN_RELU' | 'GRU' | 'LSTM';
  inputSize: number; hiddenSize: number; B: number; T: number; bias: boolean; hasH0: boolean;
}

function makeCell(c: FixtureConfig): RecurrentCell {
  const options = { inputSize: c.inputSize, hiddenSize: c.hiddenSize, bias: c.bias };
  switch (c.mode) {
    case 'RNN_TANH': return new RNNCell({ ...options, nonlinearity: 'tanh' });
    case 'RNN_RELU': return new RNNCell({ ...options, nonlinearity: 'relu' });
    case 'GRU': return new GRUCell(options);
    case 'LSTM': return new LSTMCell(options);
  }
}

function withPrefix(tensors: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(tensors)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, t]) => [name.slice(prefix.length), t]));
}

const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.safetensors')).sort();

describe('recurrent cells in a loop match PyTorch', () => {
  it('finds the fixtures of every cell', () => {
    for (const cell of ['rnn-tanh', 'rnn-relu', 'gru', 'lstm']) {
      assert.ok(files.filter((f) => f.startsWith(`${cell}-`)).length >= 2, `fixtures for ${cell}`);
    }
  });

  for (const file of files) {
    const name = file.replace('.safetensors', '');
    for (const mode of ['sync', 'async'] as const) {
      it(`${name} (${mode}): every step's state and all gradients through the loop agree`, async () => {
        const { tensors, metadata } = loadSafetensors(path.join(FIXTURES, file));
        const c = JSON.parse(metadata.config) as FixtureConfig;
        const cell = makeCell(c);
        const params = withPrefix(tensors, 'param.');
        cell.loadStateDict(params);  // strict: the fixture's names are PyTorch's cell names
        const lstm = c.mode === 'LSTM';
        const got = await runLoop(cell, {
          x: tensors['input.x'], h0: tensors['input.h0'], c0: lstm ? tensors['input.c0'] : undefined,
          dH: tensors['dout.h'], dC: lstm ? tensors['dout.c'] : undefined,
        }, mode);

        assert.deepEqual(got.h.shape, tensors['out.h'].shape);
        assertClose(got.h.data, tensors['out.h'].data, TOLERANCE, 'h at every step');
        if (lstm) assertClose(got.c!.data, tensors['out.c'].data, TOLERANCE, 'c at every step');
        assertClose(got.dx.data, tensors['grad.x'].data, TOLERANCE, 'grad x');
        if (c.hasH0) {
          assertClose(got.dh0.data, tensors['grad.h0'].data, TOLERANCE, 'grad h0');
          if (lstm) assertClose(got.dc0!.data, tensors['grad.c0'].data, TOLERANCE, 'grad c0');
        }
        const expected = withPrefix(tensors, 'grad.');
        const actual = cell.grads();
        assert.deepEqual(Object.keys(actual).sort(), Object.keys(params).sort(), 'gradient names are the parameter names');
        for (const p of Object.keys(params)) assertClose(actual[p].data, expected[p].data, TOLERANCE, `grad ${p}`);
      });
    }
  }
});
