// Property-based fuzzing of the sequence structures at tiny sizes: constructors
// with junk specs, fit with broken examples and options, predict/generate/step
// with broken inputs and decoding options. Each call gives a correct result or
// a coded TypeError/RangeError (ERR_RNNKIT_NONFINITE/BUSY/STATE as RnnkitError);
// a refused call leaves the weights as they were and the model usable.
// Run counts: test/helpers/fuzz.ts.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncoderDecoder, ManyToMany, ManyToOne, OneToMany, type SequenceModel } from '../lib';
import { allFinite, attempt, attemptAsync, check, checkAsync, junk, sameBits } from './helpers/fuzz';

const STATES = ['ERR_RNNKIT_NONFINITE', 'ERR_RNNKIT_BUSY', 'ERR_RNNKIT_STATE'];
const V = 5, F = 2;  // vocabulary and feature sizes of every model here

const token = fc.oneof({ weight: 40, arbitrary: fc.integer({ min: 0, max: V - 1 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, V, 1.5, NaN) }, { weight: 1, arbitrary: junk });
const tokens = (min: number) => fc.oneof({ weight: 10, arbitrary: fc.array(token, { minLength: min, maxLength: 4 }) }, { weight: 1, arbitrary: junk });
const feature = fc.oneof({ weight: 60, arbitrary: fc.float({ min: -2, max: 2, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity) }, { weight: 1, arbitrary: junk });
const vector = (n: number) => fc.oneof({ weight: 12, arbitrary: fc.array(feature, { minLength: n, maxLength: n }) },
  { weight: 1, arbitrary: fc.array(feature, { minLength: 0, maxLength: n + 1 }) }, { weight: 1, arbitrary: junk });
const vectors = (min: number) => fc.oneof({ weight: 10, arbitrary: fc.array(vector(F), { minLength: min, maxLength: 4 }) }, { weight: 1, arbitrary: junk });

interface Kind {
  name: string;
  make(): SequenceModel<unknown>;
  example: fc.Arbitrary<unknown>;
  infer(model: SequenceModel<unknown>, inputs: unknown, options: unknown): unknown;
  inputs: fc.Arbitrary<unknown>;
}

const KINDS: Kind[] = [
  {
    name: 'ManyToMany (tokens -> classes, GRU, truncation 2)',
    make: () => new ManyToMany({ input: { type: 'tokens', vocabSize: V, embeddingSize: 3 }, recurrent: { cell: 'gru', hiddenSize: 3 },
      output: { type: 'classes', numClasses: V }, truncation: 2, seed: 1 }) as SequenceModel<unknown>,
    example: tokens(1).chain((input) => fc.record({ input: fc.constant(input), target: fc.oneof({ weight: 8, arbitrary: fc.constant(Array.isArray(input) ? input : []) }, { weight: 1, arbitrary: tokens(0) }) })),
    inputs: fc.array(tokens(1), { minLength: 0, maxLength: 3 }),
    infer: (m, inputs, options) => {
      const model = m as ManyToMany;
      const r = model.predict(inputs as number[][]);
      const prompt = Array.isArray(inputs) && inputs.length > 0 ? inputs[0] : [0];
      return [r, model.generate(prompt as number[], options as object)];
    },
  },
  {
    name: 'ManyToMany (features -> real, LSTM)',
    make: () => new ManyToMany({ input: { type: 'features', size: F }, recurrent: { cell: 'lstm', hiddenSize: 3, numLayers: 2 },
      output: { type: 'real', size: 1 }, seed: 2 }) as SequenceModel<unknown>,
    example: vectors(1).chain((input) => fc.record({ input: fc.constant(input),
      target: fc.oneof({ weight: 8, arbitrary: fc.constant(Array.isArray(input) ? input.map(() => [0.5]) : []) }, { weight: 1, arbitrary: fc.array(vector(1), { maxLength: 4 }) }) })),
    inputs: fc.array(vectors(1), { minLength: 0, maxLength: 3 }),
    infer: (m, inputs) => (m as ManyToMany).predict(inputs as number[][][]),
  },
  {
    name: 'ManyToOne (features -> classes, bidirectional RNN)',
    make: () => new ManyToOne({ input: { type: 'features', size: F }, recurrent: { cell: 'rnn', hiddenSize: 3, bidirectional: true },
      output: { type: 'classes', numClasses: 3 }, seed: 3 }) as SequenceModel<unknown>,
    example: fc.record({ input: vectors(1), target: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: junk }) }),
    inputs: fc.array(vectors(1), { minLength: 0, maxLength: 3 }),
    infer: (m, inputs) => (m as ManyToOne).predictProba(inputs as number[][][]),
  },
  {
    name: "OneToMany (class condition, 'every-step', LSTM)",
    make: () => new OneToMany({ condition: { type: 'class', numClasses: 3, embeddingSize: 2 }, conditioning: 'every-step',
      recurrent: { cell: 'lstm', hiddenSize: 3 }, output: { vocabSize: V, embeddingSize: 2, startToken: 0, endToken: 1 }, seed: 4 }) as SequenceModel<unknown>,
    example: fc.record({ input: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: junk }), target: tokens(0) }),
    inputs: fc.array(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: junk }), { maxLength: 3 }),
    infer: (m, inputs, options) => (m as OneToMany).generate(inputs as number[], options as object),
  },
  {
    name: "EncoderDecoder (Bahdanau attention, GRU)",
    make: () => new EncoderDecoder({ input: { type: 'tokens', vocabSize: V, embeddingSize: 2 }, encoder: { cell: 'gru', hiddenSize: 2, bidirectional: true },
      decoder: { cell: 'gru', hiddenSize: 3 }, output: { vocabSize: V, embeddingSize: 2, startToken: 0, endToken: 1 }, attention: 'bahdanau', seed: 5 }) as SequenceModel<unknown>,
    example: fc.record({ input: tokens(1), target: tokens(0) }),
    inputs: fc.array(tokens(1), { minLength: 0, maxLength: 2 }),
    infer: (m, inputs, options) => (m as EncoderDecoder).predict(inputs as number[][], options as object),
  },
  {
    name: "EncoderDecoder (no attention, 'every-step', LSTM)",
    make: () => new EncoderDecoder({ input: { type: 'features', size: F }, encoder: { cell: 'lstm', hiddenSize: 2 },
      decoder: { cell: 'lstm', hiddenSize: 3, numLayers: 2 }, output: { vocabSize: V, embeddingSize: 2, startToken: 0, endToken: 1 }, context: 'every-step', seed: 6 }) as SequenceModel<unknown>,
    example: fc.record({ input: vectors(1), target: tokens(0) }),
    inputs: fc.array(vectors(1), { minLength: 0, maxLength: 2 }),
    infer: (m, inputs, options) => (m as EncoderDecoder).predict(inputs as number[][][], options as object),
  },
];

/** Mostly `valid`, sometimes junk: each broken option is refused on its own, so most fits should run. */
const rarely = (valid: fc.Arbitrary<unknown>) => fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: junk });

const fitOptions = fc.record({
  epochs: rarely(fc.integer({ min: 1, max: 2 })),
  batchSize: rarely(fc.integer({ min: 1, max: 4 })),
  optimizer: fc.oneof({ weight: 12, arbitrary: fc.constantFrom({ type: 'adam', lr: 0.01 }, { type: 'sgd', lr: 0.1, momentum: 0.9 }, { type: 'adamw' }) },
    { weight: 1, arbitrary: fc.constantFrom({ type: 'rmsprop' }, { type: 'sgd' }, { type: 'adam', lr: -1 }, { type: 'adam', betas: [2, 0] }, { type: 'adam', eps: 0 }) }, { weight: 1, arbitrary: junk }),
  clipNorm: rarely(fc.constantFrom(0.5, 5)), shuffle: rarely(fc.boolean()), seed: rarely(fc.integer()),
  onNonFinite: rarely(fc.constantFrom('throw', 'skip')), schedule: rarely(fc.constant((step: number) => 0.01 / (1 + step))),
  timeBudgetMs: rarely(fc.constant(60000)), checkpointPath: rarely(fc.constant(undefined)).filter((v) => typeof v !== 'string'),
  earlyStopping: rarely(fc.constant(undefined)),
}, { requiredKeys: [] });

const validFitOptions = fc.record({
  epochs: fc.integer({ min: 1, max: 2 }), batchSize: fc.integer({ min: 1, max: 4 }),
  optimizer: fc.constantFrom({ type: 'adam', lr: 0.01 }, { type: 'sgd', lr: 0.1, momentum: 0.9 }, { type: 'adamw' }),
  clipNorm: fc.constantFrom(0.5, 5), shuffle: fc.boolean(), seed: fc.integer(), onNonFinite: fc.constantFrom('throw', 'skip'),
}, { requiredKeys: [] });

const generateOptions = fc.option(fc.record({
  strategy: fc.oneof(fc.constantFrom('greedy', 'sample', 'beam'), junk),
  maxLength: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: junk }, { weight: 1, arbitrary: fc.constantFrom(1e9, 100001) }),
  temperature: fc.oneof(fc.constantFrom(0.5, 1, 2), junk), topK: fc.oneof(fc.integer({ min: 0, max: 6 }), junk),
  seed: fc.oneof(fc.integer(), junk), beamWidth: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: junk }, { weight: 1, arbitrary: fc.constant(1e6) }),
  lengthPenalty: fc.oneof(fc.constantFrom(0, 1, 0.6), junk), endToken: fc.oneof(fc.integer({ min: 0, max: V - 1 }), junk),
}, { requiredKeys: [] }), { nil: undefined });

describe('fuzz: structures', function () {
  this.timeout(120000);

  for (const kind of KINDS) {
    it(`${kind.name}: fit with random examples and options trains (finite losses) or refuses with a coded error, weights untouched`, async function () {
      const model = kind.make();
      let accepted = 0, runs = 0;
      after(() => console.log(`        ${accepted} of ${runs} fits ran`));
      await checkAsync(`fit ${kind.name}`, fc.record({ data: fc.oneof({ weight: 10, arbitrary: fc.array(kind.example, { minLength: 1, maxLength: 5 }) }, { weight: 1, arbitrary: junk }), options: fc.oneof({ weight: 2, arbitrary: validFitOptions }, { weight: 1, arbitrary: fitOptions }) }), async ({ data, options }) => {
        const before = model.parameters.slice();
        const r = await attemptAsync(() => model.fit(data as unknown[], options as object), STATES);
        runs++;
        if (r.ok) accepted++;
        else if (process.env.RNNKIT_FUZZ_VERBOSE) console.log(r.error.message.slice(0, 120));
        if (!r.ok) {
          if (r.error.code !== 'ERR_RNNKIT_NONFINITE') assert.ok(sameBits(model.parameters, before), `a refused fit leaves the weights (${r.error.message})`);
        } else {
          for (const e of r.value.epochs) assert.ok(Number.isFinite(e.loss) || Number.isNaN(e.loss) && r.value.skippedBatches > 0, `epoch loss ${e.loss}`);
        }
        assert.ok(allFinite(model.parameters), 'the weights never take NaN or Infinity');
      }, 80);
    });

    it(`${kind.name}: inference with random inputs and decoding options returns results or refuses with a coded error`, function () {
      const model = kind.make();
      const before = model.parameters.slice();
      check(`inference ${kind.name}`, fc.record({ inputs: fc.oneof({ weight: 10, arbitrary: kind.inputs }, { weight: 1, arbitrary: junk }), options: generateOptions }), ({ inputs, options }) => {
        attempt(() => kind.infer(model, inputs, options), STATES);
        assert.ok(sameBits(model.parameters, before), 'inference never changes the weights');
      }, 150);
    });
  }

  it('constructors refuse junk and missing specs with a coded error', function () {
    const spec = (valid: object) => fc.oneof({ weight: 6, arbitrary: fc.constant(valid) }, { weight: 2, arbitrary: fc.record(
      Object.fromEntries(Object.entries(valid).map(([k, v]) => [k, fc.oneof({ weight: 3, arbitrary: fc.constant(v) }, { weight: 1, arbitrary: junk })])), { requiredKeys: [] }) },
    { weight: 1, arbitrary: junk });
    const arb = fc.record({
      kind: fc.constantFrom('ManyToMany', 'ManyToOne', 'OneToMany', 'EncoderDecoder'),
      input: spec({ type: 'tokens', vocabSize: V, embeddingSize: 2 }), recurrent: spec({ cell: 'gru', hiddenSize: 2, numLayers: 1, dropout: 0 }),
      output: spec({ type: 'classes', numClasses: V }), tokenOutput: spec({ vocabSize: V, embeddingSize: 2, startToken: 0, endToken: 1 }),
      condition: spec({ type: 'class', numClasses: 2, embeddingSize: 2 }),
      extra: fc.record({ truncation: fc.oneof(fc.constant(2), junk), seed: fc.oneof(fc.integer(), junk), attention: fc.oneof(fc.constantFrom('none', 'luong-dot', 'luong-general'), junk),
        context: fc.oneof(fc.constantFrom('initial-state', 'every-step'), junk), conditioning: fc.oneof(fc.constantFrom('first-step', 'every-step'), junk),
        scheduledSampling: fc.oneof(fc.constantFrom(0, 0.5), junk), attentionSize: fc.oneof(fc.constant(2), junk) }, { requiredKeys: [] }),
    });
    check('structure constructors', arb, (c) => {
      const r = attempt(() => {
        switch (c.kind) {
          case 'ManyToMany': return new ManyToMany({ input: c.input, recurrent: c.recurrent, output: c.output, ...c.extra } as never);
          case 'ManyToOne': return new ManyToOne({ input: c.input, recurrent: c.recurrent, output: c.output, ...c.extra } as never);
          case 'OneToMany': return new OneToMany({ condition: c.condition, recurrent: c.recurrent, output: c.tokenOutput, ...c.extra } as never);
          default: return new EncoderDecoder({ input: c.input, encoder: c.recurrent, decoder: c.recurrent, output: c.tokenOutput, ...c.extra } as never);
        }
      });
      if (r.ok) assert.ok(allFinite(r.value.parameters) && r.value.numParameters > 0);
    }, 400);
  });
});
