// Each structure learns a small synthetic task inside the suite, in seconds:
// ManyToMany a delayed echo, ManyToOne the parity and the sum of a sequence,
// OneToMany a class-specific sequence under both conditionings, and
// EncoderDecoder the reversal of random strings with Bahdanau and Luong
// attention (length 5-12) and without attention (length 3-5). Accuracy is
// measured on held-out data through the inference API (predict / generate).

import assert from 'node:assert/strict';
import {
  EncoderDecoder, ManyToMany, ManyToOne, OneToMany, schedules,
  type EncoderDecoderExample, type EncoderDecoderOptions, type OneToManyOptions,
} from '../lib';
import { randomTokens, randomVectors, testRandom } from './helpers/structures';

const sameTokens = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((t, i) => t === b[i]);

describe('structures: learning synthetic tasks', function () {
  this.timeout(120000);

  it('ManyToMany learns a delayed echo: output at t is the input at t - 2', async function () {
    const r = testRandom(1);
    const make = (n: number) => Array.from({ length: n }, () => {
      const input = randomTokens(r, 5 + r.nextInt(11), 1, 6);
      return { input, target: input.map((_, t) => (t >= 2 ? input[t - 2] : 0)) };  // 0: nothing to echo yet
    });
    const [train, test] = [make(800), make(100)];
    const model = new ManyToMany({
      input: { type: 'tokens', vocabSize: 6, embeddingSize: 8 }, recurrent: { cell: 'gru', hiddenSize: 32 },
      output: { type: 'classes', numClasses: 6 }, seed: 1,
    });
    await model.fit(train, { epochs: 6, batchSize: 32, optimizer: { type: 'adam', lr: 1e-2 }, seed: 1 });
    let right = 0, total = 0;
    model.predict(test.map((e) => e.input)).forEach((p, i) => (p as number[]).forEach((v, t) => {
      total++;
      if (v === test[i].target[t]) right++;
    }));
    assert.ok(right / total >= 0.99, `per-step accuracy ${right / total}`);
  });

  it('ManyToMany with truncated BPTT (chunks of 4) still learns the delayed echo across chunk boundaries', async function () {
    const r = testRandom(2);
    const make = (n: number) => Array.from({ length: n }, () => {
      const input = randomTokens(r, 12 + r.nextInt(9), 1, 5);
      return { input, target: input.map((_, t) => (t >= 2 ? input[t - 2] : 0)) };
    });
    const [train, test] = [make(400), make(50)];
    const model = new ManyToMany({
      input: { type: 'tokens', vocabSize: 5, embeddingSize: 8 }, recurrent: { cell: 'lstm', hiddenSize: 32 },
      output: { type: 'classes', numClasses: 5 }, truncation: 4, seed: 2,
    });
    await model.fit(train, { epochs: 8, batchSize: 32, optimizer: { type: 'adam', lr: 1e-2 }, seed: 1 });
    let right = 0, total = 0, boundary = 0, boundaryRight = 0;
    model.predict(test.map((e) => e.input)).forEach((p, i) => (p as number[]).forEach((v, t) => {
      total++;
      if (v === test[i].target[t]) right++;
      if (t >= 4 && t % 4 < 2) {  // the echoed token lies in the previous chunk: only the carried state has it
        boundary++;
        if (v === test[i].target[t]) boundaryRight++;
      }
    }));
    assert.ok(right / total >= 0.95, `per-step accuracy ${right / total}`);
    assert.ok(boundaryRight / boundary >= 0.95, `accuracy where the answer is in the previous chunk ${boundaryRight / boundary}`);
  });

  it('ManyToOne learns the parity of a bit sequence (length 1-10) with a GRU', async function () {
    const r = testRandom(3);
    const make = (n: number) => Array.from({ length: n }, () => {
      const input = randomTokens(r, 1 + r.nextInt(10), 0, 2);
      return { input, target: input.reduce((a, b) => a ^ b, 0) };
    });
    const [train, test] = [make(1000), make(200)];
    const model = new ManyToOne({
      input: { type: 'tokens', vocabSize: 2, embeddingSize: 4 }, recurrent: { cell: 'gru', hiddenSize: 16 }, output: { type: 'classes', numClasses: 2 }, seed: 1,
    });
    await model.fit(train, { epochs: 10, batchSize: 32, optimizer: { type: 'adam', lr: 1e-2 }, seed: 1 });
    const predicted = model.predict(test.map((e) => e.input));
    const accuracy = predicted.filter((p, i) => p === test[i].target).length / test.length;
    assert.ok(accuracy >= 0.95, `accuracy ${accuracy}`);
  });

  it('ManyToOne learns the sum of a real sequence (length 1-10) with a bidirectional LSTM', async function () {
    const r = testRandom(4);
    const make = (n: number) => Array.from({ length: n }, () => {
      const input = randomVectors(r, 1 + r.nextInt(10), 1);
      return { input, target: [input.reduce((a, v) => a + v[0], 0)] };
    });
    const [train, test] = [make(1000), make(200)];
    const model = new ManyToOne({
      input: { type: 'features', size: 1 }, recurrent: { cell: 'lstm', hiddenSize: 16, bidirectional: true }, output: { type: 'real', size: 1 }, seed: 1,
    });
    const epochs = 16, steps = epochs * Math.ceil(train.length / 32);
    await model.fit(train, { epochs, batchSize: 32, optimizer: { type: 'adam' }, schedule: schedules.cosine({ lr: 1e-2, totalSteps: steps, minLr: 1e-4 }), seed: 1 });
    const predicted = model.predict(test.map((e) => e.input)) as number[][];
    const mean = test.reduce((a, e) => a + e.target[0], 0) / test.length;
    let squaredError = 0, variance = 0;
    predicted.forEach((p, i) => {
      squaredError += (p[0] - test[i].target[0]) ** 2;
      variance += (test[i].target[0] - mean) ** 2;
    });
    // Explains at least 98% of the variance of the sums (predicting the mean explains none).
    assert.ok(1 - squaredError / variance >= 0.98, `R^2 ${1 - squaredError / variance}`);
  });

  const SEQUENCES = [[2, 3, 4, 5], [5, 4, 3], [2, 2, 6, 6, 7], [7, 6, 5, 4, 3, 2], [3], [6, 2, 6, 2]];
  for (const conditioning of ['first-step', 'every-step'] as const) {
    for (const condition of ['class', 'features'] as const) {
      it(`OneToMany '${conditioning}' learns a sequence per ${condition === 'class' ? 'class id' : 'noisy feature vector'}`, async function () {
        const r = testRandom(5);
        // Features: a one-hot code of the class plus noise, so the model must read real values.
        const inputOf = (c: number) => (condition === 'class' ? c : Array.from({ length: 6 }, (_, k) => (k === c ? 1 : 0) + r.uniform(-0.2, 0.2)));
        const train = Array.from({ length: 240 }, (_, i) => ({ input: inputOf(i % 6), target: SEQUENCES[i % 6] }));
        const options: OneToManyOptions = {
          condition: condition === 'class' ? { type: 'class', numClasses: 6, embeddingSize: 8 } : { type: 'features', size: 6 },
          conditioning, recurrent: { cell: 'lstm', hiddenSize: 24 }, output: { vocabSize: 8, embeddingSize: 8, startToken: 0, endToken: 1 }, seed: 1,
        };
        const model = new OneToMany(options);
        await model.fit(train, { epochs: 10, batchSize: 16, optimizer: { type: 'adam', lr: 1e-2 }, seed: 1 });
        const classes = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5];
        const generated = model.generate(classes.map(inputOf), { maxLength: 10 });
        generated.forEach((g, i) => assert.deepEqual(g.tokens, SEQUENCES[classes[i]], `class ${classes[i]}`));
      });
    }
  }

  describe('EncoderDecoder reverses random strings', function () {
    const V = 12;  // 0 start, 1 end, symbols 2..11
    function reversal(seed: number, count: number, low: number, high: number): EncoderDecoderExample[] {
      const r = testRandom(seed);
      return Array.from({ length: count }, () => {
        const input = randomTokens(r, low + r.nextInt(high - low + 1), 2, V);
        return { input, target: [...input].reverse() };
      });
    }
    async function accuracyAfterTraining(options: Omit<EncoderDecoderOptions, 'input' | 'output'>, low: number, high: number,
      epochs: number, lr: number, examples = 3000): Promise<number> {
      const model = new EncoderDecoder({
        input: { type: 'tokens', vocabSize: V, embeddingSize: 16 }, output: { vocabSize: V, embeddingSize: 16, startToken: 0, endToken: 1 }, seed: 1, ...options,
      });
      const train = reversal(1, examples, low, high), test = reversal(2, 200, low, high);
      const steps = epochs * Math.ceil(train.length / 32);
      await model.fit(train, {
        epochs, batchSize: 32, optimizer: { type: 'adam' }, clipNorm: 5, seed: 1,
        schedule: schedules.cosine({ lr, totalSteps: steps, minLr: lr / 30 }),
      });
      const predicted = model.predict(test.map((e) => e.input), { maxLength: high + 3 });
      return predicted.filter((p, i) => sameTokens(p.tokens, test[i].target)).length / test.length;
    }

    it("with 'bahdanau' attention, length 5-12, to >= 95% exact sequences", async function () {
      const accuracy = await accuracyAfterTraining({
        encoder: { cell: 'gru', hiddenSize: 32, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 64 }, attention: 'bahdanau',
      }, 5, 12, 8, 6e-3);
      assert.ok(accuracy >= 0.95, `exact-sequence accuracy ${accuracy}`);
    });

    it("with 'luong-general' attention, length 5-12, to >= 95% exact sequences", async function () {
      const accuracy = await accuracyAfterTraining({
        encoder: { cell: 'gru', hiddenSize: 32, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 64 }, attention: 'luong-general',
      }, 5, 12, 8, 6e-3);
      assert.ok(accuracy >= 0.95, `exact-sequence accuracy ${accuracy}`);
    });

    it("with 'luong-dot' attention (decoder as wide as both encoder directions), length 5-12, to >= 95% exact sequences", async function () {
      const accuracy = await accuracyAfterTraining({
        encoder: { cell: 'gru', hiddenSize: 32, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 64 }, attention: 'luong-dot',
      }, 5, 12, 10, 4e-3, 4000);
      assert.ok(accuracy >= 0.95, `exact-sequence accuracy ${accuracy}`);
    });

    it('without attention (context as the initial state), length 3-5, to >= 95% exact sequences', async function () {
      const accuracy = await accuracyAfterTraining({
        encoder: { cell: 'gru', hiddenSize: 64, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 128 }, context: 'initial-state',
      }, 3, 5, 8, 6e-3);
      assert.ok(accuracy >= 0.95, `exact-sequence accuracy ${accuracy}`);
    });
  });
});
