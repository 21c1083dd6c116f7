// The structures exported to ONNX run in onnxruntime-node with rnnkit's
// numbers, on padded batches of variable lengths: ManyToOne and ManyToMany
// over whole sequences, ManyToMany's streaming step, and OneToMany and
// EncoderDecoder (no attention, Bahdanau, Luong dot and general) decoded
// greedily by the host over their start/encoder graph and one-step graph.

import assert from 'node:assert/strict';
import {
  EncoderDecoder, ManyToMany, ManyToOne, OneToMany, encodeOnnx, logSoftmax, onnxGraphs,
  type EncoderDecoderOptions, type ManyToManyOptions, type ManyToOneOptions, type OneToManyOptions, type StreamState, type Tensor,
} from '../lib';
import { scaledError } from './helpers/compare';
import { ONNX_TOLERANCE, f32, floats, greedyDecode, i32, i64, paddedFeatures, paddedTokens, recordError, reportErrors, session, trainBriefly, assertManySteps, type OrtTensor } from './helpers/onnx';
import { randomTokens, randomVectors, testRandom } from './helpers/structures';

/**
 * Scaled error at most ONNX_TOLERANCE. `floor` bounds the scale from below: a log-probability near 0 (a
 * confident step) has no scale of its own, and its rounding comes from logits of order 1, so sums of
 * log-probabilities are compared with floor 1.
 */
function assertAgrees(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, kind: string, floor = 1e-3): void {
  const error = scaledError(actual, expected, floor);
  recordError(kind, error);
  assert.ok(error <= ONNX_TOLERANCE, `${what}: scaled error ${error.toExponential(2)} above ${ONNX_TOLERANCE}`);
}

const LENGTHS = [5, 1, 3, 4];

/** Sequences of LENGTHS' lengths: token ids in [0, vocab) or feature vectors of `size`. */
function sequences(seed: number, input: { type: 'tokens'; vocabSize: number } | { type: 'features'; size: number }): Array<number[] | number[][]> {
  const r = testRandom(seed);
  return LENGTHS.map((n) => (input.type === 'tokens' ? randomTokens(r, n, 0, input.vocabSize) : randomVectors(r, n, input.size)));
}

/** ONNX feeds `input` and `lengths` for a batch of sequences. */
function sequenceFeeds(seqs: Array<number[] | number[][]>, features: number | null) {
  const B = seqs.length;
  if (features === null) {
    const p = paddedTokens(seqs as number[][]);
    return { feeds: { input: i64(p.ids, [p.steps, B]), lengths: i32(p.lengths, [B]) }, lengths: p.lengths, steps: p.steps };
  }
  const p = paddedFeatures(seqs as number[][][], features);
  return { feeds: { input: f32(p.data, [p.steps, B, features]), lengths: i32(p.lengths, [B]) }, lengths: p.lengths, steps: p.steps };
}

const featureSize = (spec: { type: string; size?: number }) => (spec.type === 'features' ? spec.size! : null);

after(reportErrors);

describe('ONNX export: ManyToOne', () => {
  const cases: Array<[string, ManyToOneOptions]> = [
    ['tokens -> classes, 2-layer bidirectional GRU', { input: { type: 'tokens', vocabSize: 7, embeddingSize: 4 },
      recurrent: { cell: 'gru', hiddenSize: 5, numLayers: 2, bidirectional: true, dropout: 0.2 }, output: { type: 'classes', numClasses: 3 }, seed: 1 }],
    ['features -> real, bidirectional LSTM', { input: { type: 'features', size: 3 },
      recurrent: { cell: 'lstm', hiddenSize: 4, bidirectional: true }, output: { type: 'real', size: 2 }, seed: 2 }],
    ['tokens -> classes, RNN relu', { input: { type: 'tokens', vocabSize: 5, embeddingSize: 3 },
      recurrent: { cell: 'rnn', nonlinearity: 'relu', hiddenSize: 6 }, output: { type: 'classes', numClasses: 4 }, seed: 3 }],
  ];
  for (const [what, options] of cases) {
    it(`${what}: probabilities / values agree with predictProba`, async () => {
      const model = new ManyToOne(options);
      assert.deepEqual(onnxGraphs(model), ['sequence']);
      const seqs = sequences(4, options.input.type === 'tokens' ? options.input : options.input);
      const expected = model.predictProba(seqs);
      const s = await session(encodeOnnx(model));
      const got = await s.run(sequenceFeeds(seqs, featureSize(options.input)).feeds);
      const out = got[options.output.type === 'classes' ? 'probabilities' : 'values'];
      assert.deepEqual(out.dims, [seqs.length, expected[0].length]);
      assertAgrees(floats(out), expected.flat(), what, 'ManyToOne');
      model.dispose();
    });
  }
});

/** Per-step probabilities (classes) or values of a ManyToMany over a padded batch, through its own layers. */
function manyToManyReference(model: ManyToMany, seqs: Array<number[] | number[][]>, classes: boolean): { values: Float32Array; lengths: Int32Array } {
  const feeds = sequenceFeeds(seqs, model.encoder.input.embedding ? null : model.encoder.input.size);
  const B = seqs.length, T = feeds.steps;
  const x: Tensor = model.encoder.input.embedding
    ? model.encoder.input.embedding.forward(Int32Array.from(feeds.feeds.input.data as BigInt64Array, Number), [T, B])
    : { data: feeds.feeds.input.data as Float32Array, shape: [T, B, model.encoder.input.size] };
  const y = model.head.forward(model.encoder.rnn.forward(x, { lengths: feeds.lengths }).output);
  return { values: classes ? logSoftmax(y).data.map(Math.exp) : y.data, lengths: feeds.lengths };
}

/** Only the valid steps of [T, B, W] values. */
function validSteps(values: Float32Array, lengths: Int32Array, width: number): number[] {
  const B = lengths.length, out: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]; t++) out.push(...values.subarray((t * B + b) * width, (t * B + b + 1) * width));
  return out;
}

describe('ONNX export: ManyToMany', () => {
  const cases: Array<[string, ManyToManyOptions]> = [
    ['tokens -> classes, 2-layer GRU', { input: { type: 'tokens', vocabSize: 6, embeddingSize: 4 },
      recurrent: { cell: 'gru', hiddenSize: 5, numLayers: 2 }, output: { type: 'classes', numClasses: 6 }, seed: 5 }],
    ['features -> real, LSTM', { input: { type: 'features', size: 3 },
      recurrent: { cell: 'lstm', hiddenSize: 4 }, output: { type: 'real', size: 2 }, seed: 6 }],
    ['tokens -> classes, bidirectional RNN tanh', { input: { type: 'tokens', vocabSize: 5, embeddingSize: 3 },
      recurrent: { cell: 'rnn', hiddenSize: 4, bidirectional: true }, output: { type: 'classes', numClasses: 5 }, seed: 7 }],
  ];
  for (const [what, options] of cases) {
    const classes = options.output.type === 'classes';
    it(`${what}: the sequence graph agrees at every valid step`, async () => {
      const model = new ManyToMany(options);
      const seqs = sequences(8, options.input.type === 'tokens' ? options.input : options.input);
      const ref = manyToManyReference(model, seqs, classes);
      const s = await session(encodeOnnx(model, { graph: 'sequence' }));
      const got = await s.run(sequenceFeeds(seqs, featureSize(options.input)).feeds);
      const out = got[classes ? 'probabilities' : 'values'];
      const W = model.head.outFeatures;
      assertAgrees(validSteps(floats(out), ref.lengths, W), validSteps(ref.values, ref.lengths, W), what, 'ManyToMany sequence');
      model.dispose();
    });
  }

  for (const [what, options] of cases.filter(([, o]) => !o.recurrent.bidirectional)) {
    const classes = options.output.type === 'classes';
    it(`${what}: the streaming step graph agrees with step(), state in and out, over 4 steps`, async () => {
      const model = new ManyToMany(options);
      assert.deepEqual(onnxGraphs(model), ['sequence', 'step']);
      const s = await session(encodeOnnx(model, { graph: 'step' }));
      const L = model.encoder.rnn.numLayers, H = model.encoder.rnn.hiddenSize, B = 3;
      const r = testRandom(9);
      let state: StreamState | undefined;
      let h: OrtTensor = f32(new Float32Array(L * B * H), [L, B, H]), c: OrtTensor = f32(new Float32Array(L * B * H), [L, B, H]);
      for (let t = 0; t < 4; t++) {
        const inputs = options.input.type === 'tokens' ? randomTokens(r, B, 0, options.input.vocabSize) : randomVectors(r, B, options.input.size);
        const expected = model.step(inputs, state);
        state = expected.state;
        const feeds: Record<string, OrtTensor> = {
          input: options.input.type === 'tokens' ? i64(inputs as number[], [B]) : f32((inputs as number[][]).flat(), [B, options.input.size]), h,
        };
        if (model.encoder.rnn.hasCellState) feeds.c = c;
        const got = await s.run(feeds);
        assertAgrees(floats(got[classes ? 'probabilities' : 'values']), expected.outputs, `step ${t} outputs`, 'ManyToMany step');
        assertAgrees(floats(got.hN), expected.state.h.data, `step ${t} hN`, 'ManyToMany step');
        if (expected.state.c) assertAgrees(floats(got.cN), expected.state.c.data, `step ${t} cN`, 'ManyToMany step');
        h = got.hN;
        if (got.cN) c = got.cN;
      }
      model.dispose();
    });
  }
});

describe('ONNX export: OneToMany (start graph + one decoder step, greedy on the host)', () => {
  const cases: Array<[string, OneToManyOptions]> = [
    ['class, first-step, 2-layer GRU', { condition: { type: 'class', numClasses: 3, embeddingSize: 4 }, conditioning: 'first-step',
      recurrent: { cell: 'gru', hiddenSize: 6, numLayers: 2 }, output: { vocabSize: 7, embeddingSize: 3, startToken: 0, endToken: 1 }, seed: 10 }],
    ['features, every-step, LSTM', { condition: { type: 'features', size: 3 }, conditioning: 'every-step',
      recurrent: { cell: 'lstm', hiddenSize: 5 }, output: { vocabSize: 6, embeddingSize: 4, startToken: 0, endToken: 1 }, seed: 11 }],
    ['class, first-step through the identity bridge, RNN tanh', { condition: { type: 'class', numClasses: 2, embeddingSize: 5 }, conditioning: 'first-step',
      recurrent: { cell: 'rnn', hiddenSize: 5 }, output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 }, seed: 12 }],
  ];
  for (const [what, options] of cases) {
    it(`${what}: tokens and logProb agree with generate()`, async () => {
      const model = new OneToMany(options);
      await trainBriefly(model, 14);
      assert.deepEqual(onnxGraphs(model), ['start', 'step']);
      const r = testRandom(13);
      const inputs = options.condition.type === 'class' ? [0, 1, options.condition.numClasses - 1] : [0, 1, 2].map(() => randomVectors(r, 1, 3)[0]);
      const B = inputs.length, maxLength = 6;
      const expected = model.generate(inputs, { maxLength });
      assertManySteps(expected);
      const start = await session(encodeOnnx(model, { graph: 'start' }));
      const step = await session(encodeOnnx(model, { graph: 'step' }));
      const condition = options.condition.type === 'class' ? i64(inputs as number[], [B]) : f32((inputs as number[][]).flat(), [B, 3]);
      const initial = await start.run({ condition });
      const got = await greedyDecode(step, initial, B, { ...options.output, maxLength });
      got.forEach((g, b) => {
        assert.deepEqual(g.tokens, expected[b].tokens, `input ${b} tokens`);
        assertAgrees([g.logProb], [expected[b].logProb], `input ${b} logProb`, 'OneToMany greedy logProb', 1);
      });
      model.dispose();
    });
  }
});

describe('ONNX export: EncoderDecoder (encoder graph + one decoder step, greedy on the host)', () => {
  const out = { vocabSize: 8, embeddingSize: 4, startToken: 0, endToken: 1 };
  const cases: Array<[string, EncoderDecoderOptions]> = [
    ['Bahdanau, 2-layer bidirectional GRU encoder, GRU decoder (the g2p shape)', { input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 },
      encoder: { cell: 'gru', hiddenSize: 5, numLayers: 2, bidirectional: true }, decoder: { cell: 'gru', hiddenSize: 6 }, output: out, attention: 'bahdanau', seed: 20 }],
    ['Bahdanau (attentionSize 3), LSTM encoder and decoder, feature input', { input: { type: 'features', size: 3 },
      encoder: { cell: 'lstm', hiddenSize: 4 }, decoder: { cell: 'lstm', hiddenSize: 5 }, output: out, attention: 'bahdanau', attentionSize: 3, seed: 21 }],
    ['Luong dot, bidirectional LSTM encoder, LSTM decoder', { input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 },
      encoder: { cell: 'lstm', hiddenSize: 3, bidirectional: true }, decoder: { cell: 'lstm', hiddenSize: 6 }, output: out, attention: 'luong-dot', seed: 22 }],
    ['Luong general, RNN tanh encoder, RNN relu decoder', { input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 },
      encoder: { cell: 'rnn', hiddenSize: 5 }, decoder: { cell: 'rnn', nonlinearity: 'relu', hiddenSize: 4 }, output: out, attention: 'luong-general', seed: 23 }],
    ['no attention, initial-state, 2-layer GRU encoder and decoder', { input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 },
      encoder: { cell: 'gru', hiddenSize: 5, numLayers: 2 }, decoder: { cell: 'gru', hiddenSize: 4, numLayers: 2 }, output: out, context: 'initial-state', seed: 24 }],
    ['no attention, every-step, bidirectional LSTM encoder, LSTM decoder', { input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 },
      encoder: { cell: 'lstm', hiddenSize: 3, bidirectional: true }, decoder: { cell: 'lstm', hiddenSize: 5 }, output: out, context: 'every-step', seed: 25 }],
  ];
  for (const [what, options] of cases) {
    it(`${what}: tokens, logProb${options.attention ? ' and attention weights' : ''} agree with predict()`, async () => {
      const model = new EncoderDecoder(options);
      await trainBriefly(model, 27);
      assert.deepEqual(onnxGraphs(model), ['encoder', 'decoder']);
      const seqs = sequences(26, options.input.type === 'tokens' ? options.input : options.input);
      const maxLength = 6;
      const expected = model.predict(seqs, { maxLength });
      assertManySteps(expected);
      const encoder = await session(encodeOnnx(model, { graph: 'encoder' }));
      const decoder = await session(encodeOnnx(model, { graph: 'decoder' }));
      const { feeds, lengths } = sequenceFeeds(seqs, featureSize(options.input));
      const encoded = await encoder.run(feeds);
      const got = await greedyDecode(decoder, { ...encoded, sourceLengths: i32(lengths, [seqs.length]) }, seqs.length,
        { ...out, maxLength }, lengths);
      got.forEach((g, b) => {
        assert.deepEqual(g.tokens, expected[b].tokens, `source ${b} tokens`);
        assertAgrees([g.logProb], [expected[b].logProb], `source ${b} logProb`, `EncoderDecoder ${options.attention ?? 'none'} greedy logProb`, 1);
        if (options.attention) {
          assert.equal(g.attention.length, expected[b].attention!.length, `source ${b} attention steps`);
          assertAgrees(g.attention.flat(), expected[b].attention!.flat(), `source ${b} attention`, `EncoderDecoder ${options.attention} attention weights`);
        }
      });
      model.dispose();
    });
  }
});
