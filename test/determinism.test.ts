// The determinism contract (README, "Determinism"), its batch-invariance part:
// on one kernel path, every forward product gives each sequence the same bits
// alone, in any batch and at any thread count (native/kernels/rows_gemm.h), so
// inference answers do not change with load. Training gradients sum over the
// batch in BLAS and are promised only within a tolerance across thread counts.
// Run to run, sync vs async, save/load and resume are bit-identical in the
// tests of those features; kernel-paths.test.ts runs this file on every path.

import assert from 'node:assert/strict';
import { AttentionDecoder, Linear, OneToMany, getNumThreads, setNumThreads, type Tensor } from '../lib';
import { assertClose } from './helpers/compare';
import { RECURRENT_KINDS, seededTensor } from './helpers/recurrent-kinds';
import { assertSameBits } from './helpers/structures';

const tensor = seededTensor;

// Rows [t, b, :] of a [T, B, F] tensor for the batch entries in `rows`, as a [T, rows.length, F] tensor.
function pickBatch(x: Tensor, rows: number[], steps = x.shape[0]): Tensor {
  const [, B, F] = x.shape;
  const out = new Float32Array(steps * rows.length * F);
  for (let t = 0; t < steps; t++) {
    rows.forEach((b, j) => out.set(x.data.subarray((t * B + b) * F, (t * B + b + 1) * F), (t * rows.length + j) * F));
  }
  return { data: out, shape: [steps, rows.length, F] };
}

function withThreads<T>(threads: number, run: () => T): T {
  const before = getNumThreads();
  setNumThreads(threads);
  try {
    return run();
  } finally {
    setNumThreads(before);
  }
}

const CELLS = RECURRENT_KINDS.filter((k) => k.name !== 'RNN (relu)');  // relu adds no summation order of its own

describe('determinism: a sequence gives the same bits alone, in any batch, at any thread count', function () {
  this.timeout(60000);
  // Large enough that the products split over 2 threads (rows_gemm's threshold), with padding.
  const T = 8, B = 20, I = 40, H = 96, L = 2;
  const lengths = Int32Array.from({ length: B }, (_, b) => 1 + ((b * 5) % T));

  for (const cell of CELLS) {
    it(`${cell.name}, 2 layers, bidirectional, padded: outputs and final states`, function () {
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, seed: 3 });
      const x = tensor([T, B, I], 1);
      const h0 = tensor([2 * L, B, H], 2, 0.5), c0 = cell.lstm ? tensor([2 * L, B, H], 3, 0.5) : undefined;
      const run = (rows: number[], threads: number, training: boolean) => withThreads(threads, () => {
        const steps = Math.max(...rows.map((b) => lengths[b]));
        return layer.forward(pickBatch(x, rows, steps), {
          h0: pickBatch(h0, rows), c0: c0 && pickBatch(c0, rows), lengths: Int32Array.from(rows, (b) => lengths[b]), training,
        });
      });
      const all = Array.from({ length: B }, (_, b) => b);
      const full = run(all, 2, true);
      const compositions = [
        { rows: all, threads: 1, training: false },
        { rows: [13, 2, 7, 19, 0, 5, 11], threads: 2, training: false },
        ...[0, 9, 17].map((b) => ({ rows: [b], threads: b % 2 ? 1 : 2, training: false })),
      ];
      for (const { rows, threads, training } of compositions) {
        const out = run(rows, threads, training);
        const what = `${rows.length} sequences at ${threads} thread(s)`;
        rows.forEach((b, j) => {
          const valid = lengths[b];
          assertSameBits(pickBatch(out.output, [j], valid).data, pickBatch(full.output, [b], valid).data, `${what}: output of sequence ${b}`);
          assertSameBits(pickBatch(out.hN, [j]).data, pickBatch(full.hN, [b]).data, `${what}: hN of sequence ${b}`);
          if (cell.lstm) assertSameBits(pickBatch(out.cN!, [j]).data, pickBatch(full.cN!, [b]).data, `${what}: cN of sequence ${b}`);
        });
      }
    });
  }

  it('Linear: each row of y = x W^T + b', function () {
    const layer = new Linear({ inFeatures: 200, outFeatures: 300, seed: 4 });
    const x = tensor([1, 64, 200], 5);
    const full = withThreads(2, () => layer.forward(x));
    for (const [rows, threads] of [[[63], 1], [[5, 40, 41, 2, 60], 2]] as Array<[number[], number]>) {
      const y = withThreads(threads, () => layer.forward(pickBatch(x, rows)));
      rows.forEach((b, j) => assertSameBits(pickBatch(y, [j]).data, pickBatch(full, [b]).data, `row ${b} among ${rows.length} at ${threads} thread(s)`));
    }
  });

  for (const attention of ['bahdanau', 'luong-dot', 'luong-general'] as const) {
    it(`AttentionDecoder '${attention}': outputs, attention weights and final states over padded sources and targets`, function () {
      const M = 6, N = 9, E = 48, X = 24, Hd = 64, Bd = 12;
      const decoder = new AttentionDecoder({ cell: attention === 'luong-dot' ? 'lstm' : 'gru', inputSize: X, memorySize: E,
        hiddenSize: attention === 'luong-dot' ? E : Hd, attention, seed: 6 });
      const hidden = decoder.hiddenSize;
      const x = tensor([M, Bd, X], 7), memory = tensor([N, Bd, E], 8), h0 = tensor([1, Bd, hidden], 9, 0.5);
      const c0 = attention === 'luong-dot' ? tensor([1, Bd, hidden], 10, 0.5) : undefined;
      const sourceLengths = Int32Array.from({ length: Bd }, (_, b) => 1 + ((b * 4) % N));
      const targetLengths = Int32Array.from({ length: Bd }, (_, b) => 1 + ((b * 7) % M));
      const run = (rows: number[], threads: number) => withThreads(threads, () => decoder.forward(
        pickBatch(x, rows, Math.max(...rows.map((b) => targetLengths[b]))),
        pickBatch(memory, rows, Math.max(...rows.map((b) => sourceLengths[b]))), {
          h0: pickBatch(h0, rows), c0: c0 && pickBatch(c0, rows),
          sourceLengths: Int32Array.from(rows, (b) => sourceLengths[b]), targetLengths: Int32Array.from(rows, (b) => targetLengths[b]),
        }));
      const all = Array.from({ length: Bd }, (_, b) => b);
      const full = run(all, 2);
      for (const [rows, threads] of [[all, 1], [[11, 3, 6], 2], [[4], 1]] as Array<[number[], number]>) {
        const out = run(rows, threads);
        const what = `${rows.length} sequences at ${threads} thread(s)`;
        rows.forEach((b, j) => {
          const m = targetLengths[b], n = sourceLengths[b];
          assertSameBits(pickBatch(out.output, [j], m).data, pickBatch(full.output, [b], m).data, `${what}: output of sequence ${b}`);
          // weights [M, B, N]: the first n source positions of each valid step.
          const weights = (w: Tensor, k: number) => {
            const picked = pickBatch(w, [k], m).data, width = w.shape[2];
            return Float32Array.from({ length: m * n }, (_, i) => picked[Math.floor(i / n) * width + (i % n)]);
          };
          assertSameBits(weights(out.weights, j), weights(full.weights, b), `${what}: attention weights of sequence ${b}`);
          assertSameBits(pickBatch(out.hN, [j]).data, pickBatch(full.hN, [b]).data, `${what}: hN of sequence ${b}`);
        });
      }
    });
  }

  it('OneToMany: greedy generation and beam search of one input alone equal its results in a batch', function () {
    const model = new OneToMany({
      condition: { type: 'class', numClasses: 5, embeddingSize: 32 }, conditioning: 'every-step', recurrent: { cell: 'gru', hiddenSize: 96 },
      output: { vocabSize: 40, embeddingSize: 32, startToken: 0, endToken: 1 }, seed: 11,
    });
    const inputs = [0, 1, 2, 3, 4, 2, 0, 3];
    for (const options of [{ maxLength: 12 }, { strategy: 'beam' as const, beamWidth: 3, maxLength: 12 }]) {
      const batch = withThreads(2, () => model.generate(inputs, options));
      inputs.forEach((input, i) => {
        const alone = withThreads(1 + (i % 2), () => model.generate([input], options))[0];
        assert.deepEqual(alone.tokens, batch[i].tokens, `${options.strategy ?? 'greedy'}: tokens of input ${i}`);
        assert.equal(alone.logProb, batch[i].logProb, `${options.strategy ?? 'greedy'}: logProb of input ${i}`);
      });
    }
  });
});

describe('determinism: training gradients across thread counts agree within a tolerance, not bit for bit', function () {
  // Weight gradients are sums over the batch and the steps (BLAS GEMMs, and a
  // sum over thread-private buffers), whose order follows the thread count.
  for (const cell of CELLS) {
    it(`${cell.name}: gradients at 1 and 2 threads within 1e-5 of their scale; bit-identical run to run at each`, function () {
      const T = 10, B = 32, I = 64, H = 128;
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, seed: 12 });
      const x = tensor([T, B, I], 13), dOutput = tensor([T, B, 2 * H], 14, 0.1);
      const grads = (threads: number) => withThreads(threads, () => {
        layer.zeroGrad();
        layer.forward(x, { training: true });
        const { dx } = layer.backward({ dOutput });
        return { weights: layer.gradients.slice(), dx: dx.data };
      });
      const one = grads(1), two = grads(2);
      assertSameBits(grads(2).weights, two.weights, 'run to run at 2 threads');
      assertSameBits(grads(1).weights, one.weights, 'run to run at 1 thread');
      assertClose(two.weights, one.weights, 1e-5, 'weight gradients, 2 vs 1 threads');
      assertClose(two.dx, one.dx, 1e-5, 'dx, 2 vs 1 threads');
    });
  }
});
