#!/usr/bin/env node
// Builds small TensorFlow.js layers models with tf.layers, saves each as model.json + weight
// shards (the format tf.io's file handler and tensorflowjs_converter write) and records
// tfjs's own predictions on variable-length inputs, into test/fixtures/tfjs/<name>/.
// @tensorflow/tfjs is not a dependency of rnnkit: install it anywhere and point at it,
//   mkdir /tmp/tfjs && (cd /tmp/tfjs && npm install @tensorflow/tfjs@4.22.0)
//   TFJS_DIR=/tmp/tfjs/node_modules/@tensorflow/tfjs node scripts/make-tfjs-fixtures.js
// Weights are drawn from a seeded generator (not tfjs's initialisers), so the files are
// the same bytes on every run.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const tf = require(process.env.TFJS_DIR || '@tensorflow/tfjs');
const OUT = path.join(__dirname, '..', 'test', 'fixtures', 'tfjs');

// mulberry32: small, seeded, the same numbers everywhere.
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnn = (o) => ({ recurrentActivation: 'sigmoid', ...o });  // tfjs's default is hard_sigmoid

// Each case: the layers, the inputs as tfjs takes them (padded to T), and how long each really is.
const CASES = [
  {
    name: 'gru-many-to-one-masked',
    note: 'Embedding(mask_zero) -> GRU (reset_after=False) -> Dense softmax',
    layers: () => [
      tf.layers.embedding({ inputDim: 9, outputDim: 4, maskZero: true, inputLength: 6 }),
      tf.layers.gru(rnn({ units: 5 })),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
    input: { type: 'tokens', vocab: 9, T: 6, lengths: [6, 3, 1, 5] },
  },
  {
    name: 'bigru-many-to-many-masked',
    note: 'Embedding(mask_zero) -> Bidirectional(GRU, return_sequences) -> TimeDistributed(Dense softmax)',
    layers: () => [
      tf.layers.embedding({ inputDim: 7, outputDim: 3, maskZero: true, inputLength: 5 }),
      tf.layers.bidirectional({ layer: tf.layers.gru(rnn({ units: 4, returnSequences: true })), mergeMode: 'concat' }),
      tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 5, activation: 'softmax' }) }),
    ],
    input: { type: 'tokens', vocab: 7, T: 5, lengths: [5, 2, 4] },
  },
  {
    name: 'lstm-stack-features-masking',
    note: 'Masking(0) -> LSTM(return_sequences) -> Dropout -> LSTM -> Dense linear, weights in two shards',
    layers: () => [
      tf.layers.masking({ maskValue: 0, inputShape: [7, 3] }),
      tf.layers.lstm(rnn({ units: 6, returnSequences: true })),
      tf.layers.dropout({ rate: 0.25 }),
      tf.layers.lstm(rnn({ units: 6 })),
      tf.layers.dense({ units: 2 }),
    ],
    input: { type: 'features', size: 3, T: 7, lengths: [7, 4, 2, 6, 1] },
    shards: 2,
  },
  {
    name: 'bisimplernn-relu-fixed-length',
    note: 'Embedding (no mask) -> Bidirectional(SimpleRNN relu) -> Dense softmax, every sequence full length',
    layers: () => [
      tf.layers.embedding({ inputDim: 6, outputDim: 3, inputLength: 4 }),
      tf.layers.bidirectional({ layer: tf.layers.simpleRNN({ units: 4, activation: 'relu' }) }),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
    input: { type: 'tokens', vocab: 6, T: 4, lengths: [4, 4, 4] },
  },
  {
    name: 'bilstm-2layer-many-to-many-masked',
    note: 'Embedding(mask_zero) -> 2 x Bidirectional(LSTM, return_sequences) -> Dense linear on every step, no bias',
    layers: () => [
      tf.layers.embedding({ inputDim: 8, outputDim: 4, maskZero: true, inputLength: 6 }),
      tf.layers.bidirectional({ layer: tf.layers.lstm(rnn({ units: 3, returnSequences: true })) }),
      tf.layers.bidirectional({ layer: tf.layers.lstm(rnn({ units: 3, returnSequences: true })) }),
      tf.layers.dense({ units: 2, useBias: false }),
    ],
    input: { type: 'tokens', vocab: 8, T: 6, lengths: [6, 1, 3] },
  },
  {
    name: 'gru-hard-sigmoid',
    note: "tfjs's default GRU: recurrent_activation hard_sigmoid, which rnnkit has not (loading is refused)",
    layers: () => [
      tf.layers.embedding({ inputDim: 5, outputDim: 2, inputLength: 3 }),
      tf.layers.gru({ units: 2 }),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
    input: { type: 'tokens', vocab: 5, T: 3, lengths: [3] },
  },
  {
    name: 'functional-gru-nobias-many-to-many',
    note: 'tf.model (functional, one chain): Input -> Embedding(mask_zero) -> GRU(no bias, return_sequences) -> Dense softmax',
    model: () => {
      const input = tf.input({ shape: [5] });
      const embedded = tf.layers.embedding({ inputDim: 6, outputDim: 3, maskZero: true }).apply(input);
      const states = tf.layers.gru(rnn({ units: 3, useBias: false, returnSequences: true })).apply(embedded);
      return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4, activation: 'softmax' }).apply(states) });
    },
    input: { type: 'tokens', vocab: 6, T: 5, lengths: [5, 3, 2, 4] },
  },
];

function inputsOf(spec, random) {
  const { T, lengths } = spec;
  if (spec.type === 'tokens') {
    // Ids from 1: 0 is the padding a mask_zero Embedding skips.
    const sequences = lengths.map((n) => Array.from({ length: n }, () => 1 + Math.floor(random() * (spec.vocab - 1))));
    return { sequences, padded: sequences.map((s) => [...s, ...new Array(T - s.length).fill(0)]) };
  }
  // Features away from 0 in every component, so a step is masked only where it is padding.
  const value = () => (random() < 0.5 ? -1 : 1) * (0.1 + random());
  const sequences = lengths.map((n) => Array.from({ length: n }, () => Array.from({ length: spec.size }, value)));
  return { sequences, padded: sequences.map((s) => [...s, ...Array.from({ length: T - s.length }, () => new Array(spec.size).fill(0))]) };
}

async function artifactsOf(model) {
  let saved = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  return saved;
}

async function writeCase(c, seed) {
  const random = generator(seed);
  const model = c.model ? c.model() : tf.sequential({ layers: c.layers() });
  model.setWeights(model.getWeights().map((w) => tf.tensor(Array.from({ length: w.size }, () => random() - 0.5), w.shape)));
  const { sequences, padded } = inputsOf(c.input, random);
  const x = c.input.type === 'tokens' ? tf.tensor2d(padded, undefined, 'float32') : tf.tensor3d(padded);
  const outputs = model.predict(x).arraySync();

  const artifacts = await artifactsOf(model);
  const dir = path.join(OUT, c.name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const data = Buffer.from(artifacts.weightData);
  const shards = c.shards || 1;
  const paths = [];
  const step = Math.ceil(data.length / shards / 4) * 4;
  for (let s = 0; s < shards; s++) {
    const file = shards === 1 ? 'weights.bin' : `group1-shard${s + 1}of${shards}.bin`;
    fs.writeFileSync(path.join(dir, file), data.subarray(s * step, Math.min(data.length, (s + 1) * step)));
    paths.push(file);
  }
  // What tf.io's file handler writes (tfjs-node's file://), with the weights split as the converter splits them.
  const modelJson = {
    modelTopology: artifacts.modelTopology, format: artifacts.format, generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy, weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  const expected = { note: c.note, tfjs: tf.version.tfjs, input: c.input, padded, sequences, outputs };
  fs.writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected));
  console.log('wrote', c.name);
}

(async () => {
  tf.setBackend('cpu');
  let seed = 100;
  for (const c of CASES) await writeCase(c, seed++);
})();
