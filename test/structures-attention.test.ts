// Attention masks: padded source positions get exactly zero weight and zero
// gradient, in the AttentionDecoder layer and through EncoderDecoder, for
// every score; what is stored at a padded position never matters.

import assert from 'node:assert/strict';
import { EncoderDecoder, type EncoderDecoderExample, type Tensor } from '../lib';
import { AttentionDecoder, type AttentionKind } from '../lib/layers/attention-decoder';
import { assertSameBits, randomTokens, testRandom } from './helpers/structures';

const KINDS: AttentionKind[] = ['bahdanau', 'luong-dot', 'luong-general'];

function randomTensor(shape: number[], seed: number, scale = 1): Tensor {
  const r = testRandom(seed);
  return { data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.uniform(-scale, scale)), shape };
}

describe('structures: attention masks', function () {
  const [M, N, B, X, H] = [4, 6, 3, 3, 5];
  const sourceLengths = Int32Array.of(6, 2, 4);
  const targetLengths = Int32Array.of(4, 3, 1);

  for (const attention of KINDS) {
    for (const cell of ['gru', 'lstm'] as const) {
      it(`AttentionDecoder '${attention}' (${cell}): padded source positions get weight 0 and gradient 0, and their contents do not matter`, function () {
        const layer = new AttentionDecoder({ cell, inputSize: X, memorySize: H, hiddenSize: H, attention, seed: 3 });
        const x = randomTensor([M, B, X], 1);
        const clean = randomTensor([N, B, H], 2);
        const dirty = { data: clean.data.slice(), shape: clean.shape };
        for (let j = 0; j < N; j++) {
          for (let b = 0; b < B; b++) {
            if (j < sourceLengths[b]) continue;
            clean.data.fill(0, (j * B + b) * H, (j * B + b + 1) * H);
            for (let e = 0; e < H; e++) dirty.data[(j * B + b) * H + e] = 50 * Math.sin(j + 3 * b + 7 * e);  // garbage, large
          }
        }
        const dOutput = randomTensor([M, B, 2 * H], 4);
        const run = (memory: Tensor) => {
          layer.zeroGrad();
          const out = layer.forward(x, memory, { sourceLengths, targetLengths, training: true });
          const grads = layer.backward({ dOutput });
          return { out, grads, dParams: layer.gradients.slice() };
        };
        const a = run(clean), b = run(dirty);
        for (let i = 0; i < M; i++) {
          for (let s = 0; s < B; s++) {
            const row = a.out.weights.data.subarray((i * B + s) * N, (i * B + s + 1) * N);
            for (let j = sourceLengths[s]; j < N; j++) assert.equal(row[j], 0, `weight [${i}, ${s}, ${j}] of a padded position`);
            const total = row.reduce((p, q) => p + q, 0);
            if (i < targetLengths[s]) assert.ok(Math.abs(total - 1) < 1e-5, `weights of step ${i}, sequence ${s} sum to ${total}`);
            else assert.equal(total, 0, `a padded target step ${i} of sequence ${s} attends nowhere`);
            for (let j = 0; j < N; j++) {
              const g = a.grads.dMemory.data.subarray((j * B + s) * H, (j * B + s + 1) * H);
              if (j >= sourceLengths[s]) assert.ok(g.every((v) => v === 0), `dMemory at padded position ${j} of sequence ${s}`);
            }
          }
        }
        // Some gradient does reach the valid positions of the short sequence.
        assert.ok(a.grads.dMemory.data.subarray(1 * H, 2 * H).some((v) => v !== 0));
        assertSameBits(b.out.output.data, a.out.output.data, 'output with garbage at padded positions');
        assertSameBits(b.out.weights.data, a.out.weights.data, 'weights with garbage at padded positions');
        assertSameBits(b.grads.dMemory.data, a.grads.dMemory.data, 'dMemory with garbage at padded positions');
        assertSameBits(b.dParams, a.dParams, 'parameter gradients with garbage at padded positions');
      });
    }

    it(`EncoderDecoder '${attention}': predict's attention covers exactly the source, and a padded batch trains as its sequences alone`, async function () {
      const model = new EncoderDecoder({
        input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 }, encoder: { cell: 'gru', hiddenSize: 3, bidirectional: true },
        decoder: { cell: 'gru', hiddenSize: 6 }, output: { vocabSize: 9, embeddingSize: 4, startToken: 0, endToken: 1 }, attention, seed: 8,
      });
      const r = testRandom(9);
      const batch: EncoderDecoderExample[] = [7, 2, 4, 1].map((n, i) => ({ input: randomTokens(r, n, 0, 9), target: randomTokens(r, [2, 5, 1, 3][i], 2, 9) }));
      const translations = model.predict(batch.map((e) => e.input), { maxLength: 5 });
      translations.forEach((t, i) => {
        assert.equal(t.attention!.length, t.tokens.length + (t.tokens.length < 5 ? 1 : 0), 'one row per decoding step');
        for (const row of t.attention!) {
          assert.equal(row.length, batch[i].input.length, `sequence ${i}: one weight per source position`);
          assert.ok(row.every((w) => w >= 0) && Math.abs(row.reduce((p, q) => p + q, 0) - 1) < 1e-5);
        }
      });

      // Padded together, the loss and the gradient are those of the sequences one at a time: padded
      // positions of the encoder's memory add nothing. (Batch sizes differ, so GEMMs may round
      // differently: compare to float32 accuracy.)
      model.zeroGrad();
      const together = await model.trainBatch(batch, { random: testRandom(1) });
      const gradient = model.gradients.map((g) => g * together.count);
      const sum = new Float64Array(gradient.length);
      let loss = 0;
      for (const e of batch) {
        model.zeroGrad();
        const alone = await model.trainBatch([e], { random: testRandom(1) });
        loss += alone.loss;
        model.gradients.forEach((g, k) => { sum[k] += g * alone.count; });
      }
      assert.ok(Math.abs(together.loss - loss) <= 1e-5 * loss, `loss ${together.loss} together vs ${loss} alone`);
      const scale = Math.max(...sum.map(Math.abs));
      gradient.forEach((g, k) => assert.ok(Math.abs(g - sum[k]) <= 1e-4 * scale, `gradient ${k}: ${g} together vs ${sum[k]} alone`));
    });
  }
});
