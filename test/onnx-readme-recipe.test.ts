// The README's greedy decoding loop over onnxruntime-node, run as written
// (read from README.md) on exported EncoderDecoders, gives predict()'s
// tokens and log-probabilities: attention with a GRU, attention with an LSTM
// (c carried), and no attention with the context fed at every step.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EncoderDecoder, exportOnnx, type EncoderDecoderOptions } from '../lib';
import { scaledError } from './helpers/compare';
import { ONNX_TOLERANCE, assertManySteps, trainBriefly } from './helpers/onnx';
import { randomTokens, tempDir, testRandom } from './helpers/structures';

type GreedyDecode = (encoderFile: string, decoderFile: string, sources: number[][],
  tokens: { startToken: number; endToken: number; maxLength?: number }) => Promise<Array<{ tokens: number[]; logProb: number }>>;

/** The first ```js block of the README's "Serving with onnxruntime-node" section, as a function. */
function readmeRecipe(): GreedyDecode {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.indexOf('### Serving with onnxruntime-node');
  assert.ok(section >= 0, 'README has the section');
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(section));
  assert.ok(block, 'the section has a js block');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('require', `${block[1]}\nreturn greedyDecode;`)(require) as GreedyDecode;
}

describe('ONNX export: the README recipe', () => {
  const output = { vocabSize: 9, embeddingSize: 4, startToken: 0, endToken: 1 };
  const input = { type: 'tokens' as const, vocabSize: 10, embeddingSize: 4 };
  const cases: Array<[string, EncoderDecoderOptions]> = [
    ['Bahdanau, bidirectional GRU encoder (the g2p shape)', { input, encoder: { cell: 'gru', hiddenSize: 6, bidirectional: true },
      decoder: { cell: 'gru', hiddenSize: 6 }, output, attention: 'bahdanau', seed: 31 }],
    ['Luong general, LSTM', { input, encoder: { cell: 'lstm', hiddenSize: 5 }, decoder: { cell: 'lstm', hiddenSize: 4 }, output,
      attention: 'luong-general', seed: 32 }],
    ['no attention, every-step, 2-layer LSTM', { input, encoder: { cell: 'lstm', hiddenSize: 5, numLayers: 2 },
      decoder: { cell: 'lstm', hiddenSize: 4, numLayers: 2 }, output, context: 'every-step', seed: 33 }],
  ];
  for (const [what, options] of cases) {
    it(`${what}: greedyDecode gives predict()'s tokens and log-probabilities`, async () => {
      const greedyDecode = readmeRecipe();
      const tmp = tempDir('onnx-recipe');
      try {
        const model = new EncoderDecoder(options);
        await trainBriefly(model, 35);
        const files = exportOnnx(model, tmp.file('model.onnx'));
        const r = testRandom(34);
        const sources = [6, 2, 4, 1, 5].map((n) => randomTokens(r, n, 2, input.vocabSize));
        const expected = model.predict(sources, { maxLength: 7, attention: false });
        assertManySteps(expected);
        const got = await greedyDecode(files.encoder!, files.decoder!, sources, { ...output, maxLength: 7 });
        got.forEach((g, b) => {
          assert.deepEqual(g.tokens, expected[b].tokens, `source ${b}`);
          const error = scaledError([g.logProb], [expected[b].logProb], 1);  // scale floor 1, as in onnx-export-structures
          assert.ok(error <= ONNX_TOLERANCE, `source ${b} logProb: scaled error ${error.toExponential(2)}`);
        });
        model.dispose();
      } finally {
        tmp.remove();
      }
    });
  }
});
