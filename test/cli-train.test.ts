// End to end through the rnnkit CLI: each built-in task trains on a tiny
// budget with small sizes, saves its model, and `eval` reloads it and gives
// the same metrics exactly; predict and generate use the saved model.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSafetensors } from '../lib/io/safetensors';
import { hasStackTrace, rnnkit } from './cli-helpers';

interface TrainJson {
  task: string;
  model: string;
  metrics: Record<string, number>;
  training: { sequences: number; seconds: number };
  pictures: string[];
}

interface Case {
  task: string;
  args: string[];
  /** Metric keys that must be present and finite. */
  metrics: string[];
  pictures: string[];
}

const CASES: Case[] = [
  { task: 'g2p', args: ['--budget', '2s', '--hidden', '16', '--embedding', '8', '--eval-size', '40', '--embedding-dropout', '0.1',
    '--encoder-output-dropout', '0.1', '--head-dropout', '0.2', '--weight-decay', '0.01', '--average', '0.9', '--label-smoothing', '0.05'],
  metrics: ['per', 'word_accuracy', 'beam_per', 'beam_word_accuracy'], pictures: ['loss.svg', 'attention.svg'] },
  { task: 'names-gender', args: ['--budget', '1s', '--hidden', '8', '--embedding', '8'], metrics: ['accuracy'], pictures: ['loss.svg'] },
  { task: 'names-generate', args: ['--budget', '1s', '--hidden', '8', '--embedding', '8', '--conditioning', 'first-step'], metrics: ['bits_per_char'], pictures: ['loss.svg'] },
  { task: 'births', args: ['--budget', '1s', '--hidden', '8', '--layers', '1'], metrics: ['mae', 'mae_ratio', 'baseline_mae'], pictures: ['loss.svg'] },
  { task: 'moby', args: ['--budget', '2s', '--hidden', '16', '--embedding', '8', '--segment', '64'], metrics: ['bits_per_char'], pictures: ['loss.svg'] },
];

describe('rnnkit CLI: train, save, eval on every task', function () {
  this.timeout(90000);
  let dir: string;
  const trained = new Map<string, TrainJson>();
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-cli-train-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.task}: a tiny budget trains, saves, and eval reloads it with identical metrics`, async () => {
      const out = path.join(dir, c.task);
      const r = await rnnkit(['train', c.task, ...c.args, '--threads', '1', '--out', out, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      const result = JSON.parse(r.stdout) as TrainJson;
      assert.equal(result.task, c.task);
      assert.ok(result.training.sequences > 0);
      for (const key of c.metrics) assert.ok(Number.isFinite(result.metrics[key]), `${key}: ${result.metrics[key]}`);
      for (const name of c.pictures) {
        const svg = fs.readFileSync(path.join(out, name), 'utf8');
        assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
        assert.match(svg, /<\/svg>$/);
      }
      // The model file carries what the CLI needs: task, vocabularies, settings, metrics.
      const { metadata } = loadSafetensors(result.model);
      assert.equal(metadata['rnnkit.task'], c.task);
      assert.deepEqual(JSON.parse(metadata['rnnkit.metrics']), result.metrics);
      assert.ok(JSON.parse(metadata['rnnkit.vocab']));
      assert.ok(JSON.parse(metadata['rnnkit.settings']).hidden > 0);
      if (c.task === 'g2p') {
        // The regularisation flags reach the model and the run's settings.
        const settings = JSON.parse(metadata['rnnkit.settings']);
        assert.deepEqual(settings.structureDropout, { embedding: 0.1, encoderOutput: 0.1, headInput: 0.2 });
        assert.equal(settings.weightDecay, 0.01);
        assert.equal(settings.average, 0.9);
        assert.equal(JSON.parse(metadata.config).output.labelSmoothing, 0.05);
        assert.deepEqual(JSON.parse(metadata.config).dropout, { embedding: 0.1, encoderOutput: 0.1, headInput: 0.2 });
      }

      const e = await rnnkit(['eval', out, '--json']);
      assert.equal(e.code, 0, e.stderr);
      const evaluated = JSON.parse(e.stdout) as { metrics: Record<string, number>; matchesSaved: boolean };
      assert.deepEqual(evaluated.metrics, result.metrics);
      assert.equal(evaluated.matchesSaved, true);
      trained.set(c.task, result);
    });
  }

  it('eval prints a metrics table and writes pictures on request', async function () {
    if (!trained.has('g2p')) this.skip();
    const pictures = path.join(dir, 'eval-pictures');
    const r = await rnnkit(['eval', trained.get('g2p')!.model, '--out', pictures]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /phoneme error rate \(test, greedy\)\s+\d\.\d{4}/);
    assert.match(r.stdout, /word accuracy \(test, beam 5\)\s+\d\.\d{4}/);
    assert.match(r.stdout, /identical to the metrics saved at training time/);
    assert.ok(fs.existsSync(path.join(pictures, 'loss.svg')));
    assert.ok(fs.existsSync(path.join(pictures, 'attention.svg')));
  });

  it('predict runs g2p, names-gender, births and moby models on command-line inputs', async function () {
    if (trained.size < CASES.length) this.skip();
    const heatmaps = path.join(dir, 'predict-pictures');
    const g2p = await rnnkit(['predict', trained.get('g2p')!.model, 'hello', 'world', '--json', '--pictures', heatmaps]);
    assert.equal(g2p.code, 0, g2p.stderr);
    const outputs = JSON.parse(g2p.stdout).outputs as Array<{ input?: string; phonemes?: string[] }>;
    const phonemes = outputs.filter((o) => o.input !== undefined);
    assert.deepEqual(phonemes.map((o) => o.input), ['hello', 'world']);
    assert.ok(phonemes.every((o) => Array.isArray(o.phonemes)));
    assert.match(fs.readFileSync(path.join(heatmaps, 'attention.svg'), 'utf8'), /hello →/);

    const gender = await rnnkit(['predict', trained.get('names-gender')!.model, 'Anna', 'Peter']);
    assert.equal(gender.code, 0, gender.stderr);
    assert.match(gender.stdout, /^Anna\t(female|male)\t\d\.\d{3}$/m);

    const births = await rnnkit(['predict', trained.get('births')!.model, '2013-07-04']);
    assert.equal(births.code, 0, births.stderr);
    assert.match(births.stdout, /^2013-07-04\tforecast \d+\tactual \d+/m);
    const badDate = await rnnkit(['predict', trained.get('births')!.model, '1999-01-01']);
    assert.equal(badDate.code, 2);
    assert.match(badDate.stderr, /'1999-01-01' is not a date with 28 days of history/);

    const moby = await rnnkit(['predict', trained.get('moby')!.model, 'Call me']);
    assert.equal(moby.code, 0, moby.stderr);
    assert.match(moby.stdout, /^Call me/);
  });

  it('generate samples names by gender and Moby-Dick text, reproducibly for a seed; other tasks say what to use', async function () {
    if (trained.size < CASES.length) this.skip();
    const names = trained.get('names-generate')!.model;
    const a = await rnnkit(['generate', names, '--gender', 'female', '--count', '4', '--seed', '3']);
    const b = await rnnkit(['generate', names, '--gender', 'female', '--count', '4', '--seed', '3']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout.trim().split('\n').length, 4);
    assert.match(a.stdout, /^female\t/m);
    assert.equal(a.stdout, b.stdout);

    const text = await rnnkit(['generate', trained.get('moby')!.model, '--prompt', 'The whale', '--length', '40', '--count', '1']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^The whale/);

    const g2p = await rnnkit(['generate', trained.get('g2p')!.model]);
    assert.equal(g2p.code, 2);
    assert.match(g2p.stderr, /task 'g2p' does not generate .*try 'rnnkit predict/);
    const badGender = await rnnkit(['generate', names, '--gender', 'other']);
    assert.equal(badGender.code, 2);
    assert.match(badGender.stderr, /--gender: expected a gender 'female' or 'male', got 'other'/);
    assert.ok(!hasStackTrace(badGender.stderr));
  });
});
