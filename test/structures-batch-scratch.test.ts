// A training or evaluation batch takes its layers' per-call buffers from the
// model's batch scratch, reused by the next batch (lib/layers/batch-scratch.ts).
// What must hold: a batch computes exactly what it computes in a fresh model
// (no stale values from a longer batch before it leak into a shorter one), and
// nothing handed to a caller (a prediction made in a fit callback, a layer's
// own output) is ever written over by a later batch.

import assert from 'node:assert/strict';
import {
  Adam, EncoderDecoder, GRU, ManyToMany, ManyToOne, OneToMany,
  type EncoderDecoderExample, type ManyToManyExample, type ManyToOneExample, type OneToManyExample, type SequenceModel,
} from '../lib';
import { BatchScratch, batchFloat32, withBatchScratch } from '../lib/layers/batch-scratch';
import { randomTokens, randomVectors, testRandom } from './helpers/structures';

function tokens(seed: number, vocab: number, lengths: number[]): number[][] {
  const r = testRandom(seed);
  return lengths.map((n) => randomTokens(r, n, 0, vocab));
}

interface Case<E> {
  name: string;
  build: () => SequenceModel<E>;
  batch: (seed: number, lengths: number[]) => E[];
}

const cases: Array<Case<unknown>> = [
  {
    name: 'EncoderDecoder (bidirectional LSTM, Bahdanau attention)',
    build: () => new EncoderDecoder({
      input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 },
      encoder: { cell: 'lstm', hiddenSize: 5, bidirectional: true },
      decoder: { cell: 'lstm', hiddenSize: 5 },
      output: { vocabSize: 8, embeddingSize: 3, startToken: 0, endToken: 1 },
      attention: 'bahdanau', seed: 4,
    }),
    batch: (seed, lengths) => {
      const src = tokens(seed, 9, lengths), tgt = tokens(seed + 1, 8, lengths.map((n) => n + 1));
      return src.map((input, i): EncoderDecoderExample => ({ input, target: tgt[i].map((t) => 2 + (t % 6)) }));
    },
  },
  {
    name: 'EncoderDecoder (GRU, context as the initial state)',
    build: () => new EncoderDecoder({
      input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 },
      encoder: { cell: 'gru', hiddenSize: 6, numLayers: 2 },
      decoder: { cell: 'gru', hiddenSize: 6, numLayers: 2 },
      output: { vocabSize: 8, embeddingSize: 3, startToken: 0, endToken: 1 }, seed: 5,
    }),
    batch: (seed, lengths) => {
      const src = tokens(seed, 9, lengths), tgt = tokens(seed + 1, 6, lengths);
      return src.map((input, i): EncoderDecoderExample => ({ input, target: tgt[i].map((t) => t + 2) }));
    },
  },
  {
    name: 'ManyToOne (2-layer bidirectional GRU)',
    build: () => new ManyToOne({
      input: { type: 'tokens', vocabSize: 7, embeddingSize: 3 },
      recurrent: { cell: 'gru', hiddenSize: 4, numLayers: 2, bidirectional: true },
      output: { type: 'classes', numClasses: 3 }, seed: 6,
    }),
    batch: (seed, lengths) => tokens(seed, 7, lengths).map((input, i): ManyToOneExample => ({ input, target: i % 3 })),
  },
  {
    name: 'ManyToMany (features -> classes, LSTM)',
    build: () => new ManyToMany({
      input: { type: 'features', size: 3 }, recurrent: { cell: 'lstm', hiddenSize: 5 },
      output: { type: 'classes', numClasses: 4 }, seed: 7,
    }),
    batch: (seed, lengths) => {
      const r = testRandom(seed);
      return lengths.map((n): ManyToManyExample => ({ input: randomVectors(r, n, 3), target: randomTokens(r, n, 0, 4) }));
    },
  },
  {
    name: 'OneToMany (class condition at every step, RNN)',
    build: () => new OneToMany({
      condition: { type: 'class', numClasses: 3, embeddingSize: 2 }, recurrent: { cell: 'rnn', hiddenSize: 5 },
      output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 }, conditioning: 'every-step', seed: 8,
    }),
    batch: (seed, lengths) => tokens(seed, 4, lengths).map((t, i): OneToManyExample => ({ input: i % 3, target: t.map((x) => x + 2) })),
  },
] as Array<Case<unknown>>;

describe('structures: the batch scratch', function () {
  this.timeout(60000);

  for (const c of cases) {
    it(`${c.name}: a short batch after a long one gives the loss and gradients of a fresh model, bit for bit`, async function () {
      const long = c.batch(1, [9, 7, 8, 9]), short = c.batch(2, [2, 3, 1]);
      const reused = c.build(), fresh = c.build();
      assert.deepEqual(reused.parameters, fresh.parameters);
      // The long batches fill every slot with values; the short one then reuses the slots' starts.
      await reused.trainBatch(long, { random: testRandom(3) });
      await reused.evaluateBatch(long);
      reused.zeroGrad();
      const after = await reused.trainBatch(short, { random: testRandom(4) });
      const alone = await fresh.trainBatch(short, { random: testRandom(4) });
      assert.equal(after.loss, alone.loss);
      assert.equal(after.count, alone.count);
      assert.deepEqual(reused.gradients, fresh.gradients);
      assert.ok(fresh.gradients.some((g) => g !== 0), 'the batch has gradients to compare');
      assert.equal((await reused.evaluateBatch(short)).loss, (await fresh.evaluateBatch(short)).loss);
    });
  }

  it('a prediction made in onEpochEnd keeps its values through the batches that follow', async function () {
    const model = cases[0].build() as EncoderDecoder;
    const data = cases[0].batch(10, [3, 5, 4, 6, 2, 5, 7, 3]) as EncoderDecoderExample[];
    const inputs = data.map((e) => e.input);
    const seen: Array<{ live: unknown; copy: unknown }> = [];
    await model.fit(data, {
      epochs: 3, batchSize: 3, optimizer: new Adam({ lr: 1e-2 }), seed: 1,
      onEpochEnd: async () => {
        const live = await model.predictAsync(inputs, { maxLength: 6, attention: true });
        seen.push({ live, copy: structuredClone(live) });
      },
    });
    assert.equal(seen.length, 3);
    for (const s of seen) assert.deepEqual(s.live, s.copy);
  });

  it('a layer used alone returns buffers of its own, which its next call does not touch', function () {
    const gru = new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const x1 = { data: Float32Array.from({ length: 8 }, (_, i) => i / 8), shape: [4, 1, 2] };
    const first = gru.forward(x1, { training: true });
    const copy = first.output.data.slice();
    gru.forward({ data: new Float32Array(8).fill(0.5), shape: [4, 1, 2] }, { training: true });
    assert.deepEqual(first.output.data, copy);
  });

  describe('BatchScratch', function () {
    it('hands the n-th request of each batch the n-th slot, zeroed, and grows a slot a longer batch needs', async function () {
      const scratch = new BatchScratch();
      const first = await withBatchScratch(scratch, async () => {
        const a = batchFloat32('a', 10), b = batchFloat32('b', 4);
        a.fill(7); b.fill(8);
        return { a, b };
      });
      const second = await withBatchScratch(scratch, async () => ({ a: batchFloat32('a', 6), b: batchFloat32('b', 40) }));
      assert.equal(second.a.buffer, first.a.buffer, 'the first slot is reused');
      assert.deepEqual(second.a, new Float32Array(6), 'and handed out zeroed');
      assert.notEqual(second.b.buffer, first.b.buffer, 'a slot too small for the request is replaced');
      assert.ok(second.b.buffer.byteLength >= 40 * 4);
      assert.deepEqual(second.b, new Float32Array(40));
      const unzeroed = await withBatchScratch(scratch, async () => batchFloat32('a', 10, false));
      assert.equal(unzeroed.buffer, first.a.buffer);
    });

    it('outside a batch, and in work that runs meanwhile but is not the batch\'s own, buffers are new', async function () {
      const scratch = new BatchScratch();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => { release = resolve; });
      const inBatch = withBatchScratch(scratch, async () => { const a = batchFloat32('a', 5); await gate; return a; });
      const outside = batchFloat32('a', 5);  // runs while the batch awaits, outside its async context
      release();
      const a = await inBatch;
      assert.notEqual(outside.buffer, a.buffer);
      const again = await withBatchScratch(scratch, async () => batchFloat32('a', 5));
      assert.equal(again.buffer, a.buffer);
    });

    it('a second batch of one model while the first runs is refused with ERR_RNNKIT_BUSY', async function () {
      const model = cases[2].build() as ManyToOne;
      const batch = cases[2].batch(1, [3, 4]) as ManyToOneExample[];
      const first = model.trainBatch(batch, { random: testRandom(1) });
      await assert.rejects(model.trainBatch(batch, { random: testRandom(1) }), { code: 'ERR_RNNKIT_BUSY' });
      await first;
    });
  });
});
