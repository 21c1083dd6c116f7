// Bad input to the structures: wrong vocabulary ids, empty sequences, wrong
// feature sizes, NaN, bad constructor, fit, evaluate and generate options.
// Each is refused with a TypeError or RangeError whose message names the
// argument, before anything changes: parameters, gradients and generators.

import assert from 'node:assert/strict';
import {
  EncoderDecoder, ManyToMany, ManyToOne, OneToMany,
  type EncoderDecoderOptions, type FitOptions, type SequenceModel,
} from '../lib';
import { MODEL_CASES } from './helpers/structure-models';
import { assertSameBits } from './helpers/structures';

type ErrorClass = typeof TypeError | typeof RangeError;
const bad = (v: unknown) => v as never;  // passes what the types forbid

function refused(error: unknown, cls: ErrorClass, names: RegExp): void {
  assert.ok(error instanceof cls, `expected a ${cls.name} matching ${names}, got ${String(error)}`);
  assert.match((error as Error).message, names);
  assert.match(String((error as { code?: unknown }).code), /^ERR_RNNKIT_(TYPE|SHAPE|VALUE)$/);
}

function assertThrows(fn: () => unknown, cls: ErrorClass, names: RegExp): void {
  let error: unknown = null;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  refused(error, cls, names);
}

async function assertRejects(fn: () => Promise<unknown>, cls: ErrorClass, names: RegExp): Promise<void> {
  let error: unknown = null;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  refused(error, cls, names);
}

/** Runs `attempts` against a model and checks its parameters, gradients and generator did not move. */
async function unchanged(model: SequenceModel<unknown>, attempts: () => Promise<void>): Promise<void> {
  model.gradients.fill(0.25);
  const [parameters, gradients, random] = [model.parameters.slice(), model.gradients.slice(), model.random.getState()];
  await attempts();
  assertSameBits(model.parameters, parameters, 'parameters');
  assertSameBits(model.gradients, gradients, 'gradients');
  assert.deepEqual(model.random.getState(), random, 'the model generator');
}

const OUT = { vocabSize: 7, embeddingSize: 4, startToken: 0, endToken: 1 };
const TOKENS = { type: 'tokens' as const, vocabSize: 7, embeddingSize: 4 };

describe('structures: bad input', function () {
  describe('constructor options', function () {
    const ed = (o: Partial<EncoderDecoderOptions>) => () => new EncoderDecoder({
      input: TOKENS, encoder: { cell: 'gru', hiddenSize: 4 }, decoder: { cell: 'gru', hiddenSize: 4 }, output: OUT, ...o,
    });
    it('names the option: unknown cell, attention or context, sizes, scheduled sampling, tokens', function () {
      assertThrows(ed({ encoder: { cell: bad('gruu'), hiddenSize: 4 } }), RangeError, /encoder\.cell/);
      assertThrows(ed({ decoder: { cell: bad('LSTM'), hiddenSize: 4 } }), RangeError, /decoder\.cell/);
      assertThrows(ed({ attention: bad('bahdanu') }), RangeError, /attention: expected one of/);
      assertThrows(ed({ context: bad('every_step') }), RangeError, /context/);
      assertThrows(ed({ scheduledSampling: -0.1 }), RangeError, /scheduledSampling/);
      assertThrows(ed({ scheduledSampling: bad('0.1') }), TypeError, /scheduledSampling/);
      assertThrows(ed({ encoder: { cell: 'gru', hiddenSize: 0 } }), RangeError, /encoder\.hiddenSize/);
      assertThrows(ed({ encoder: { cell: 'gru', hiddenSize: 4, dropout: 1 } }), RangeError, /encoder\.dropout/);
      assertThrows(ed({ output: { ...OUT, endToken: 7 } }), RangeError, /output\.endToken/);
      assertThrows(ed({ attention: 'bahdanau', decoder: { cell: 'gru', hiddenSize: 4, numLayers: 2 } }), RangeError, /decoder\.numLayers/);
      assertThrows(ed({ decoder: bad({ cell: 'gru', hiddenSize: 4, bidirectional: true }) }), RangeError, /decoder\.bidirectional/);
      assertThrows(() => new ManyToMany({ input: bad({ type: 'token', vocabSize: 3, embeddingSize: 2 }), recurrent: { cell: 'gru', hiddenSize: 4 }, output: { type: 'classes', numClasses: 3 } }), RangeError, /input\.type/);
      assertThrows(() => new ManyToMany({ input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 4 }, output: { type: 'real', size: 1 }, truncation: 0 }), RangeError, /truncation/);
      assertThrows(() => new ManyToOne({ input: TOKENS, recurrent: { cell: 'rnn', nonlinearity: bad('sigmoid'), hiddenSize: 4 }, output: { type: 'classes', numClasses: 2 } }), RangeError, /nonlinearity/);
      assertThrows(() => new OneToMany({ condition: { type: 'class', numClasses: 3, embeddingSize: 2 }, conditioning: bad('first'), recurrent: { cell: 'gru', hiddenSize: 4 }, output: OUT }), RangeError, /conditioning/);
      assertThrows(() => new OneToMany({ condition: bad({ type: 'vector', size: 3 }), conditioning: 'every-step', recurrent: { cell: 'gru', hiddenSize: 4 }, output: OUT }), RangeError, /condition\.type/);
      assertThrows(() => new OneToMany(bad(null)), TypeError, /OneToMany options/);
    });

    it("names decoder.hiddenSize when 'luong-dot' cannot score s.h_j, with the size it needs", function () {
      assertThrows(ed({ attention: 'luong-dot', encoder: { cell: 'gru', hiddenSize: 4, bidirectional: true } }), RangeError, /decoder\.hiddenSize.*8.*got 4/);
      assertThrows(ed({ attention: 'luong-dot', encoder: { cell: 'gru', hiddenSize: 3 } }), RangeError, /decoder\.hiddenSize.*3.*got 4/);
      ed({ attention: 'luong-dot', encoder: { cell: 'gru', hiddenSize: 2, bidirectional: true } })();  // 2 x 2 = 4: accepted
    });
  });

  describe('examples given to fit and evaluate', function () {
    it('EncoderDecoder: wrong vocabulary ids in inputs and targets, empty inputs, non-arrays', async function () {
      const c = MODEL_CASES.find((m) => m.name.includes('bahdanau'))!;
      const model = c.make();
      const good = c.data(1, 4) as Array<{ input: number[]; target: number[] }>;
      await unchanged(model, async () => {
        await assertRejects(() => model.fit([...good, { input: [2, 99], target: [2] }]), RangeError, /data\[4\]\.input\[1\]: expected a token id in \[0, 7\), got 99/);
        await assertRejects(() => model.fit([{ input: [2, -1], target: [2] }]), RangeError, /data\[0\]\.input\[1\]/);
        await assertRejects(() => model.fit([{ input: [2, 1.5], target: [2] }]), RangeError, /data\[0\]\.input\[1\]/);
        await assertRejects(() => model.fit([{ input: [2], target: [2, 7] }]), RangeError, /data\[0\]\.target\[1\]/);
        await assertRejects(() => model.fit([{ input: [], target: [2] }]), RangeError, /data\[0\]\.input: expected at least one step/);
        await assertRejects(() => model.fit([{ input: bad('abc'), target: [2] }]), TypeError, /data\[0\]\.input/);
        await assertRejects(() => model.fit([{ input: [2], target: bad(3) }]), TypeError, /data\[0\]\.target/);
        await assertRejects(() => model.fit(bad([null])), TypeError, /data\[0\]/);
        await assertRejects(() => model.fit(bad('data')), TypeError, /data: expected an array/);
        await assertRejects(() => model.fit([]), RangeError, /data: expected at least one example/);
        await assertRejects(() => model.fit(good, { validation: [{ input: [9], target: [] }] }), RangeError, /validation\[0\]\.input\[0\]/);
        await assertRejects(() => model.evaluate([{ input: [2], target: [8] }]), RangeError, /data\[0\]\.target\[0\]/);
        await assertRejects(() => model.evaluate([]), RangeError, /data: expected at least one example/);
      });
    });

    it('ManyToMany and ManyToOne: wrong feature sizes, NaN features, targets of the wrong length or class', async function () {
      const mm = new ManyToMany({ input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 3 }, output: { type: 'real', size: 1 } });
      await unchanged(mm as SequenceModel<unknown>, async () => {
        await assertRejects(() => mm.fit([{ input: [[1, 2], [3]], target: [[1], [2]] }]), RangeError, /data\[0\]\.input\[1\]: expected 2 features, got 1/);
        await assertRejects(() => mm.fit([{ input: [[1, 2], [3, NaN]], target: [[1], [2]] }]), RangeError, /data\[0\]\.input\[1\]\[1\]: expected a finite number, got NaN/);
        await assertRejects(() => mm.fit([{ input: [[1, 2], [3, 4]], target: [[1], [Infinity]] }]), RangeError, /data\[0\]\.target\[1\]/);
        await assertRejects(() => mm.fit([{ input: [[1, 2], [3, 4]], target: [[1]] }]), RangeError, /data\[0\]\.target: expected one target per input step/);
        await assertRejects(() => mm.fit([{ input: bad([1, 2]), target: [[1], [2]] }]), TypeError, /data\[0\]\.input\[0\]/);
        await assertRejects(() => mm.fit([{ input: [], target: [] }]), RangeError, /data\[0\]\.input/);
      });
      const mo = new ManyToOne({ input: TOKENS, recurrent: { cell: 'lstm', hiddenSize: 3, bidirectional: true }, output: { type: 'classes', numClasses: 3 } });
      await unchanged(mo as SequenceModel<unknown>, async () => {
        await assertRejects(() => mo.fit([{ input: [1, 2], target: 3 }]), RangeError, /data\[0\]\.target: expected a class id in \[0, 3\)/);
        await assertRejects(() => mo.fit([{ input: [1, 7], target: 0 }]), RangeError, /data\[0\]\.input\[1\]/);
      });
    });

    it('OneToMany: wrong condition ids and feature sizes, NaN conditions, wrong target ids', async function () {
      const oc = new OneToMany({ condition: { type: 'class', numClasses: 3, embeddingSize: 2 }, conditioning: 'first-step', recurrent: { cell: 'lstm', hiddenSize: 3 }, output: OUT });
      const of = new OneToMany({ condition: { type: 'features', size: 2 }, conditioning: 'every-step', recurrent: { cell: 'gru', hiddenSize: 3 }, output: OUT });
      await unchanged(oc as SequenceModel<unknown>, async () => {
        await assertRejects(() => oc.fit([{ input: 3, target: [2] }]), RangeError, /data\[0\]\.input: expected a class id in \[0, 3\)/);
        await assertRejects(() => oc.fit([{ input: 0, target: [2, 9] }]), RangeError, /data\[0\]\.target\[1\]/);
      });
      await unchanged(of as SequenceModel<unknown>, async () => {
        await assertRejects(() => of.fit([{ input: [1], target: [2] }]), RangeError, /data\[0\]\.input: expected 2 features, got 1/);
        await assertRejects(() => of.fit([{ input: [1, NaN], target: [2] }]), RangeError, /data\[0\]\.input\[1\]: expected a finite number/);
        await assertRejects(() => of.fit([{ input: 1, target: [2] }]), TypeError, /data\[0\]\.input/);
      });
    });
  });

  describe('fit and evaluate options', function () {
    it('names the option: batchSize 0, epochs 1.5, unknown optimizer, bad rates, shuffle, callbacks, paths', async function () {
      const c = MODEL_CASES[0];
      const model = c.make();
      const data = c.data(1, 8);
      const fit = (o: FitOptions<unknown>) => () => model.fit(data, o);
      await unchanged(model, async () => {
        await assertRejects(fit({ batchSize: 0 }), RangeError, /batchSize/);
        await assertRejects(fit({ epochs: 1.5 }), RangeError, /epochs/);
        await assertRejects(fit({ epochs: bad('3') }), TypeError, /epochs/);
        await assertRejects(fit({ optimizer: bad({ type: 'adagrad' }) }), RangeError, /optimizer\.type: expected 'sgd', 'adam' or 'adamw', got "adagrad"/);
        await assertRejects(fit({ optimizer: bad(null) }), TypeError, /optimizer/);
        await assertRejects(fit({ optimizer: { type: 'adam', lr: -1 } }), RangeError, /lr/);
        await assertRejects(fit({ optimizer: { type: 'adam', betas: [1, 0.9] } }), RangeError, /betas\[0\]/);
        await assertRejects(fit({ clipNorm: -1 }), RangeError, /clipNorm/);
        await assertRejects(fit({ shuffle: bad('yes') }), TypeError, /shuffle/);
        await assertRejects(fit({ seed: 1.5 }), RangeError, /seed/);
        await assertRejects(fit({ onNonFinite: bad('ignore') }), RangeError, /onNonFinite/);
        await assertRejects(fit({ onBatchEnd: bad(5) }), TypeError, /onBatchEnd/);
        await assertRejects(fit({ schedule: bad('cosine') }), TypeError, /schedule/);
        await assertRejects(fit({ earlyStopping: { patience: 2 } }), RangeError, /earlyStopping/);
        await assertRejects(fit({ earlyStopping: { patience: 0 }, validation: data }), RangeError, /earlyStopping\.patience/);
        await assertRejects(fit({ checkpointPath: bad(5) }), TypeError, /checkpointPath/);
        await assertRejects(fit({ timeBudgetMs: 0 }), RangeError, /timeBudgetMs/);
        await assertRejects(() => model.fit(data, bad('fast')), TypeError, /options/);
        await assertRejects(() => model.evaluate(data, { batchSize: 0 }), RangeError, /batchSize/);
        await assertRejects(() => model.evaluate(data, bad({ batchSize: '8' })), TypeError, /batchSize/);
      });
      // The model is not left busy by any refusal.
      await model.evaluate(data);
    });
  });

  describe('inference arguments', function () {
    it('generate and predict name the option or input: strategy typo, beamWidth 0, temperature 0, wrong ids', async function () {
      const c = MODEL_CASES.find((m) => m.name.includes('luong-general'))!;
      const model = c.make() as unknown as EncoderDecoder;
      const om = MODEL_CASES.find((m) => m.name.includes("'first-step'"))!.make() as unknown as OneToMany;
      const lm = MODEL_CASES[0].make() as unknown as ManyToMany;
      await unchanged(model as unknown as SequenceModel<unknown>, async () => {
        assertThrows(() => model.predict([[2, 3]], { strategy: bad('beem') }), RangeError, /strategy: expected 'greedy', 'sample' or 'beam', got "beem"/);
        assertThrows(() => model.predict([[2, 3]], { strategy: 'beam', beamWidth: 0 }), RangeError, /beamWidth/);
        assertThrows(() => model.predict([[2, 3]], { strategy: 'beam', beamWidth: 1000, maxLength: 100000 }), RangeError,
          /^beamWidth x maxLength: 1000 x 100000 = 100000000 tokens/);
        assertThrows(() => model.predict([[2, 3]], { strategy: 'sample', temperature: 0 }), RangeError, /temperature/);
        assertThrows(() => model.predict([[2, 3]], { maxLength: 0 }), RangeError, /maxLength/);
        assertThrows(() => model.predict([[2, 3]], { topK: -1 }), RangeError, /topK/);
        assertThrows(() => model.predict([[2, 3]], { lengthPenalty: NaN }), RangeError, /lengthPenalty/);
        assertThrows(() => model.predict([[2, 3]], { seed: bad('1') }), TypeError, /seed/);
        assertThrows(() => model.predict([[2, 3]], bad('greedy')), TypeError, /options/);
        assertThrows(() => model.predict([[2, 13]]), RangeError, /inputs\[0\]\[1\]/);
        assertThrows(() => model.predict([[]]), RangeError, /inputs\[0\]/);
        assertThrows(() => model.predict(bad('ab')), TypeError, /inputs/);
      });
      assertThrows(() => om.generate([0], { strategy: 'beam', beamWidth: 0 }), RangeError, /beamWidth/);
      assertThrows(() => om.generate([5]), RangeError, /inputs\[0\]/);
      assertThrows(() => om.generate(bad(0)), TypeError, /inputs/);
      assertThrows(() => lm.generate([2], { strategy: bad('greedy ') }), RangeError, /strategy/);
      assertThrows(() => lm.generate([2, 6]), RangeError, /inputs\[0\]\[1\]/);
      assertThrows(() => lm.generate([]), RangeError, /inputs\[0\]/);
    });
  });
});
