// Latency of one decoder step of the g2p model shape (bidirectional GRU 192 encoder, GRU 192 decoder
// with Bahdanau attention, embeddings 64, 30 letters in, 41 phonemes out) exported to ONNX and run by
// onnxruntime-node, against rnnkit's own step (the one predict() runs; keys reused across steps, as
// the ONNX graphs do by taking them from the encoder graph). Also a whole greedy decoding of a batch.
// Interleaved run by run, medians. Not a test: nothing asserts a speed; the weights are untrained.
// `node dist/bench/onnx-decoder-step.js [--runs N] [--threads T] [--batch 1,32] [--source 8]`

import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { EncoderDecoder, encodeOnnx, setNumThreads } from '../lib';
import { runSync } from '../lib/structures/inference';
import type { AttentiveDecoder, AttentiveState } from '../lib/structures/attentive-decoder';
import { fmt, median } from './stats';

function parseArgs(argv: string[]) {
  const o = { runs: 201, threads: 1, batches: [1, 32], source: 8 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--runs') o.runs = Number(v);
    else if (argv[i] === '--threads') o.threads = Number(v);
    else if (argv[i] === '--batch') o.batches = v.split(',').map(Number);
    else if (argv[i] === '--source') o.source = Number(v);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  setNumThreads(o.threads);
  const model = new EncoderDecoder({
    input: { type: 'tokens', vocabSize: 30, embeddingSize: 64 }, encoder: { cell: 'gru', hiddenSize: 192, bidirectional: true },
    decoder: { cell: 'gru', hiddenSize: 192 }, output: { vocabSize: 41, embeddingSize: 64, startToken: 0, endToken: 1 },
    attention: 'bahdanau', seed: 1,
  });
  const options = { intraOpNumThreads: o.threads, interOpNumThreads: 1 };
  const encoder = await ort.InferenceSession.create(encodeOnnx(model, { graph: 'encoder' }), options);
  const decoder = await ort.InferenceSession.create(encodeOnnx(model, { graph: 'decoder' }), options);
  console.log(`g2p-shaped EncoderDecoder, source length ${o.source}, ${o.threads} thread(s) each (rnnkit setNumThreads, ` +
    `onnxruntime intraOpNumThreads), ${o.runs} runs, medians`);
  for (const B of o.batches) {
    const sources = Array.from({ length: B }, (_, b) => Array.from({ length: o.source }, (_, t) => 2 + ((b * 7 + t * 3) % 28)));
    const ids = BigInt64Array.from({ length: o.source * B }, (_, i) => BigInt(sources[i % B][Math.floor(i / B)]));
    const lengths = new Int32Array(B).fill(o.source);
    const encoded = await encoder.run({ input: new ort.Tensor('int64', ids, [o.source, B]), lengths: new ort.Tensor('int32', lengths, [B]) });
    const feeds = { ...encoded, token: new ort.Tensor('int64', new BigInt64Array(B), [B]), sourceLengths: new ort.Tensor('int32', lengths, [B]) };
    const stepFeeds = Object.fromEntries(decoder.inputNames.map((n) => [n, feeds[n as keyof typeof feeds]]));
    // rnnkit's own step, on the state its predict() builds (encoder.encode + decoder.start).
    const dec = model.decoder as unknown as AttentiveDecoder;
    const enc = runSync(model.encoder.encode(sources, { training: false }));
    const state = runSync(dec.start({ batch: B, context: enc.context, memory: enc.memory, sourceLengths: enc.lengths })) as AttentiveState;
    const tokens = new Int32Array(B);
    runSync(dec.stepper.step(tokens, state));  // computes and keeps the keys, as the first step of predict does
    const onnxStep: number[] = [], ownStep: number[] = [], onnxGreedy: number[] = [], ownGreedy: number[] = [];
    for (let r = 0; r < o.runs; r++) {
      let t0 = performance.now();
      await decoder.run(stepFeeds);
      onnxStep.push(performance.now() - t0);
      t0 = performance.now();
      runSync(dec.stepper.step(tokens, state));
      ownStep.push(performance.now() - t0);
      if (r % 10 === 0) {
        t0 = performance.now();
        await greedyOnnx(encoder, decoder, ids, lengths, B, 10);
        onnxGreedy.push(performance.now() - t0);
        t0 = performance.now();
        model.predict(sources, { maxLength: 10, attention: false });
        ownGreedy.push(performance.now() - t0);
      }
    }
    console.log(`B=${B}: one decoder step: onnxruntime-node ${fmt(median(onnxStep) * 1000, 0)} us, rnnkit ${fmt(median(ownStep) * 1000, 0)} us; ` +
      `encoder + 10 greedy steps: onnxruntime-node ${fmt(median(onnxGreedy), 2)} ms, rnnkit predict ${fmt(median(ownGreedy), 2)} ms`);
  }
  model.dispose();
}

/** Encoder, then exactly `steps` greedy steps (the untrained model may never end). */
async function greedyOnnx(encoder: ort.InferenceSession, decoder: ort.InferenceSession, ids: BigInt64Array, lengths: Int32Array,
  B: number, steps: number): Promise<void> {
  const T = ids.length / B;
  const state: Record<string, ort.Tensor> = { ...(await encoder.run({
    input: new ort.Tensor('int64', ids, [T, B]), lengths: new ort.Tensor('int32', lengths, [B]) })),
  sourceLengths: new ort.Tensor('int32', lengths, [B]) };
  let token = new BigInt64Array(B);
  for (let t = 0; t < steps; t++) {
    state.token = new ort.Tensor('int64', token, [B]);
    const out = await decoder.run(Object.fromEntries(decoder.inputNames.map((n) => [n, state[n]])));
    const V = out.logProbs.dims[1], lp = out.logProbs.data as Float32Array;
    token = BigInt64Array.from({ length: B }, (_, b) => {
      let best = 0;
      for (let v = 1; v < V; v++) if (lp[b * V + v] > lp[b * V + best]) best = v;
      return BigInt(best);
    });
    state.h = out.hN;
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
