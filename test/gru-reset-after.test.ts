// The GRU's resetAfter option through the public API: the layer, the structures' specs and
// model files (a file without the key loads as PyTorch's GRU), and where it is refused.
// The math itself is tested against the float64 reference in recurrent-pytorch-parity
// (gru-reset-before-* fixtures) and by finite differences in the native tests.

import assert from 'node:assert/strict';
import {
  AttentionDecoder, EncoderDecoder, GRU, ManyToOne, loadModel, loadSafetensors, type ManyToOneExample,
} from '../lib';
import { randomTokens, tempDir, testRandom } from './helpers/structures';
import { tensor } from './helpers/cells';

const bad = (v: unknown) => v as never;

function refused(fn: () => unknown, cls: typeof TypeError | typeof RangeError, code: string, names: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected a ${cls.name}, got ${String(e)}`);
    assert.equal((e as { code?: string }).code, code);
    assert.match((e as Error).message, names);
    return true;
  });
}

describe('GRU resetAfter', function () {
  this.timeout(30000);
  const tmp = tempDir('reset-after');
  after(() => tmp.remove());

  it('defaults to true, and false changes the output of the same parameters (the reset gate moves before W_hn)', function () {
    const options = { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 5 };
    const after = new GRU(options), before = new GRU({ ...options, resetAfter: false }), explicit = new GRU({ ...options, resetAfter: true });
    assert.equal(after.resetAfter, true);
    assert.equal(before.resetAfter, false);
    assert.deepEqual(Array.from(before.parameters), Array.from(after.parameters), 'same parameters, same init');
    assert.deepEqual(Object.keys(before.stateDict()), Object.keys(after.stateDict()), 'same PyTorch names');
    const x = tensor([5, 2, 3], 9);
    const a = after.forward(x).output.data, b = before.forward(x).output.data;
    assert.deepEqual(Array.from(explicit.forward(x).output.data), Array.from(a));
    let largest = 0;
    for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
    assert.ok(largest > 1e-3, `outputs differ by ${largest}`);
  });

  it('refuses a resetAfter that is not a boolean, naming it', function () {
    refused(() => new GRU({ inputSize: 2, hiddenSize: 2, resetAfter: bad('no') }), TypeError, 'ERR_RNNKIT_TYPE', /^resetAfter: expected a boolean, got/);
    refused(() => new ManyToOne({ input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 2, resetAfter: bad(0) },
      output: { type: 'real', size: 1 } }), TypeError, 'ERR_RNNKIT_TYPE', /^recurrent\.resetAfter: expected a boolean/);
  });

  it('is refused on cells without a reset gate, and by the attention decoder, whose GRU is PyTorch\'s', function () {
    refused(() => new ManyToOne({ input: { type: 'features', size: 2 }, recurrent: { cell: 'lstm', hiddenSize: 2, resetAfter: false },
      output: { type: 'real', size: 1 } }), RangeError, 'ERR_RNNKIT_VALUE', /^recurrent\.resetAfter: only a 'gru' cell/);
    const spec = {
      input: { type: 'tokens' as const, vocabSize: 5, embeddingSize: 3 }, encoder: { cell: 'gru' as const, hiddenSize: 4 },
      decoder: { cell: 'gru' as const, hiddenSize: 4, resetAfter: false }, output: { vocabSize: 5, embeddingSize: 3, startToken: 0, endToken: 1 },
    };
    refused(() => new EncoderDecoder({ ...spec, attention: 'bahdanau' }), RangeError, 'ERR_RNNKIT_VALUE', /^decoder\.resetAfter: the attention decoder/);
    refused(() => new AttentionDecoder({ cell: 'gru', inputSize: 2, memorySize: 4, hiddenSize: 4, attention: 'bahdanau', resetAfter: false } as never),
      RangeError, 'ERR_RNNKIT_VALUE', /^resetAfter: the attention decoder's GRU/);
    // Without attention the decoder is a GRU layer, which takes it.
    const plain = new EncoderDecoder({ ...spec, attention: 'none', seed: 3 });
    const pytorch = new EncoderDecoder({ ...spec, decoder: { cell: 'gru', hiddenSize: 4 }, attention: 'none', seed: 3 });
    assert.notDeepEqual(plain.predict([[2, 3, 4]], { maxLength: 6 })[0].logProb, pytorch.predict([[2, 3, 4]], { maxLength: 6 })[0].logProb);
  });

  it('is kept by a saved model file, and a file without it loads as PyTorch\'s GRU', function () {
    const make = (resetAfter?: boolean) => new ManyToOne({
      input: { type: 'tokens', vocabSize: 6, embeddingSize: 3 },
      recurrent: { cell: 'gru', hiddenSize: 4, bidirectional: true, ...(resetAfter === undefined ? {} : { resetAfter }) },
      output: { type: 'classes', numClasses: 3 }, seed: 8,
    });
    const r = testRandom(4);
    const probe: ManyToOneExample['input'][] = Array.from({ length: 6 }, (_, i) => randomTokens(r, 1 + i, 0, 6));
    for (const resetAfter of [false, undefined]) {
      const model = make(resetAfter);
      const file = tmp.file(`m-${String(resetAfter)}.safetensors`);
      model.save(file);
      const config = JSON.parse(loadSafetensors(file).metadata.config);
      assert.equal(config.recurrent.resetAfter, resetAfter, 'the file says resetAfter only where it is false');
      const { model: loaded } = loadModel(file);
      assert.deepEqual((loaded as ManyToOne).predictProba(probe), model.predictProba(probe));
    }
    assert.notDeepEqual(make(false).predictProba(probe), make(undefined).predictProba(probe));
    assert.deepEqual(make(true).predictProba(probe), make(undefined).predictProba(probe));
  });
});
