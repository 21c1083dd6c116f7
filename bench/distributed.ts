// Data-parallel figures (issue 14), run under mpirun; not a test, nothing asserts a speed.
//
//   mpirun -np 2 node dist/bench/distributed.js allreduce [--floats N] [--iterations K]
//     group.allreduce (Float32Array, in place) latency and bandwidth, median of K, each call after a
//     barrier; compare bench/mpi_allreduce_bench.c (the same loop in C) at the same size.
//   mpirun -np W node dist/bench/distributed.js step [--steps K] [--batch B] [--threads T]
//     the g2p model (lib/cli/tasks/g2p.ts: bidirectional GRU 256 encoder, GRU 256 decoder, Bahdanau
//     attention, embeddings 64) trained by fit on seeded synthetic words of 5-12 symbols: milliseconds
//     per step with a global batch of B split over the W workers, and the part of it spent in the
//     gradient allreduce. W = 1 is plain fit, no group.

import { performance } from 'node:perf_hooks';
import { distributed, EncoderDecoder, setNumThreads, type EncoderDecoderExample, type ProcessGroup } from '../lib';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function g2pModel(): EncoderDecoder {
  return new EncoderDecoder({
    input: { type: 'tokens', vocabSize: 29, embeddingSize: 64 },
    encoder: { cell: 'gru', hiddenSize: 256, bidirectional: true },
    decoder: { cell: 'gru', hiddenSize: 256 },
    output: { vocabSize: 41, embeddingSize: 64, startToken: 0, endToken: 1 },
    attention: 'bahdanau', seed: 1,
  });
}

function words(count: number): EncoderDecoderExample[] {
  let state = 7;
  const next = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
  const len = () => 5 + Math.floor(next() * 8);
  return Array.from({ length: count }, () => ({
    input: Array.from({ length: len() }, () => 2 + Math.floor(next() * 27)),
    target: Array.from({ length: len() }, () => 2 + Math.floor(next() * 39)),
  }));
}

async function allreduce(group: ProcessGroup): Promise<void> {
  const floats = arg('floats', g2pModel().parameters.length);
  const iterations = arg('iterations', 50);
  const x = new Float32Array(floats);
  for (let i = 0; i < 10; i++) await group.allreduce(x);
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    await group.barrier();
    const t = performance.now();
    await group.allreduce(x);
    times.push((performance.now() - t) / 1000);
  }
  if (group.rank === 0) {
    const s = median(times), bytes = floats * 4, n = group.worldSize;
    console.log(JSON.stringify({
      workers: n, floats, bytes, medianMs: s * 1000, minMs: Math.min(...times) * 1000,
      // algorithm bandwidth (bytes / time) and bus bandwidth (x 2(n-1)/n: what each link carries in a ring).
      algGBps: bytes / s / 1e9, busGBps: (bytes / s / 1e9) * (2 * (n - 1)) / n,
    }));
  }
}

async function step(group: ProcessGroup | null): Promise<void> {
  const steps = arg('steps', 30), batch = arg('batch', 64);
  setNumThreads(arg('threads', 1));
  const workers = group?.worldSize ?? 1;
  const model = g2pModel();
  let reduceMs = 0;
  if (group) {
    const plain = group.allreduce.bind(group);
    group.allreduce = (async (buffer: Float32Array | Float64Array, op?: 'sum' | 'mean') => {
      const t = performance.now();
      const r = await plain(buffer, op);
      if (buffer === model.gradients) reduceMs += performance.now() - t;
      return r;
    }) as typeof group.allreduce;
  }
  const stepMs: number[] = [];
  await model.fit(words(batch * (steps + 5)), {
    epochs: 1, batchSize: batch / workers, optimizer: { type: 'adam', lr: 3e-3 }, clipNorm: 1, onNonFinite: 'skip',
    distributed: group ?? undefined,
    onBatchEnd: (r) => { stepMs.push(r.sequences / r.sequencesPerSecond * 1000); },
  });
  if (!group || group.rank === 0) {
    const measured = stepMs.slice(5);  // after warm-up
    const stepsSeen = stepMs.length;
    console.log(JSON.stringify({
      workers, threadsPerWorker: arg('threads', 1), globalBatch: batch, parameters: model.parameters.length,
      medianStepMs: median(measured), meanStepMs: measured.reduce((a, b) => a + b, 0) / measured.length,
      allreduceMsPerStep: group ? reduceMs / stepsSeen : 0,
    }));
  }
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const group = mode === 'allreduce' || Number(process.env.OMPI_COMM_WORLD_SIZE ?? 1) > 1 ? await distributed.init() : null;
  if (mode === 'allreduce') await allreduce(group!);
  else if (mode === 'step') await step(group);
  else throw new Error('usage: distributed.js allreduce|step [options]');
  await group?.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
