// End-to-end finite-difference gradient checks of every structure through its
// training entry points: the gradient trainBatch accumulates (of the mean loss)
// against central differences of evaluateBatch's summed loss. Batches mix
// lengths, so masking of padded steps is part of what is checked. Dropout and
// scheduled sampling are off, so training and evaluation compute one function.

import assert from 'node:assert/strict';
import {
  EncoderDecoder, ManyToMany, ManyToOne, OneToMany,
  type EncoderDecoderExample, type EncoderDecoderOptions, type ManyToManyExample, type ManyToOneExample,
  type OneToManyExample, type SequenceModel,
} from '../lib';
import {
  assertGradientsAgree, gradientSamples, randomTokens, randomVectors, testRandom,
} from './helpers/structures';

const LENGTHS = [4, 2, 5];  // a batch of three, padded to 5 steps

async function check<E>(model: SequenceModel<E>, batch: E[], what: string): Promise<void> {
  const result = await gradientSamples(model, batch, { perTensor: 2, seed: 3 });
  assert.ok(result.samples.length >= 12, `${what}: probed ${result.samples.length} gradients`);
  assertGradientsAgree(result, what);
}

function tokenSequences(seed: number, vocab: number, lengths = LENGTHS): number[][] {
  const r = testRandom(seed);
  return lengths.map((n) => randomTokens(r, n, 0, vocab));
}

function featureSequences(seed: number, size: number, lengths = LENGTHS): number[][][] {
  const r = testRandom(seed);
  return lengths.map((n) => randomVectors(r, n, size));
}

describe('structures: finite-difference gradient checks', function () {
  this.timeout(60000);

  describe('ManyToMany', function () {
    it('tokens -> classes with a 2-layer LSTM matches central differences of the masked loss', async function () {
      const model = new ManyToMany({
        input: { type: 'tokens', vocabSize: 6, embeddingSize: 4 }, recurrent: { cell: 'lstm', hiddenSize: 5, numLayers: 2 },
        output: { type: 'classes', numClasses: 4 }, seed: 1,
      });
      const r = testRandom(2);
      const batch: ManyToManyExample[] = tokenSequences(1, 6).map((input) => ({ input, target: input.map(() => r.nextInt(4)) }));
      await check(model, batch, 'ManyToMany tokens->classes LSTM');
    });

    it('features -> real with a bidirectional GRU matches central differences', async function () {
      const model = new ManyToMany({
        input: { type: 'features', size: 3 }, recurrent: { cell: 'gru', hiddenSize: 4, bidirectional: true },
        output: { type: 'real', size: 2 }, seed: 2,
      });
      const r = testRandom(4);
      const batch: ManyToManyExample[] = featureSequences(3, 3).map((input) => ({ input, target: randomVectors(r, input.length, 2) }));
      await check(model, batch, 'ManyToMany features->real GRU');
    });

    it('with truncation >= the longest sequence, the gradient is the full BPTT gradient', async function () {
      const model = new ManyToMany({
        input: { type: 'features', size: 3 }, recurrent: { cell: 'rnn', hiddenSize: 4 },
        output: { type: 'real', size: 2 }, truncation: 5, seed: 3,
      });
      const r = testRandom(6);
      const batch: ManyToManyExample[] = featureSequences(5, 3).map((input) => ({ input, target: randomVectors(r, input.length, 2) }));
      await check(model, batch, 'ManyToMany truncation 5');
    });

    it('with truncation 2, the gradient is that of the loss with the state entering each chunk held constant', async function () {
      // Reference: for each sequence, run the chunks one step at a time through step(); the state
      // entering a chunk comes from the unperturbed weights, so only the chunk's own steps depend
      // on the perturbed weight. Truncated BPTT must differentiate exactly that objective.
      const k = 2;
      const model = new ManyToMany({
        input: { type: 'features', size: 3 }, recurrent: { cell: 'gru', hiddenSize: 4 },
        output: { type: 'real', size: 2 }, truncation: k, seed: 4,
      });
      const r = testRandom(8);
      const batch: ManyToManyExample[] = featureSequences(7, 3).map((input) => ({ input, target: randomVectors(r, input.length, 2) }));
      const count = LENGTHS.reduce((a, b) => a + b, 0) * 2;
      // The forward pass does not change with truncation: the loss is that of the whole sequence.
      const full = new ManyToMany({ input: { type: 'features', size: 3 }, recurrent: { cell: 'gru', hiddenSize: 4 }, output: { type: 'real', size: 2 }, seed: 4 });
      const [a, b] = [await model.evaluateBatch(batch), await full.evaluateBatch(batch)];
      assert.equal(a.count, count);
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(b.loss), `truncated forward ${a.loss} vs whole ${b.loss}`);

      const chunkStates = batch.map((e) => {
        const states: Array<ReturnType<ManyToMany['step']>['state'] | undefined> = [];
        let state: ReturnType<ManyToMany['step']>['state'] | undefined;
        e.input.forEach((x, t) => {
          if (t % k === 0) states.push(state);
          state = model.step([x as number[]], state).state;
        });
        return states;
      });
      const detachedLoss = (): number => {
        let sum = 0;
        batch.forEach((e, b) => {
          let state = chunkStates[b][0];
          e.input.forEach((x, t) => {
            if (t % k === 0) state = chunkStates[b][t / k];
            const out = model.step([x as number[]], state);
            state = out.state;
            const target = e.target[t] as number[];
            for (let j = 0; j < 2; j++) sum += (out.outputs[j] - target[j]) ** 2;
          });
        });
        return sum;
      };
      model.zeroGrad();
      await model.trainBatch(batch, { random: testRandom(1) });
      const analytic = model.gradients.slice();
      const base = detachedLoss();
      const eps = 1e-2, random = testRandom(9), p = model.parameters;
      const samples = [];
      let offset = 0;
      for (const [name, shape] of model.parameterShapes()) {
        const size = shape.reduce((x, y) => x * y, 1);
        let largest = offset;
        for (let i = offset; i < offset + size; i++) if (Math.abs(analytic[i]) > Math.abs(analytic[largest])) largest = i;
        for (const i of new Set([offset + random.nextInt(size), offset + random.nextInt(size), largest])) {
          const original = p[i];
          p[i] = original + eps; const up = p[i]; const plus = detachedLoss();
          p[i] = original - eps; const down = p[i]; const minus = detachedLoss();
          p[i] = original;
          samples.push({ name, index: i - offset, at: i, analytic: analytic[i], numeric: (plus - minus) / (up - down) / count });
        }
        offset += size;
      }
      assertGradientsAgree({ samples, lossSum: base, count }, 'ManyToMany truncated BPTT (k = 2)');
      // And it is not the full gradient (same weights, no truncation): the cut at chunk boundaries drops real terms.
      assert.deepEqual(full.parameters, model.parameters);
      full.zeroGrad();
      await full.trainBatch(batch, { random: testRandom(1) });
      const withFull = samples.map((x) => ({ ...x, analytic: full.gradients[x.at] }));
      assert.throws(() => assertGradientsAgree({ samples: withFull, lossSum: base, count }, 'full gradient vs truncated objective'),
        /gradients disagree/);
    });
  });

  describe('ManyToOne', function () {
    it('tokens -> classes (label smoothing 0.1) with a 2-layer bidirectional GRU matches central differences', async function () {
      const model = new ManyToOne({
        input: { type: 'tokens', vocabSize: 7, embeddingSize: 3 }, recurrent: { cell: 'gru', hiddenSize: 4, numLayers: 2, bidirectional: true },
        output: { type: 'classes', numClasses: 3, labelSmoothing: 0.1 }, seed: 5,
      });
      const batch: ManyToOneExample[] = tokenSequences(11, 7).map((input, i) => ({ input, target: i % 3 }));
      await check(model, batch, 'ManyToOne classes bi-GRU');
    });

    it('features -> real with a bidirectional LSTM matches central differences', async function () {
      const model = new ManyToOne({
        input: { type: 'features', size: 2 }, recurrent: { cell: 'lstm', hiddenSize: 4, bidirectional: true },
        output: { type: 'real', size: 3 }, seed: 6,
      });
      const r = testRandom(12);
      const batch: ManyToOneExample[] = featureSequences(13, 2).map((input) => ({ input, target: randomVectors(r, 1, 3)[0] }));
      await check(model, batch, 'ManyToOne real bi-LSTM');
    });
  });

  describe('OneToMany', function () {
    const cases: Array<{ conditioning: 'first-step' | 'every-step'; condition: 'class' | 'features'; cell: 'gru' | 'lstm' | 'rnn'; layers: number }> = [
      { conditioning: 'first-step', condition: 'class', cell: 'lstm', layers: 1 },
      { conditioning: 'first-step', condition: 'features', cell: 'gru', layers: 2 },
      { conditioning: 'every-step', condition: 'class', cell: 'gru', layers: 1 },
      { conditioning: 'every-step', condition: 'features', cell: 'lstm', layers: 2 },
      { conditioning: 'first-step', condition: 'features', cell: 'rnn', layers: 1 },
    ];
    for (const c of cases) {
      it(`conditioning '${c.conditioning}' on a ${c.condition} condition (${c.cell}, ${c.layers} layer${c.layers > 1 ? 's' : ''}) matches central differences`, async function () {
        const model = new OneToMany({
          condition: c.condition === 'class' ? { type: 'class', numClasses: 3, embeddingSize: 4 } : { type: 'features', size: 3 },
          conditioning: c.conditioning, recurrent: { cell: c.cell, hiddenSize: 5, numLayers: c.layers },
          output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 }, seed: 7,
        });
        const r = testRandom(14);
        const batch: OneToManyExample[] = LENGTHS.map((n, i) => ({
          input: c.condition === 'class' ? i % 3 : randomVectors(r, 1, 3)[0],
          target: randomTokens(r, n, 2, 6),
        }));
        await check(model, batch, `OneToMany ${c.conditioning} ${c.condition}`);
      });
    }
  });

  describe('EncoderDecoder', function () {
    const source = { type: 'tokens' as const, vocabSize: 7, embeddingSize: 3 };
    const output = { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 };
    const cases: Array<{ what: string; options: Omit<EncoderDecoderOptions, 'input' | 'output'> & { output?: EncoderDecoderOptions['output'] } }> = [
      { what: "context 'initial-state' (2-layer bidirectional LSTM encoder, GRU decoder, learned bridge)",
        options: { encoder: { cell: 'lstm', hiddenSize: 4, numLayers: 2, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 5 }, context: 'initial-state' } },
      { what: "context 'initial-state' (GRU encoder, GRU decoder of the same size: identity bridge)",
        options: { encoder: { cell: 'gru', hiddenSize: 5 }, decoder: { cell: 'gru', hiddenSize: 5 }, context: 'initial-state' } },
      { what: "context 'every-step' (GRU encoder, 2-layer LSTM decoder)",
        options: { encoder: { cell: 'gru', hiddenSize: 4 }, decoder: { cell: 'lstm', hiddenSize: 5, numLayers: 2 }, context: 'every-step' } },
      { what: "context 'every-step' (RNN tanh encoder and decoder)",
        options: { encoder: { cell: 'rnn', hiddenSize: 4 }, decoder: { cell: 'rnn', hiddenSize: 4 }, context: 'every-step' } },
      { what: "attention 'bahdanau' (bidirectional GRU encoder, LSTM decoder)",
        options: { encoder: { cell: 'gru', hiddenSize: 3, bidirectional: true }, decoder: { cell: 'lstm', hiddenSize: 5 }, attention: 'bahdanau', attentionSize: 4 } },
      { what: "attention 'bahdanau' (2-layer LSTM encoder, GRU decoder)",
        options: { encoder: { cell: 'lstm', hiddenSize: 4, numLayers: 2 }, decoder: { cell: 'gru', hiddenSize: 4 }, attention: 'bahdanau' } },
      { what: "attention 'luong-dot' (bidirectional LSTM encoder, GRU decoder of 2x its size)",
        options: { encoder: { cell: 'lstm', hiddenSize: 3, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 6 }, attention: 'luong-dot' } },
      { what: "attention 'luong-general' (GRU encoder, LSTM decoder, label smoothing 0.2)",
        options: { encoder: { cell: 'gru', hiddenSize: 4 }, decoder: { cell: 'lstm', hiddenSize: 5 }, attention: 'luong-general', output: { ...output, labelSmoothing: 0.2 } } },
    ];
    cases.forEach((c, n) => {
      it(`${c.what} matches central differences`, async function () {
        const model = new EncoderDecoder({ input: source, output, ...c.options, seed: 20 + n } as EncoderDecoderOptions);
        const r = testRandom(30 + n);
        const batch: EncoderDecoderExample[] = tokenSequences(40 + n, 7).map((input, i) => ({ input, target: randomTokens(r, [3, 1, 2][i], 2, 6) }));
        await check(model, batch, c.what);
      });
    });

    it('feature inputs with attention: the gradient reaches through the encoder to every weight', async function () {
      const model = new EncoderDecoder({
        input: { type: 'features', size: 2 }, encoder: { cell: 'gru', hiddenSize: 4 }, decoder: { cell: 'gru', hiddenSize: 4 },
        output, attention: 'luong-general', seed: 50,
      });
      const r = testRandom(51);
      const batch: EncoderDecoderExample[] = featureSequences(52, 2).map((input, i) => ({ input, target: randomTokens(r, i + 1, 2, 6) }));
      await check(model, batch, 'EncoderDecoder features luong-general');
    });
  });
});
