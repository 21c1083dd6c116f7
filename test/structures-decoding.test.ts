// Inference for the structures that feed their outputs back: beam search of
// width 1 is greedy decoding, wider beams find sequences at least as likely,
// sampling is seeded, low temperatures and top-k = 1 collapse to greedy.

import assert from 'node:assert/strict';
import {
  EncoderDecoder, ManyToMany, OneToMany,
  type EncoderDecoderExample, type EncoderDecoderOptions, type GenerateOptions, type OneToManyExample, type Translation,
} from '../lib';
import { randomTokens, testRandom } from './helpers/structures';

const V = 8, START = 0, END = 1;

function reversal(seed: number, count: number, low: number, high: number): EncoderDecoderExample[] {
  const r = testRandom(seed);
  return Array.from({ length: count }, () => {
    const input = randomTokens(r, low + r.nextInt(high - low + 1), 2, V);
    return { input, target: [...input].reverse() };
  });
}

function translator(attention: EncoderDecoderOptions['attention'], seed: number): EncoderDecoder {
  return new EncoderDecoder({
    input: { type: 'tokens', vocabSize: V, embeddingSize: 8 }, encoder: { cell: 'gru', hiddenSize: 16, bidirectional: true },
    decoder: { cell: attention === 'none' ? 'lstm' : 'gru', hiddenSize: 32 }, output: { vocabSize: V, embeddingSize: 8, startToken: START, endToken: END },
    attention, seed,
  });
}

const sameTranslation = (a: { tokens: number[]; logProb: number }, b: { tokens: number[]; logProb: number }) =>
  a.tokens.length === b.tokens.length && a.tokens.every((t, i) => t === b.tokens[i]) && a.logProb === b.logProb;

function assertSame(actual: Array<{ tokens: number[]; logProb: number }>, expected: Array<{ tokens: number[]; logProb: number }>, what: string): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    assert.deepEqual(a.tokens, expected[i].tokens, `${what}: tokens of sequence ${i}`);
    assert.equal(a.logProb, expected[i].logProb, `${what}: logProb of sequence ${i}`);
  });
}

describe('structures: decoding', function () {
  this.timeout(60000);
  const test = reversal(2, 40, 2, 7).map((e) => e.input);
  let trained: EncoderDecoder;
  let trainedNoAttention: EncoderDecoder;

  before(async function () {
    // Trained briefly: good enough that its distributions are peaked, not so good that every search agrees.
    trained = translator('bahdanau', 1);
    await trained.fit(reversal(1, 600, 2, 7), { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 1e-2 }, clipNorm: 5, seed: 1 });
    trainedNoAttention = translator('none', 2);
    await trainedNoAttention.fit(reversal(1, 600, 2, 5), { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 1e-2 }, clipNorm: 5, seed: 1 });
  });

  describe('beam search', function () {
    const untrained = () => [translator('bahdanau', 3), translator('luong-dot', 4), translator('luong-general', 5), translator('none', 6)];
    it('of width 1 equals greedy decoding, tokens and log-probability, on untrained models of every attention', function () {
      for (const model of untrained()) {
        const greedy = model.predict(test, { maxLength: 12 });
        const beam = model.predict(test, { strategy: 'beam', beamWidth: 1, maxLength: 12 });
        assertSame(beam, greedy, `${model.config().attention}`);
      }
    });

    it('of width 1 equals greedy decoding on trained models, also when maxLength cuts the sequences', function () {
      for (const model of [trained, trainedNoAttention]) {
        for (const maxLength of [3, 20]) {
          assertSame(model.predict(test, { strategy: 'beam', beamWidth: 1, maxLength }), model.predict(test, { maxLength }), `maxLength ${maxLength}`);
        }
      }
    });

    it('on a trained model finds sequences with a mean log-likelihood at least that of greedy decoding', async function () {
      for (const model of [trained, trainedNoAttention]) {
        const greedy = model.predict(test, { maxLength: 12 });
        // lengthPenalty 0 ranks by the raw log-probability, the quantity compared here (the default,
        // alpha = 1, ranks by log-probability per token and may prefer a less likely longer sequence).
        const beam = model.predict(test, { strategy: 'beam', beamWidth: 4, lengthPenalty: 0, maxLength: 12 });
        const mean = (rs: Translation[]) => rs.reduce((a, r) => a + r.logProb, 0) / rs.length;
        assert.ok(mean(beam) >= mean(greedy), `beam ${mean(beam)} < greedy ${mean(greedy)}`);
        assert.ok(beam.some((r, i) => !sameTranslation(r, greedy[i])), "the model is uncertain enough that the searches differ somewhere");
        // Each result's log-probability is the model's: the teacher-forced loss of (source, tokens + end) is its negative.
        for (const [i, r] of beam.entries()) {
          if (r.tokens.length >= 12) continue;  // cut at maxLength: no end token scored
          const scored = -(await model.evaluateBatch([{ input: test[i], target: r.tokens }])).loss;
          assert.ok(Math.abs(scored - r.logProb) <= 1e-4 * Math.max(1, Math.abs(scored)), `rescored ${scored} vs ${r.logProb}`);
        }
      }
    });

    it('of width 1 equals greedy for OneToMany (batched greedy) and ManyToMany.generate', async function () {
      const model = new OneToMany({
        condition: { type: 'class', numClasses: 4, embeddingSize: 4 }, conditioning: 'every-step', recurrent: { cell: 'gru', hiddenSize: 12 },
        output: { vocabSize: V, embeddingSize: 6, startToken: START, endToken: END }, seed: 9,
      });
      const inputs = [0, 1, 2, 3, 2, 1];
      assertSame(model.generate(inputs, { strategy: 'beam', beamWidth: 1, maxLength: 10 }), model.generate(inputs, { maxLength: 10 }), 'untrained OneToMany');
      const data: OneToManyExample[] = Array.from({ length: 64 }, (_, i) => ({ input: i % 4, target: [2 + (i % 4), 3, 4 + (i % 3)] }));
      await model.fit(data, { epochs: 4, batchSize: 16, optimizer: { type: 'adam', lr: 1e-2 }, seed: 1 });
      assertSame(model.generate(inputs, { strategy: 'beam', beamWidth: 1, maxLength: 10 }), model.generate(inputs, { maxLength: 10 }), 'trained OneToMany');

      const lm = new ManyToMany({
        input: { type: 'tokens', vocabSize: V, embeddingSize: 5 }, recurrent: { cell: 'lstm', hiddenSize: 10 }, output: { type: 'classes', numClasses: V }, seed: 10,
      });
      for (const prompt of [[2], [3, 4, 5], [7, 7]]) {
        assert.deepEqual(lm.generate(prompt, { strategy: 'beam', beamWidth: 1, maxLength: 8, endToken: END }), lm.generate(prompt, { maxLength: 8, endToken: END }));
      }
    });
  });

  describe('sampling', function () {
    const options = (o: GenerateOptions): GenerateOptions => ({ strategy: 'sample', maxLength: 12, ...o });

    it('is reproducible for a seed and differs between seeds', function () {
      const model = translator('luong-general', 7);
      const a = model.predict(test, options({ seed: 5 }));
      const b = model.predict(test, options({ seed: 5 }));
      assertSame(a, b, 'same seed');
      const c = model.predict(test, options({ seed: 6 }));
      assert.ok(c.some((r, i) => !sameTranslation(r, a[i])), 'another seed samples other sequences');
    });

    it('at a temperature near 0 is greedy decoding, and at temperature 1 is not', function () {
      for (const model of [trained, translator('bahdanau', 8)]) {
        const greedy = model.predict(test, { maxLength: 12 });
        assertSame(model.predict(test, options({ temperature: 1e-6, seed: 3 })), greedy, 'temperature 1e-6');
      }
      const untrained = translator('bahdanau', 8);
      const greedy = untrained.predict(test, { maxLength: 12 });
      assert.ok(untrained.predict(test, options({ temperature: 1, seed: 3 })).some((r, i) => !sameTranslation(r, greedy[i])));
      // Lower temperatures agree with greedy more often (here: whole sequences equal to greedy's).
      const agreement = (temperature: number) => trained.predict(test, options({ temperature, seed: 4 }))
        .filter((r, i) => sameTranslation(r, trainedGreedy[i])).length;
      const trainedGreedy = trained.predict(test, { maxLength: 12 });
      const [cold, warm, hot] = [agreement(0.05), agreement(0.5), agreement(2)];
      assert.ok(cold > warm && warm > hot, `sequences equal to greedy's at temperatures 0.05, 0.5, 2: ${cold}, ${warm}, ${hot}`);
    });

    it('with topK = 1 is greedy decoding for any seed and temperature', function () {
      for (const model of [trained, translator('none', 9)]) {
        const greedy = model.predict(test, { maxLength: 12 });
        for (const seed of [1, 2]) assertSame(model.predict(test, options({ topK: 1, seed, temperature: 3 })), greedy, `seed ${seed}`);
      }
    });
  });
});
