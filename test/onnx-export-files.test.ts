// exportOnnx's files and refusals: which file each graph goes to, metadata in
// the ONNX file, clear coded errors for what has no ONNX form (thrown before
// anything is written), and `rnnkit export` on a saved model.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  AttentionDecoder, EncoderDecoder, Embedding, GRU, GRUCell, LSTMCell, Linear, ManyToMany, ManyToOne, encodeOnnx, exportOnnx,
  type Exportable,
} from '../lib';
import { rnnkit } from './cli-helpers';
import { session } from './helpers/onnx';
import { tempDir } from './helpers/structures';

function metadataOf(bytes: Uint8Array): Record<string, string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const model = onnx.ModelProto.decode(bytes);
  assert.equal(Number(model.opsetImport[0].version), 14);
  return Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
}

const smallEncoderDecoder = () => new EncoderDecoder({
  input: { type: 'tokens', vocabSize: 6, embeddingSize: 3 }, encoder: { cell: 'gru', hiddenSize: 4, bidirectional: true },
  decoder: { cell: 'gru', hiddenSize: 4 }, output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 }, attention: 'bahdanau', seed: 1,
});

describe('ONNX export: files and refusals', () => {
  it('refuses cells and building blocks with ERR_RNNKIT_UNSUPPORTED naming their class', () => {
    const refused: Array<[string, object]> = [
      ['GRUCell', new GRUCell({ inputSize: 2, hiddenSize: 3 })],
      ['LSTMCell', new LSTMCell({ inputSize: 2, hiddenSize: 3 })],
      ['Linear', new Linear({ inFeatures: 2, outFeatures: 3 })],
      ['Embedding', new Embedding({ numEmbeddings: 4, embeddingDim: 2 })],
      ['AttentionDecoder', new AttentionDecoder({ cell: 'gru', inputSize: 2, memorySize: 3, hiddenSize: 3, attention: 'bahdanau' })],
    ];
    for (const [name, thing] of refused) {
      assert.throws(() => encodeOnnx(thing as Exportable), (e: Error & { code?: string }) =>
        e.code === 'ERR_RNNKIT_UNSUPPORTED' && e.message.includes(name) && e.message.includes('EncoderDecoder'), name);
    }
    for (const bad of [null, 3, 'model']) {
      assert.throws(() => encodeOnnx(bad as unknown as Exportable), { name: 'TypeError', code: 'ERR_RNNKIT_TYPE' });
    }
  });

  it('refuses a streaming step of a bidirectional ManyToMany and graphs a kind does not have, naming the graph', () => {
    const bidirectional = new ManyToMany({ input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 3, bidirectional: true },
      output: { type: 'real', size: 1 } });
    assert.throws(() => encodeOnnx(bidirectional, { graph: 'step' }), (e: Error & { code?: string }) =>
      e.code === 'ERR_RNNKIT_UNSUPPORTED' && /'step'/.test(e.message) && /bidirectional/.test(e.message));
    const m2o = new ManyToOne({ input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 3 }, output: { type: 'real', size: 1 } });
    assert.throws(() => encodeOnnx(m2o, { graph: 'decoder' }), (e: Error & { code?: string }) =>
      e.code === 'ERR_RNNKIT_UNSUPPORTED' && /ManyToOne has no 'decoder' graph; it has 'sequence'/.test(e.message));
    assert.throws(() => encodeOnnx(m2o, { graph: 'bogus' as never }), { code: 'ERR_RNNKIT_VALUE', message: /options\.graph/ });
    assert.throws(() => encodeOnnx(m2o, { metadata: { a: 1 as unknown as string } }), { code: 'ERR_RNNKIT_TYPE', message: /options\.metadata\.a/ });
  });

  it('writes one graph to the path, several beside it as <stem>.<graph>.onnx, each loadable, metadata included', async () => {
    const tmp = tempDir('onnx');
    try {
      const gru = new GRU({ inputSize: 2, hiddenSize: 3 });
      assert.deepEqual(exportOnnx(gru, tmp.file('gru.onnx')), { sequence: tmp.file('gru.onnx') });
      await session(fs.readFileSync(tmp.file('gru.onnx')));
      const model = smallEncoderDecoder();
      const files = exportOnnx(model, tmp.file('g2p.onnx'), { metadata: { vocab: '["a","b"]' } });
      assert.deepEqual(files, { encoder: tmp.file('g2p.encoder.onnx'), decoder: tmp.file('g2p.decoder.onnx') });
      assert.ok(!fs.existsSync(tmp.file('g2p.onnx')));
      for (const [graph, file] of Object.entries(files)) {
        const bytes = fs.readFileSync(file!);
        const s = await session(bytes);
        assert.deepEqual(metadataOf(bytes), { 'rnnkit.kind': 'EncoderDecoder', 'rnnkit.graph': graph, vocab: '["a","b"]' });
        assert.ok(s.outputNames.includes(graph === 'encoder' ? 'memory' : 'logProbs'));
      }
      assert.deepEqual(exportOnnx(model, tmp.file('step.onnx'), { graph: 'decoder' }), { decoder: tmp.file('step.onnx') });
    } finally {
      tmp.remove();
    }
  });

  it('a refused export writes nothing and leaves an existing file as it was', () => {
    const tmp = tempDir('onnx');
    try {
      fs.writeFileSync(tmp.file('old.onnx'), 'previous');
      const cell = new GRUCell({ inputSize: 2, hiddenSize: 3 });
      assert.throws(() => exportOnnx(cell as unknown as Exportable, tmp.file('old.onnx')), { code: 'ERR_RNNKIT_UNSUPPORTED' });
      assert.throws(() => exportOnnx(smallEncoderDecoder(), tmp.file('old.onnx'), { graph: 'step' }), { code: 'ERR_RNNKIT_UNSUPPORTED' });
      assert.equal(fs.readFileSync(tmp.file('old.onnx'), 'utf8'), 'previous');
      assert.deepEqual(fs.readdirSync(tmp.dir), ['old.onnx']);
    } finally {
      tmp.remove();
    }
  });

  it('rnnkit export writes the graphs of a saved model, with the run\'s vocabulary in their metadata', async function () {
    this.timeout(30000);
    const tmp = tempDir('onnx-cli');
    try {
      smallEncoderDecoder().save(tmp.file('model.safetensors'), { 'rnnkit.vocab': '{"letters":"ab"}' });
      const r = await rnnkit(['export', tmp.dir, tmp.file('out.onnx'), '--json']);
      assert.equal(r.code, 0, r.stderr);
      const { files, kind } = JSON.parse(r.stdout);
      assert.equal(kind, 'EncoderDecoder');
      assert.deepEqual(Object.keys(files), ['encoder', 'decoder']);
      assert.equal(metadataOf(fs.readFileSync(files.decoder))['rnnkit.vocab'], '{"letters":"ab"}');
      const one = await rnnkit(['export', tmp.file('model.safetensors'), tmp.file('enc.onnx'), '--graph', 'encoder']);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /wrote .*enc\.onnx \(graph 'encoder'\)/);
      const wrong = await rnnkit(['export', tmp.dir, tmp.file('x.onnx'), '--graph', 'step']);
      assert.equal(wrong.code, 2);  // a usage error, as the other commands exit
      assert.match(wrong.stderr, /--graph step: a EncoderDecoder model has the graphs encoder, decoder/);
      const missing = await rnnkit(['export', tmp.file('nope'), tmp.file('x.onnx')]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no such model file or folder/);
    } finally {
      tmp.remove();
    }
  });
});
