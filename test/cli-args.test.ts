// The rnnkit CLI parses its commands and options, and bad input gets one
// helpful line on stderr and a non-zero exit, never a stack trace.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDuration } from '../lib/cli/duration';
import { hasStackTrace, rnnkit } from './cli-helpers';

const TASK_NAMES = ['g2p', 'names-gender', 'names-generate', 'births', 'moby'];

describe('rnnkit CLI: parsing and help', function () {
  this.timeout(30000);

  it('prints usage with every command for --help and for no arguments', async () => {
    for (const args of [['--help'], []]) {
      const r = await rnnkit(args);
      assert.equal(r.code, 0, r.stderr);
      for (const command of ['tasks', 'train', 'eval', 'predict', 'generate', 'export']) assert.match(r.stdout, new RegExp(`\\b${command}\\b`));
    }
  });

  it('prints help for each command', async () => {
    const expected: Record<string, RegExp[]> = {
      tasks: [/--json/],
      train: [/--epochs/, /--budget/, /--hidden/, /--cell/, /--attention/, /--seed/, /--threads/, /--out/, /--json/],
      eval: [/<model>/, /--out/],
      predict: [/<model>/, /<input\.\.\.>/, /--beam/],
      generate: [/<model>/, /--temperature/, /--count/],
      export: [/<model>/, /<output>/, /--graph/],
    };
    for (const [command, patterns] of Object.entries(expected)) {
      const r = await rnnkit([command, '--help']);
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      for (const p of patterns) assert.match(r.stdout, p, `${command} --help lacks ${p}`);
    }
  });

  it('lists the built-in tasks with their data packages and licences, as text and as JSON', async () => {
    const text = await rnnkit(['tasks']);
    assert.equal(text.code, 0);
    for (const name of TASK_NAMES) assert.match(text.stdout, new RegExp(`^${name}\\b`, 'm'));
    assert.match(text.stdout, /@stdlib\/datasets-cmudict/);
    const json = await rnnkit(['tasks', '--json']);
    assert.equal(json.code, 0);
    const tasks = JSON.parse(json.stdout) as Array<{ name: string; data: string; licence: string }>;
    assert.deepEqual(tasks.map((t) => t.name), TASK_NAMES);
    for (const t of tasks) {
      assert.match(t.data, /^@stdlib\/datasets-/);
      assert.ok(t.licence.length > 0);
    }
  });

  it('reads time budgets as people write them', () => {
    assert.equal(parseDuration('90s'), 90000);
    assert.equal(parseDuration('3m'), 180000);
    assert.equal(parseDuration('1m30s'), 90000);
    assert.equal(parseDuration('1h'), 3600000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('20'), 20000);
    for (const bad of ['', 'm', '3x', '1.5.2s', '-3s', '3 m s']) assert.equal(parseDuration(bad), null, bad);
  });
});

describe('rnnkit CLI: bad input gets a helpful message and a non-zero exit', function () {
  this.timeout(30000);
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-cli-args-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
    { args: ['train', 'nope'], code: 2, message: /unknown task 'nope'.*g2p, names-gender, names-generate, births, moby/ },
    { args: ['train'], code: 2, message: /missing required argument 'task'/ },
    { args: ['trian', 'g2p'], code: 2, message: /unknown command 'trian'[\s\S]*Did you mean train\?/ },
    { args: ['train', 'g2p', '--hidden', 'abc'], code: 2, message: /--hidden <n>' argument 'abc' is invalid\. expected an integer/ },
    { args: ['train', 'g2p', '--hidden', '0'], code: 2, message: /--hidden <n>' argument '0' is invalid/ },
    { args: ['train', 'g2p', '--epochs', '2.5'], code: 2, message: /--epochs <n>' argument '2\.5' is invalid/ },
    { args: ['train', 'g2p', '--budget', '3x'], code: 2, message: /--budget <time>' argument '3x' is invalid\. expected a duration/ },
    { args: ['train', 'g2p', '--cell', 'transformer'], code: 2, message: /argument 'transformer' is invalid\. Allowed choices are rnn, gru, lstm/ },
    { args: ['train', 'g2p', '--lr', '-1'], code: 2, message: /--lr <rate>' argument '-1' is invalid/ },
    { args: ['train', 'g2p', '--threads', 'many'], code: 2, message: /--threads <n>' argument 'many' is invalid/ },
    { args: ['train', 'g2p', '--frobnicate'], code: 2, message: /unknown option '--frobnicate'/ },
    { args: ['train', 'births', '--attention', 'bahdanau'], code: 2, message: /--attention does not apply to task 'births' \(it applies to: g2p\)/ },
    { args: ['train', 'g2p', '--conditioning', 'first-step'], code: 2, message: /--conditioning does not apply to task 'g2p'/ },
    { args: ['train', 'births', '--dropout', '0.3', '--layers', '1'], code: 2, message: /--dropout acts between stacked layers/ },
    { args: ['train', 'births', '--head-dropout', '0.1'], code: 2, message: /--head-dropout does not apply to task 'births' \(it applies to: g2p\)/ },
    { args: ['train', 'moby', '--eval-beam', '3'], code: 2, message: /--eval-beam does not apply to task 'moby'/ },
    { args: ['train', 'g2p', '--embedding-dropout', '1'], code: 2, message: /--embedding-dropout <p>' argument '1' is invalid/ },
    { args: ['train', 'g2p', '--average', '1'], code: 2, message: /--average <decay>' argument '1' is invalid/ },
    { args: ['train', 'g2p', '--weight-decay', '-0.1'], code: 2, message: /--weight-decay <w>' argument '-0.1' is invalid/ },
    { args: ['eval', '/no/such/model.safetensors'], code: 1, message: /no such model file or folder: \/no\/such\/model\.safetensors/ },
    { args: ['predict', '/no/such/model'], code: 2, message: /missing required argument 'input'/ },
    { args: ['generate', '/no/such/model', '--temperature', '0'], code: 2, message: /--temperature <t>' argument '0' is invalid/ },
  ];
  for (const c of cases) {
    it(`rnnkit ${c.args.join(' ')}`, async () => {
      const r = await rnnkit(c.args);
      assert.equal(r.code, c.code, `exit code; stderr: ${r.stderr}`);
      assert.match(r.stderr, c.message);
      assert.match(r.stderr, /^rnnkit: error: /m);
      assert.ok(!hasStackTrace(r.stderr), `stack trace in: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  }

  it('refuses a file that is not a model, and a folder without one', async () => {
    const garbage = path.join(dir, 'garbage.safetensors');
    fs.writeFileSync(garbage, 'this is not a safetensors file at all');
    const r = await rnnkit(['eval', garbage]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^rnnkit: error: cannot load .*garbage\.safetensors: /m);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const empty = await rnnkit(['eval', dir]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /is a folder without model\.safetensors/);
  });
});
