// Small models of every structure with matching example data, for tests that
// run the same check over all of them (save/load, determinism, bad input).

import {
  EncoderDecoder, ManyToMany, ManyToOne, OneToMany,
  type EncoderDecoderExample, type ManyToManyExample, type ManyToOneExample, type OneToManyExample, type SequenceModel,
} from '../../lib';
import { randomTokens, randomVectors, testRandom } from './structures';

export interface Extra {
  dropout?: number;
  scheduledSampling?: number;
}

export interface ModelCase {
  name: string;
  /** `dropout` goes to the (encoder's) recurrent stack; `scheduledSampling` to structures that feed tokens back. */
  make(extra?: Extra): SequenceModel<unknown>;
  data(seed: number, count: number): unknown[];
  /** Everything the model predicts for `data`'s inputs, flat, to compare exactly. */
  outputs(model: SequenceModel<unknown>, data: unknown[]): number[];
}

function recurrentExtra(extra: Extra): { dropout?: number } {
  return extra.dropout === undefined ? {} : { dropout: extra.dropout };
}

const lengths = (r: ReturnType<typeof testRandom>, low: number, high: number) => low + r.nextInt(high - low + 1);

function flat(values: unknown[]): number[] {
  return (values as unknown[][]).flat(3) as unknown as number[];
}

export const MODEL_CASES: ModelCase[] = [
  {
    name: 'ManyToMany (tokens -> classes, 2-layer LSTM)',
    make: (extra = {}) => new ManyToMany({
      input: { type: 'tokens', vocabSize: 6, embeddingSize: 4 }, recurrent: { cell: 'lstm', hiddenSize: 6, numLayers: 2, ...recurrentExtra(extra) },
      output: { type: 'classes', numClasses: 6 }, seed: 11,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): ManyToManyExample => {
        const input = randomTokens(r, lengths(r, 2, 7), 0, 6);
        return { input, target: input.map((_, t) => (t >= 1 ? input[t - 1] : 0)) };
      });
    },
    outputs: (model, data) => (data as ManyToManyExample[]).flatMap((e) => {
      const m = model as ManyToMany;
      let state: ReturnType<ManyToMany['step']>['state'] | undefined;
      return (e.input as number[]).flatMap((x) => {
        const r = m.step([x], state);
        state = r.state;
        return Array.from(r.outputs);
      });
    }),
  },
  {
    name: 'ManyToMany (features -> real, GRU, truncation 3)',
    make: (extra = {}) => new ManyToMany({
      input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 5, ...recurrentExtra(extra) },
      output: { type: 'real', size: 2 }, truncation: 3, seed: 12,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): ManyToManyExample => {
        const input = randomVectors(r, lengths(r, 2, 8), 2);
        return { input, target: input.map((v) => [v[0] + v[1], v[0] - v[1]]) };
      });
    },
    outputs: (model, data) => flat((model as ManyToMany).predict((data as ManyToManyExample[]).map((e) => e.input))),
  },
  {
    name: 'ManyToOne (tokens -> classes, 2-layer bidirectional GRU)',
    make: (extra = {}) => new ManyToOne({
      input: { type: 'tokens', vocabSize: 5, embeddingSize: 3 }, recurrent: { cell: 'gru', hiddenSize: 5, numLayers: 2, bidirectional: true, ...recurrentExtra(extra) },
      output: { type: 'classes', numClasses: 3 }, seed: 13,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): ManyToOneExample => {
        const input = randomTokens(r, lengths(r, 1, 7), 0, 5);
        return { input, target: input.reduce((a, b) => a + b, 0) % 3 };
      });
    },
    outputs: (model, data) => flat((model as ManyToOne).predictProba((data as ManyToOneExample[]).map((e) => e.input))),
  },
  {
    name: 'ManyToOne (tokens -> classes, 2-layer bidirectional GRU, resetAfter false)',
    make: (extra = {}) => new ManyToOne({
      input: { type: 'tokens', vocabSize: 5, embeddingSize: 3 },
      recurrent: { cell: 'gru', resetAfter: false, hiddenSize: 5, numLayers: 2, bidirectional: true, ...recurrentExtra(extra) },
      output: { type: 'classes', numClasses: 3 }, seed: 13,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): ManyToOneExample => {
        const input = randomTokens(r, lengths(r, 1, 7), 0, 5);
        return { input, target: input.reduce((a, b) => a + b, 0) % 3 };
      });
    },
    outputs: (model, data) => flat((model as ManyToOne).predictProba((data as ManyToOneExample[]).map((e) => e.input))),
  },
  {
    name: 'ManyToOne (features -> real, LSTM)',
    make: (extra = {}) => new ManyToOne({
      input: { type: 'features', size: 3 }, recurrent: { cell: 'lstm', hiddenSize: 4, ...recurrentExtra(extra) },
      output: { type: 'real', size: 2 }, seed: 14,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): ManyToOneExample => {
        const input = randomVectors(r, lengths(r, 1, 6), 3);
        return { input, target: [input.reduce((a, v) => a + v[0], 0), input[0][1]] };
      });
    },
    outputs: (model, data) => flat((model as ManyToOne).predict((data as ManyToOneExample[]).map((e) => e.input))),
  },
  {
    name: "OneToMany (class condition, 'first-step', LSTM)",
    make: (extra = {}) => new OneToMany({
      condition: { type: 'class', numClasses: 3, embeddingSize: 4 }, conditioning: 'first-step',
      recurrent: { cell: 'lstm', hiddenSize: 6, ...recurrentExtra(extra) }, output: { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 },
      seed: 15, scheduledSampling: extra.scheduledSampling,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): OneToManyExample => {
        const c = r.nextInt(3);
        return { input: c, target: Array.from({ length: 2 + c }, (_, t) => 2 + ((c + t) % 5)) };
      });
    },
    outputs: (model, data) => generated((model as OneToMany).generate((data as OneToManyExample[]).map((e) => e.input), { maxLength: 8 })),
  },
  {
    name: "OneToMany (feature condition, 'every-step', 2-layer GRU)",
    make: (extra = {}) => new OneToMany({
      condition: { type: 'features', size: 2 }, conditioning: 'every-step',
      recurrent: { cell: 'gru', hiddenSize: 5, numLayers: 2, ...recurrentExtra(extra) }, output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 },
      seed: 16, scheduledSampling: extra.scheduledSampling,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): OneToManyExample => {
        const v = randomVectors(r, 1, 2)[0];
        return { input: v, target: v[0] > 0 ? [2, 3, 4] : [5, 4] };
      });
    },
    outputs: (model, data) => generated((model as OneToMany).generate((data as OneToManyExample[]).map((e) => e.input), { maxLength: 8 })),
  },
  {
    name: "EncoderDecoder (context 'initial-state', bidirectional LSTM -> GRU)",
    make: (extra = {}) => new EncoderDecoder({
      input: { type: 'tokens', vocabSize: 7, embeddingSize: 4 }, encoder: { cell: 'lstm', hiddenSize: 5, bidirectional: true, ...recurrentExtra(extra) },
      decoder: { cell: 'gru', hiddenSize: 6 }, output: { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 },
      context: 'initial-state', seed: 17, scheduledSampling: extra.scheduledSampling,
    }) as SequenceModel<unknown>,
    data: reversalData(7),
    outputs: (model, data) => translated(model as EncoderDecoder, data as EncoderDecoderExample[]),
  },
  {
    name: "EncoderDecoder (context 'every-step', GRU -> 2-layer LSTM)",
    make: (extra = {}) => new EncoderDecoder({
      input: { type: 'tokens', vocabSize: 7, embeddingSize: 4 }, encoder: { cell: 'gru', hiddenSize: 5, numLayers: 2, ...recurrentExtra(extra) },
      decoder: { cell: 'lstm', hiddenSize: 5, numLayers: 2 }, output: { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 },
      context: 'every-step', seed: 18, scheduledSampling: extra.scheduledSampling,
    }) as SequenceModel<unknown>,
    data: reversalData(7),
    outputs: (model, data) => translated(model as EncoderDecoder, data as EncoderDecoderExample[]),
  },
  ...(['bahdanau', 'luong-dot', 'luong-general'] as const).map((attention, i): ModelCase => ({
    name: `EncoderDecoder (attention '${attention}')`,
    make: (extra = {}) => new EncoderDecoder({
      input: { type: 'tokens', vocabSize: 7, embeddingSize: 4 }, encoder: { cell: i === 1 ? 'lstm' : 'gru', hiddenSize: 4, bidirectional: true, ...recurrentExtra(extra) },
      decoder: { cell: i === 2 ? 'lstm' : 'gru', hiddenSize: 8 }, output: { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 },
      attention, seed: 19 + i, scheduledSampling: extra.scheduledSampling,
    }) as SequenceModel<unknown>,
    data: reversalData(7),
    outputs: (model, data) => translated(model as EncoderDecoder, data as EncoderDecoderExample[]),
  })),
  // LSTMs with a projection (projSize, PyTorch's proj_size): h and the outputs are projSize wide, c stays hiddenSize.
  {
    name: 'ManyToMany (tokens -> classes, 2-layer LSTM projSize 3, streamed)',
    make: (extra = {}) => new ManyToMany({
      input: { type: 'tokens', vocabSize: 6, embeddingSize: 4 },
      recurrent: { cell: 'lstm', hiddenSize: 6, projSize: 3, numLayers: 2, ...recurrentExtra(extra) },
      output: { type: 'classes', numClasses: 6 }, seed: 31,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): ManyToManyExample => {
        const input = randomTokens(r, lengths(r, 2, 7), 0, 6);
        return { input, target: input.map((_, t) => (t >= 1 ? input[t - 1] : 0)) };
      });
    },
    outputs: (model, data) => (data as ManyToManyExample[]).flatMap((e) => {
      const m = model as ManyToMany;
      let state: ReturnType<ManyToMany['step']>['state'] | undefined;
      return (e.input as number[]).flatMap((x) => {
        const r = m.step([x], state);
        state = r.state;
        return Array.from(r.outputs);
      });
    }),
  },
  {
    name: 'ManyToOne (features -> real, bidirectional LSTM projSize 2)',
    make: (extra = {}) => new ManyToOne({
      input: { type: 'features', size: 3 }, recurrent: { cell: 'lstm', hiddenSize: 5, projSize: 2, bidirectional: true, ...recurrentExtra(extra) },
      output: { type: 'real', size: 2 }, seed: 32,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): ManyToOneExample => {
        const input = randomVectors(r, lengths(r, 1, 6), 3);
        return { input, target: [input.reduce((a, v) => a + v[0], 0), input[0][1]] };
      });
    },
    outputs: (model, data) => flat((model as ManyToOne).predict((data as ManyToOneExample[]).map((e) => e.input))),
  },
  {
    name: 'OneToMany (class condition, first step, LSTM projSize 4)',
    make: (extra = {}) => new OneToMany({
      condition: { type: 'class', numClasses: 3, embeddingSize: 4 }, conditioning: 'first-step',
      recurrent: { cell: 'lstm', hiddenSize: 6, projSize: 4, ...recurrentExtra(extra) }, output: { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 },
      seed: 33, scheduledSampling: extra.scheduledSampling,
    }) as SequenceModel<unknown>,
    data: (seed, count) => {
      const r = testRandom(seed);
      return Array.from({ length: count }, (): OneToManyExample => {
        const c = r.nextInt(3);
        return { input: c, target: Array.from({ length: 2 + c }, (_, t) => 2 + ((c + t) % 5)) };
      });
    },
    outputs: (model, data) => generated((model as OneToMany).generate((data as OneToManyExample[]).map((e) => e.input), { maxLength: 8 })),
  },
  {
    name: 'EncoderDecoder (context initial state, bidirectional LSTM projSize 2 -> 2-layer LSTM projSize 3)',
    make: (extra = {}) => new EncoderDecoder({
      input: { type: 'tokens', vocabSize: 7, embeddingSize: 4 },
      encoder: { cell: 'lstm', hiddenSize: 5, projSize: 2, bidirectional: true, ...recurrentExtra(extra) },
      decoder: { cell: 'lstm', hiddenSize: 6, projSize: 3, numLayers: 2 }, output: { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 },
      context: 'initial-state', seed: 34, scheduledSampling: extra.scheduledSampling,
    }) as SequenceModel<unknown>,
    data: reversalData(7),
    outputs: (model, data) => translated(model as EncoderDecoder, data as EncoderDecoderExample[]),
  },
];

function generated(results: Array<{ tokens: number[]; logProb: number }>): number[] {
  return results.flatMap((r) => [r.tokens.length, ...r.tokens, r.logProb]);
}

function translated(model: EncoderDecoder, data: EncoderDecoderExample[]): number[] {
  const inputs = data.map((e) => e.input);
  const greedy = model.predict(inputs, { maxLength: 10 });
  const beam = model.predict(inputs, { strategy: 'beam', beamWidth: 3, maxLength: 10 });
  return [...greedy, ...beam].flatMap((r) => [r.tokens.length, ...r.tokens, r.logProb, ...(r.attention ?? []).flat()]);
}

function reversalData(vocab: number) {
  return (seed: number, count: number): unknown[] => {
    const r = testRandom(seed);
    return Array.from({ length: count }, (): EncoderDecoderExample => {
      const input = randomTokens(r, lengths(r, 1, 6), 2, vocab);
      return { input, target: [...input].reverse() };
    });
  };
}
