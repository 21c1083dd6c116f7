// Dev check of the PyTorch twin of EncoderDecoder.predict (op 'decode' in
// bench/torch_worker.py): trains small g2p-like models (GRU and LSTM, Bahdanau
// attention) on a synthetic task, saves them, decodes the same sources with
// rnnkit's predict and with PyTorch (greedy and beam), and prints how many token
// sequences agree exactly and the largest |logProb| difference. Then times
// PyTorch's batched decode at 1 thread on the g2p shape of bench/seq2seq.ts.
// Needs /usr/bin/python3 with torch; not part of the mocha suite.
//
//   node dist/bench/torch-decode-parity.js [--sources 200] [--timing-sources 1000] [--runs 3] [--no-timing]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EncoderDecoder, setNumThreads, type EncoderDecoderExample, type Translation } from '../lib';
import { runSync } from '../lib/structures/inference';
import { median } from './stats';
import { randomSources, reversal, SEQ2SEQ } from './seq2seq';
import { TorchClient, type DecodeRequest, type DecodeTokens } from './torch-client';

const START = 1, END = 2;

function parseArgs(argv: string[]) {
  const o = { sources: 200, timingSources: 1000, runs: 3, timing: true };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--sources': o.sources = Number(argv[++i]); break;
      case '--timing-sources': o.timingSources = Number(argv[++i]); break;
      case '--runs': o.runs = Number(argv[++i]); break;
      case '--no-timing': o.timing = false; break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

interface Variant { name: string; cell: 'gru' | 'lstm'; encoderHidden: number; hidden: number; embedding: number; attention?: number }

function makeModel(v: Variant, vin: number, vout: number, seed: number): EncoderDecoder {
  return new EncoderDecoder({
    input: { type: 'tokens', vocabSize: vin, embeddingSize: v.embedding },
    encoder: { cell: v.cell, hiddenSize: v.encoderHidden, bidirectional: true },
    decoder: { cell: v.cell, hiddenSize: v.hidden },
    output: { vocabSize: vout, embeddingSize: v.embedding, startToken: START, endToken: END },
    attention: 'bahdanau', attentionSize: v.attention, seed,
  });
}

/** rnnkit's log-probabilities of `tokens` + end for one source, step by step (the predict path's internals). */
function forcedLogProbs(model: EncoderDecoder, source: number[], tokens: number[]): Float32Array[] {
  return runSync((function* () {
    const enc = yield* model.encoder.encode([source], { training: false });
    let state = yield* model.decoder.start({ batch: 1, context: enc.context, memory: enc.memory, sourceLengths: enc.lengths });
    const rows: Float32Array[] = [];
    let previous = START;
    for (const token of [...tokens, END]) {
      const r = yield* model.decoder.stepper.step(Int32Array.of(previous), state);
      rows.push(r.logProbs);
      state = r.state;
      previous = token;
    }
    return rows;
  })());
}

function topTwoGap(row: Float32Array): number {
  let a = -Infinity, b = -Infinity;
  for (const x of row) { if (x > a) { b = a; a = x; } else if (x > b) b = x; }
  return a - b;
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/** Agreement of rnnkit's and PyTorch's translations, with a look at each disagreement. */
function compare(label: string, model: EncoderDecoder, sources: number[][], ours: Translation[], theirs: DecodeTokens,
  greedy: boolean): void {
  let agree = 0, maxDiff = 0;
  const notes: string[] = [];
  ours.forEach((t, i) => {
    const other = theirs.tokens[i];
    if (sameTokens(t.tokens, other)) {
      agree++;
      maxDiff = Math.max(maxDiff, Math.abs(t.logProb - theirs.logProbs[i]));
      return;
    }
    // A near-tie? Greedy: rnnkit's top-2 gap where the two first differ. Beam: rnnkit's own score of
    // PyTorch's hypothesis against its choice (both as sums of rnnkit's log-probabilities).
    const rows = forcedLogProbs(model, sources[i], t.tokens);
    let at = 0;
    while (at < t.tokens.length && t.tokens[at] === other[at]) at++;
    const forcedTheirs = forcedLogProbs(model, sources[i], other).reduce((s, row, k) => s + row[k < other.length ? other[k] : END], 0);
    const gap = topTwoGap(rows[at]);
    notes.push(`  #${i}: rnnkit [${t.tokens}] ${t.logProb.toFixed(6)}; torch [${other}] ${theirs.logProbs[i].toFixed(6)} ` +
      `(rnnkit scores it ${forcedTheirs.toFixed(6)}); first difference at step ${at}` +
      (greedy ? `, rnnkit's top-2 log-prob gap there ${gap.toExponential(2)}` : ''));
  });
  console.log(`${label}: ${agree}/${ours.length} token sequences agree exactly; max |logProb diff| over those ${maxDiff.toExponential(2)}`);
  for (const n of notes) console.log(n);
}

async function decodeTorch(torch: TorchClient, id: string, req: DecodeRequest, runs = 1): Promise<{ out: DecodeTokens; ms: number[] }> {
  await torch.decode(id, req);
  const ms = await torch.run(id, 'predict', runs);
  const out = await torch.tokens(id);
  await torch.drop(id);
  return { out, ms };
}

async function train(model: EncoderDecoder, data: EncoderDecoderExample[], epochs: number, lr = 3e-3): Promise<number> {
  const h = await model.fit(data, { epochs, batchSize: 32, optimizer: { type: 'adam', lr }, seed: 1 });
  return h.epochs[h.epochs.length - 1].loss;
}

async function parity(torch: TorchClient, dir: string, count: number): Promise<void> {
  const vin = 30, vout = 45;
  const variants: Variant[] = [
    { name: 'GRU (bridge)', cell: 'gru', encoderHidden: 64, hidden: 64, embedding: 32 },
    { name: 'LSTM (bridge)', cell: 'lstm', encoderHidden: 64, hidden: 64, embedding: 32 },
    { name: 'LSTM (no bridge: 2 x 32 = 64)', cell: 'lstm', encoderHidden: 32, hidden: 64, embedding: 32, attention: 48 },
  ];
  const data = reversal(randomSources(3000, 3, 8, vin, 11));
  // Lengths 3-10: the longer ones were never trained on, so some outputs are uncertain.
  const sources = randomSources(count, 3, 10, vin, 99);
  for (const [k, v] of variants.entries()) {
    const model = makeModel(v, vin, vout, 7 + k);
    const t0 = performance.now();
    const loss = await train(model, data, 4);
    const file = path.join(dir, `parity-${k}.safetensors`);
    model.save(file);
    console.log(`\n${v.name}: trained 4 epochs on 3000 reversals in ${((performance.now() - t0) / 1000).toFixed(1)} s, loss ${loss.toFixed(4)}`);
    const greedy = model.predict(sources, { strategy: 'greedy' });
    const beam = model.predict(sources, { strategy: 'beam', beamWidth: 5, maxLength: 40 });
    const tg = await decodeTorch(torch, 'parity', { model: file, sources, strategy: 'greedy', batchSize: 64 });
    compare('  greedy', model, sources, greedy, tg.out, true);
    const tb = await decodeTorch(torch, 'parity', { model: file, sources, strategy: 'beam', beamWidth: 5, maxLength: 40, batchSize: 64 });
    compare('  beam 5', model, sources, beam, tb.out, false);
    // Outputs cut at maxLength (sources up to 10 tokens), another length penalty, an odd batch size.
    const short = { strategy: 'beam', beamWidth: 3, lengthPenalty: 0.6, maxLength: 6 } as const;
    const ts = await decodeTorch(torch, 'parity', { model: file, sources, batchSize: 37, ...short });
    compare('  beam 3, lengthPenalty 0.6, maxLength 6', model, sources, model.predict(sources, short), ts.out, false);
    const correct = greedy.filter((t, i) => sameTokens(t.tokens, [...sources[i]].reverse())).length;
    const differ = beam.filter((t, i) => !sameTokens(t.tokens, greedy[i].tokens)).length;
    console.log(`  (greedy reverses ${correct}/${count} sources correctly; beam differs from greedy on ${differ})`);
  }
}

async function timing(torch: TorchClient, dir: string, count: number, runs: number): Promise<void> {
  const s = SEQ2SEQ;
  const variant: Variant = { name: 'g2p', cell: 'gru', encoderHidden: s.hidden, hidden: s.hidden, embedding: s.emb, attention: s.attn };
  const model = makeModel(variant, s.vin, s.vout, 5);
  // Trained (on all cores) until it reverses well, so that greedy batches end with their longest
  // output rather than run to maxLength; an undertrained model's batches are as slow as their worst row.
  const t0 = performance.now();
  setNumThreads(os.cpus().length);
  const loss = await train(model, reversal(randomSources(2000, 5, 10, s.vin, 21)), 4, 2e-3);
  const file = path.join(dir, 'g2p.safetensors');
  model.save(file);
  const sources = randomSources(count, 5, 10, s.vin, 33);
  console.log(`\nTiming: g2p shape (GRU, hidden ${s.hidden}, embedding ${s.emb}, attention ${s.attn}, vocab ${s.vin}/${s.vout}), ` +
    `${count} sources of length 5-10, batch ${s.B}, 1 thread; model trained ${((performance.now() - t0) / 1000).toFixed(0)} s ` +
    `(4 epochs on 2000 reversals, loss ${loss.toFixed(3)}). Median of ${runs} runs after one warm-up.`);
  await torch.threads(1);
  setNumThreads(1);
  for (const [label, req] of [
    ['greedy', { strategy: 'greedy', maxLength: 50 }],
    ['beam 5', { strategy: 'beam', beamWidth: 5, maxLength: 50 }],
    ['beam 5, maxLength 20', { strategy: 'beam', beamWidth: 5, maxLength: 20 }],
  ] as const) {
    const full: DecodeRequest = { model: file, sources, batchSize: s.B, ...req };
    await decodeTorch(torch, 'time', full, 1);  // warm-up
    const { out, ms } = await decodeTorch(torch, 'time', full, runs);
    const meanLength = out.tokens.reduce((n, t) => n + t.length, 0) / count;
    const m = median(ms);
    // rnnkit's current predict (one sequence at a time) on the first 100 sources: agreement at this
    // shape, and its rate for reference (one run).
    const check = sources.slice(0, 100);
    const start = performance.now();
    const ours = model.predict(check, { beamWidth: 5, ...req });
    const oursMs = performance.now() - start;
    const agree = ours.filter((t, i) => sameTokens(t.tokens, out.tokens[i])).length;
    console.log(`  ${label}: PyTorch ${m.toFixed(0)} ms = ${(count / m * 1000).toFixed(0)} predictions/s ` +
      `(runs ${ms.map((x) => x.toFixed(0)).join(', ')} ms; mean output ${meanLength.toFixed(1)} tokens); ` +
      `rnnkit predict() today ${(check.length / oursMs * 1000).toFixed(0)} predictions/s; ` +
      `${agree}/${check.length} agree with rnnkit`);
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = await TorchClient.start();
  if (!(started instanceof TorchClient)) throw new Error(`PyTorch unavailable: ${started.unavailable}`);
  const torch = started;
  console.log(`torch ${torch.info.torch}, python ${torch.info.python}, ${os.cpus()[0]?.model ?? 'unknown CPU'}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-decode-'));
  try {
    await torch.threads(1);
    setNumThreads(1);
    await parity(torch, dir, o.sources);
    if (o.timing) await timing(torch, dir, o.timingSources, o.runs);
  } finally {
    await torch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => { console.error(error); process.exitCode = 1; });
