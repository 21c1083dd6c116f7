#!/usr/bin/env node
// A short training run that calls every native binding at least once (RNN/GRU/
// LSTM stacks with lengths, dropout and both directions; the attention decoder;
// Linear, Embedding, losses, SGD/Adam/AdamW, clipping; save and load), for the
// sanitizer and valgrind runs (scripts/test-asan.sh, scripts/valgrind-train.sh).
// Not a test of results: it checks only that losses stay finite.
// Needs `npx tsc -p .` first. SMOKE_EPOCHS (default 2) sets the length.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const rnnkit = require('../dist/lib');

const epochs = Number(process.env.SMOKE_EPOCHS || 2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-smoke-'));

function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}
const rand = lcg(7);
const int = (n) => Math.floor(rand() * n);
const tokens = (len, V) => Array.from({ length: len }, () => int(V));
const vectors = (len, F) => Array.from({ length: len }, () => Array.from({ length: F }, () => rand() * 2 - 1));

function check(name, value) {
  if (!Number.isFinite(value)) throw new Error(`${name}: non-finite ${value}`);
}

async function main() {
  rnnkit.setNumThreads(1);
  const started = Date.now();

  // N vs N, tokens -> classes, 2-layer bidirectional GRU with dropout, truncated BPTT.
  const lm = new rnnkit.ManyToMany({
    input: { type: 'tokens', vocabSize: 12, embeddingSize: 6 },
    recurrent: { cell: 'gru', hiddenSize: 8, numLayers: 2, bidirectional: true, dropout: 0.2 },
    output: { type: 'classes', numClasses: 12 }, truncation: 3, seed: 1,
  });
  const lmData = Array.from({ length: 12 }, () => {
    const input = tokens(2 + int(6), 12);
    return { input, target: input.map((t) => (t + 1) % 12) };
  });
  let h = await lm.fit(lmData, { epochs, batchSize: 4, optimizer: { type: 'adamw', lr: 1e-2 }, clipNorm: 1,
    checkpointPath: path.join(dir, 'lm.ckpt') });
  check('ManyToMany loss', h.epochs.at(-1).loss);

  // N vs N, features -> real, LSTM with lengths via ragged batches, SGD with momentum.
  const reg = new rnnkit.ManyToMany({
    input: { type: 'features', size: 3 }, recurrent: { cell: 'lstm', hiddenSize: 5 },
    output: { type: 'real', size: 2 }, seed: 2,
  });
  const regData = Array.from({ length: 8 }, () => {
    const len = 1 + int(5);
    return { input: vectors(len, 3), target: vectors(len, 2) };
  });
  h = await reg.fit(regData, { epochs, batchSize: 3, optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true } });
  check('ManyToMany real loss', h.epochs.at(-1).loss);

  // N vs 1 with a relu RNN.
  const cls = new rnnkit.ManyToOne({
    input: { type: 'features', size: 4 }, recurrent: { cell: 'rnn', nonlinearity: 'relu', hiddenSize: 6, numLayers: 2 },
    output: { type: 'classes', numClasses: 3 }, seed: 3,
  });
  const clsData = Array.from({ length: 9 }, () => ({ input: vectors(1 + int(4), 4), target: int(3) }));
  h = await cls.fit(clsData, { epochs, batchSize: 4, optimizer: { type: 'adam', lr: 1e-2 } });
  check('ManyToOne loss', h.epochs.at(-1).loss);
  cls.predict(clsData.slice(0, 3).map((e) => e.input));

  // 1 vs N, every-step conditioning.
  const gen = new rnnkit.OneToMany({
    condition: { type: 'class', numClasses: 3, embeddingSize: 4 }, conditioning: 'every-step',
    recurrent: { cell: 'lstm', hiddenSize: 6 },
    output: { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 }, scheduledSampling: 0.25, seed: 4,
  });
  const genData = Array.from({ length: 6 }, () => ({ input: int(3), target: tokens(1 + int(4), 7).map((t) => 2 + (t % 5)) }));
  h = await gen.fit(genData, { epochs, batchSize: 3 });
  check('OneToMany loss', h.epochs.at(-1).loss);
  gen.generate([0, 2], { strategy: 'sample', maxLength: 5, temperature: 0.8, topK: 3 });

  // N vs M with each attention kind.
  for (const [attention, cell] of [['bahdanau', 'lstm'], ['luong-dot', 'gru'], ['luong-general', 'rnn']]) {
    const s2s = new rnnkit.EncoderDecoder({
      input: { type: 'tokens', vocabSize: 9, embeddingSize: 5 },
      encoder: { cell: 'gru', hiddenSize: 4, bidirectional: true },
      decoder: { cell, hiddenSize: 8 },
      output: { vocabSize: 9, embeddingSize: 5, startToken: 0, endToken: 1 }, attention, seed: 5,
    });
    const data = Array.from({ length: 6 }, () => {
      const input = tokens(1 + int(5), 9).map((t) => 2 + (t % 7));
      return { input, target: input.slice().reverse() };
    });
    h = await s2s.fit(data, { epochs, batchSize: 3, clipNorm: 5 });
    check(`EncoderDecoder ${attention} loss`, h.epochs.at(-1).loss);
    s2s.predict([data[0].input], { strategy: 'beam', beamWidth: 3, maxLength: 4 });
    s2s.predict([data[1].input], { maxLength: 4 });
    const file = path.join(dir, `s2s-${attention}.safetensors`);
    s2s.save(file);
    rnnkit.loadModel(file).model.predict([data[0].input], { maxLength: 3 });
  }

  // Resume from the checkpoint written above.
  await lm.fit(lmData, { epochs: epochs + 1, batchSize: 4, optimizer: { type: 'adamw', lr: 1e-2 }, clipNorm: 1,
    resumeFrom: path.join(dir, 'lm.ckpt') });

  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`train-smoke: ok (${epochs} epochs per model, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().catch((error) => {
  fs.rmSync(dir, { recursive: true, force: true });
  console.error(error);
  process.exit(1);
});
