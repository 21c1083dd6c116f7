// `npm run bench`: rnnkit against PyTorch on CPU, in the same run, interleaved
// run by run (A B A B ...), at 1 and 2 threads. Not a test: nothing asserts a speed.
//
// Sections (--only a,b,...; default all):
//   roofline   OpenBLAS sgemm GFLOP/s: large square, hoisted input and per-step shapes
//   recurrent  configs a-d x RNN/GRU/LSTM, forward and forward+backward
//   seq2seq    one training step of the g2p-sized attention encoder-decoder
//   inference  batched greedy and beam-5 decoding of that model (predictions/s), outputs compared
//   serving    streaming step latency (GRU H=256, batch 1); event-loop delay during async training
//   memory     peak RSS of a training step, each side in a fresh process
// Options: --runs N (timed runs per cell after warm-up, default 25), --threads 1,2,
//          --gap-ms N (pause after every run of either side at 2+ threads, default 150: PyTorch's
//          OpenBLAS threads keep spinning ~0.1 s after a call and would steal the next run's core),
//          --configs a,b,c,d, --cells RNN,GRU,LSTM, --no-torch,
//          --markdown FILE (write the results there, e.g. bench/RESULTS.md).

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Adam, GRU, LSTM, RNN, setNumThreads, getNumThreads, type Recurrent, type Tensor } from '../lib';
import { native } from '../lib/native';
import { fmt, median, quantile, Table } from './stats';
import { makeSeq2SeqBatch, randomSources, reversal, SEQ2SEQ, seq2seqModel, torchBatch } from './seq2seq';
import { PYTHON, TORCH_ENV, TorchClient, WORKER } from './torch-client';

interface Config { name: string; T: number; B: number; I: number; H: number }
const CONFIGS: Config[] = [
  { name: 'a', T: 50, B: 64, I: 256, H: 256 },
  { name: 'b', T: 32, B: 32, I: 64, H: 64 },
  { name: 'c', T: 50, B: 64, I: 512, H: 512 },
  { name: 'd', T: 100, B: 16, I: 128, H: 128 },
];
const GATES: Record<string, number> = { RNN: 1, GRU: 3, LSTM: 4 };
const MAKE: Record<string, (I: number, H: number) => Recurrent> = {
  RNN: (I, H) => new RNN({ inputSize: I, hiddenSize: H, seed: 1 }),
  GRU: (I, H) => new GRU({ inputSize: I, hiddenSize: H, seed: 1 }),
  LSTM: (I, H) => new LSTM({ inputSize: I, hiddenSize: H, seed: 1 }),
};

function parseArgs(argv: string[]) {
  const o = {
    runs: 25, threads: [1, 2], configs: CONFIGS, gapMs: 150, cells: ['RNN', 'GRU', 'LSTM'], torch: true,
    only: ['roofline', 'recurrent', 'seq2seq', 'inference', 'serving', 'memory'], markdown: '',
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--runs': o.runs = Number(v); i++; break;
      case '--gap-ms': o.gapMs = Number(v); i++; break;
      case '--threads': o.threads = v.split(',').map(Number); i++; break;
      case '--configs': o.configs = v.split(',').map((n) => {
        const c = CONFIGS.find((k) => k.name === n);
        if (!c) throw new Error(`--configs: unknown config ${n} (a, b, c, d)`);
        return c;
      }); i++; break;
      case '--cells': o.cells = v.split(','); i++; break;
      case '--only': o.only = v.split(','); i++; break;
      case '--no-torch': o.torch = false; break;
      case '--markdown': o.markdown = v; i++; break;
      default: throw new Error(`unknown argument ${argv[i]} (see the header of bench/main.ts)`);
    }
  }
  if (!(o.runs >= 1)) throw new Error('--runs: expected a positive number');
  return o;
}

type Torch = TorchClient | null;
let gapMs = 150;  // set from --gap-ms; applies at 2+ threads
let currentThreads = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tables: Table[] = [];
const notes: string[] = [];
function table(title: string, header: string[], tableNotes: string[] = []): Table {
  const t = new Table(title, header, tableNotes);
  tables.push(t);
  t.printHeader();
  return t;
}

const times = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '–');

/**
 * Interleaves rnnkit and PyTorch run by run after `warm` warm-up runs each.
 * At 2+ threads each run of either side starts after the same pause (`--gap-ms`):
 * PyTorch's OpenBLAS threads spin ~0.1 s after a call and would take the next
 * run's core, and a run that follows the other side's run directly finds both
 * cores awake while one after a pause does not, so both sides get the pause.
 * Returns each side's times and the per-pair speedups (PyTorch time / rnnkit time).
 */
async function interleave(mine: () => void | Promise<void>, torch: Torch, torchId: string, torchPass: string,
  runs: number, warm = 3) {
  const a: number[] = [], b: number[] = [], ratio: number[] = [];
  const gap = torch && currentThreads > 1 ? gapMs : 0;
  const one = async () => { const s = performance.now(); await mine(); const ms = performance.now() - s; if (gap) await sleep(gap); return ms; };
  const theirs = async () => { const ms = (await torch!.run(torchId, torchPass))[0]; if (gap) await sleep(gap); return ms; };
  for (let i = 0; i < warm; i++) {
    await one();
    if (torch) await theirs();
  }
  for (let i = 0; i < runs; i++) {
    const ta = await one();
    a.push(ta);
    if (torch) {
      const tb = await theirs();
      b.push(tb);
      ratio.push(tb / ta);
    }
  }
  return { mine: median(a), torch: median(b), speedup: median(ratio), mineP90: quantile(a, 0.9) };
}

// ---------------------------------------------------------------- roofline

/** Best sgemm GFLOP/s per thread count, for the "% of sgemm" columns: [threads] -> GFLOP/s. */
const roof: Record<number, number> = {};

function rnnkitSgemm(M: number, K: number, N: number, reps = 7): number {
  const x = new Float32Array(M * K).fill(0.01), w = new Float32Array(N * K).fill(0.01), y = new Float32Array(M * N);
  const flops = 2 * M * N * K, inner = Math.max(1, Math.round(2e8 / flops));
  for (let i = 0; i < 3; i++) native.linearForward(x, w, null, M, K, N, y);
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    for (let k = 0; k < inner; k++) native.linearForward(x, w, null, M, K, N, y);
    rates.push(flops * inner / (performance.now() - s) / 1e6);
  }
  return median(rates);
}

async function roofline(torch: Torch, threads: number[], configs: Config[]) {
  const shapes: Array<[string, number, number, number]> = [['square 2048', 2048, 2048, 2048]];
  for (const c of configs.filter((k) => k.name === 'a' || k.name === 'c')) {
    shapes.push([`${c.name} GRU input (TB x I x 3H)`, c.T * c.B, c.I, 3 * c.H]);
  }
  for (const c of configs) {
    for (const cell of ['GRU', 'LSTM']) shapes.push([`${c.name} ${cell} step (B x H x ${GATES[cell]}H)`, c.B, c.H, GATES[cell] * c.H]);
  }
  const t = table('sgemm roofline (GFLOP/s, C = A·Bᵀ, median of 7)', ['thr', 'shape', 'M,K,N', 'torch.mm', 'rnnkit'], [
    'torch.mm: OpenBLAS sgemm with OpenBLAS\'s own threads (the PyTorch process). rnnkit: the same OpenBLAS ' +
    'kernels through rnnkit\'s GEMM path (native.linearForward), threaded the way rnnkit threads them.',
  ]);
  for (const th of threads) {
    setNumThreads(th);
    currentThreads = th;
    if (torch) await torch.threads(th);
    for (const [name, M, K, N] of shapes) {
      const mine = rnnkitSgemm(M, K, N);
      const theirs = torch ? median((await torch.request({ op: 'sgemm', M, K, N })).gflops as number[]) : NaN;
      if (torch && th > 1) await sleep(gapMs);  // PyTorch's OpenBLAS threads spin for ~0.1 s after its last call
      if (name.startsWith('square')) roof[th] = Number.isFinite(theirs) ? Math.max(theirs, mine) : mine;
      t.add([th, name, `${M},${K},${N}`, fmt(theirs), fmt(mine)]);
    }
  }
}

// ---------------------------------------------------------------- recurrent

async function recurrent(torch: Torch, o: ReturnType<typeof parseArgs>) {
  const t = table('Recurrent layer, 1 layer, float32, time-major: median ms per batch', [
    'thr', 'cfg', 'cell', 'pass', 'rnnkit ms', 'torch ms', 'speedup', 'rk seq/s', 'rk GF/s', 'torch GF/s', '% sgemm',
  ], [
    'speedup: median over runs of (PyTorch time / rnnkit time), runs paired A B A B. GFLOP/s from the nominal ' +
    'FLOPs: forward 2·G·T·B·H·(I+H), forward+backward 3x that. % sgemm: rnnkit GFLOP/s over the large-square ' +
    'sgemm GFLOP/s at the same thread count (roofline section).',
    'Configs: a T=50 B=64 I=H=256; b T=32 B=32 I=H=64; c T=50 B=64 I=H=512; d T=100 B=16 I=H=128.',
  ]);
  let id = 0;
  for (const th of o.threads) {
    setNumThreads(th);
    currentThreads = th;
    if (torch) await torch.threads(th);
    for (const c of o.configs) {
      const x = { data: new Float32Array(c.T * c.B * c.I).map((_, i) => Math.sin(i)), shape: [c.T, c.B, c.I] };
      const dOutput = { data: new Float32Array(c.T * c.B * c.H).fill(1e-3), shape: [c.T, c.B, c.H] };
      for (const cell of o.cells) {
        const layer = MAKE[cell](c.I, c.H);
        const tid = `r${id++}`;
        if (torch) await torch.request({ op: 'recurrent', id: tid, cell, T: c.T, B: c.B, I: c.I, H: c.H });
        const flops = 2 * GATES[cell] * c.T * c.B * c.H * (c.I + c.H);
        const passes: Array<[string, string, () => void, number]> = [
          ['fwd', 'fwd', () => { layer.forward(x); }, flops],
          ['fwd+bwd', 'fwdbwd', () => {
            layer.zeroGrad();
            layer.forward(x, { training: true });
            layer.backward({ dOutput });
          }, 3 * flops],
        ];
        for (const [pass, torchPass, fn, f] of passes) {
          const r = await interleave(fn, torch, tid, torchPass, o.runs);
          const gf = f / r.mine / 1e6;
          t.add([th, c.name, cell, pass, fmt(r.mine, 2), fmt(r.torch, 2), times(r.speedup), fmt(c.B / r.mine * 1000, 0),
            fmt(gf), fmt(f / r.torch / 1e6), roof[th] ? fmt(100 * gf / roof[th], 0) + '%' : '–']);
        }
        layer.dispose();
        if (torch) await torch.request({ op: 'drop', id: tid });
      }
    }
  }
}

// ---------------------------------------------------------------- seq2seq

async function seq2seq(torch: Torch, o: ReturnType<typeof parseArgs>) {
  const batch = makeSeq2SeqBatch(7);
  const model = seq2seqModel();
  const optimizer = new Adam({ lr: 1e-3 });
  const step = async () => {
    model.zeroGrad();
    await model.trainBatch(batch, { random: model.random });
    await optimizer.stepAsync(model.parameters, model.gradients);
  };
  if (torch) await torch.request({ op: 'seq2seq', id: 's2s', batch: torchBatch(batch) });
  const t = table('Attention encoder-decoder, one training step (forward, backward, Adam)', [
    'thr', 'model', 'batch', 'rnnkit ms', 'torch ms', 'speedup', 'rk seq/s',
  ], [
    `Model: token embeddings ${SEQ2SEQ.emb} (vocab ${SEQ2SEQ.vin} in, ${SEQ2SEQ.vout} out), bidirectional GRU ` +
    `encoder H=${SEQ2SEQ.hidden}, tanh bridge, GRU decoder H=${SEQ2SEQ.hidden} with Bahdanau attention ` +
    `(A=${SEQ2SEQ.hidden}), head over [s;c]; batch ${SEQ2SEQ.B}, source and target lengths ${SEQ2SEQ.minLen}-` +
    `${SEQ2SEQ.maxLen} (+ end token). rnnkit: EncoderDecoder.trainBatch + Adam.stepAsync. PyTorch: the same ` +
    'architecture written the usual way (packed bidirectional nn.GRU, a Python loop of GRUCell steps with ' +
    'attention, cross_entropy, torch.optim.Adam); see bench/torch_worker.py.',
  ]);
  for (const th of o.threads) {
    setNumThreads(th);
    currentThreads = th;
    if (torch) await torch.threads(th);
    const r = await interleave(step, torch, 's2s', 'train_step', o.runs);
    t.add([th, 'g2p', SEQ2SEQ.B, fmt(r.mine, 2), fmt(r.torch, 2), times(r.speedup), fmt(SEQ2SEQ.B / r.mine * 1000, 0)]);
  }
  if (torch) await torch.request({ op: 'drop', id: 's2s' });
}

// ---------------------------------------------------------------- inference

/**
 * Batched decoding of the g2p-shaped EncoderDecoder: rnnkit's predictAsync against the PyTorch twin
 * (bench/torch_worker.py op 'decode': the same weights, batched greedy and beam search with the same
 * choices; the outputs are compared, not only timed). The model is trained on a synthetic reversal
 * task first, so its outputs end like a real model's rather than run to maxLength.
 */
async function inference(torch: Torch, o: ReturnType<typeof parseArgs>) {
  const s = SEQ2SEQ, count = 1000, maxLength = 50;
  const model = seq2seqModel();
  await model.fit(reversal(randomSources(2000, s.minLen - 3, s.maxLen, s.vin, 21)), {
    epochs: 4, batchSize: 32, optimizer: { type: 'adam', lr: 2e-3 }, seed: 1,
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-bench-'));
  const file = path.join(dir, 'g2p.safetensors');
  model.save(file);
  const sources = randomSources(count, s.minLen - 3, s.maxLen, s.vin, 33);
  const t = table(`Batched decoding, ${count} sources (predictions/s)`, [
    'thr', 'strategy', 'rnnkit ms', 'torch ms', 'speedup', 'rk pred/s', 'torch pred/s', 'same output',
  ], [
    `Model: the seq2seq section's (GRU H=${s.hidden}, Bahdanau A=${s.attn}, embeddings ${s.emb}), trained 4 epochs on ` +
    `2000 reversals; sources of length ${s.minLen - 3}-${s.maxLen}, batches of ${s.B} by length, maxLength ${maxLength}. ` +
    'rnnkit: model.predictAsync(sources, { strategy, beamWidth: 5, batchSize: 64 }). PyTorch: the same weights ' +
    'in a batched torch.no_grad decoder (keys once per batch, beam rows of all sequences in one step); ' +
    '"same output": sources whose tokens agree exactly.',
  ]);
  const strategies = [['greedy', { strategy: 'greedy' }], ['beam 5', { strategy: 'beam', beamWidth: 5 }]] as const;
  try {
    for (const th of o.threads) {
      setNumThreads(th);
      currentThreads = th;
      if (torch) await torch.threads(th);
      for (const [label, strategy] of strategies) {
        const options = { ...strategy, maxLength, batchSize: s.B };
        let ours = await model.predictAsync(sources, options);
        if (torch) await torch.decode('decode', { model: file, sources, lengthPenalty: 1, ...options });
        const r = await interleave(async () => { ours = await model.predictAsync(sources, options); }, torch, 'decode', 'predict',
          Math.min(o.runs, 7), 1);
        let same = '–';
        if (torch) {
          const theirs = await torch.tokens('decode');
          same = `${ours.filter((x, i) => x.tokens.length === theirs.tokens[i].length && x.tokens.every((v, k) => v === theirs.tokens[i][k])).length}/${count}`;
          await torch.drop('decode');
        }
        t.add([th, label, fmt(r.mine, 0), fmt(r.torch, 0), times(r.speedup), fmt(count / r.mine * 1000, 0),
          torch ? fmt(count / r.torch * 1000, 0) : '–', same]);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- serving

async function serving(torch: Torch, o: ReturnType<typeof parseArgs>) {
  const H = 256;
  const t = table('Streaming step: I=H=256, one step with state carried (µs)', [
    'thr', 'cell', 'batch', 'steps', 'rnnkit p50', 'rk p99', 'torch p50', 'torch p99',
  ], ['rnnkit: layer.forward(x [1,B,256], { h0, c0 }) on the JS thread. PyTorch: nn.GRU / nn.LSTM on [1,B,256] ' +
    'under no_grad, state carried.']);
  for (const th of o.threads) {
    setNumThreads(th);
    currentThreads = th;
    if (torch) await torch.threads(th);
    for (const cell of ['GRU', 'LSTM']) {
      for (const B of [1, 16]) {
        const layer = MAKE[cell](H, H);
        const x = { data: new Float32Array(B * H).fill(0.1), shape: [1, B, H] };
        let h: Tensor = { data: new Float32Array(B * H), shape: [1, B, H] };
        let c: Tensor | undefined = cell === 'LSTM' ? { data: new Float32Array(B * H), shape: [1, B, H] } : undefined;
        if (torch) await torch.request({ op: 'step', id: 'step', cell, I: H, H, B });
        const mine: number[] = [], theirs: number[] = [];
        const block = 200;
        for (let round = 0; round < 11; round++) {
          const keep = round > 0;  // round 0 is warm-up
          for (let i = 0; i < block; i++) {
            const s = performance.now();
            const out = layer.forward(x, { h0: h, c0: c });
            h = out.hN;
            if (c) c = out.cN;
            if (keep) mine.push((performance.now() - s) * 1000);
          }
          if (torch) {
            const ms = await torch.run('step', 'step', block);
            if (keep) theirs.push(...ms.map((v) => v * 1000));
            if (th > 1) await sleep(gapMs);
          }
        }
        layer.dispose();
        if (torch) await torch.request({ op: 'drop', id: 'step' });
        t.add([th, cell, B, mine.length, fmt(median(mine)), fmt(quantile(mine, 0.99)), fmt(median(theirs)),
          fmt(quantile(theirs, 0.99))]);
      }
    }
  }

  const e = table('Event-loop delay while training asynchronously (ms, monitorEventLoopDelay, resolution 1 ms)', [
    'thr', 'workload', 'seconds', 'p50', 'p99', 'max', 'steps/s',
  ], [
    'The loop awaits forwardAsync/backwardAsync (layer) or trainBatch + Adam.stepAsync (encoder-decoder); ' +
    'the histogram samples every 1 ms, so 1 ms is the floor (see the idle row).',
  ]);
  const seconds = Math.max(2, Math.min(5, o.runs / 5));
  const measure = async (th: number, name: string, body: () => Promise<void>) => {
    const hist = monitorEventLoopDelay({ resolution: 1 });
    hist.enable();
    const start = performance.now();
    let steps = 0;
    while (performance.now() - start < seconds * 1000) { await body(); steps++; }
    hist.disable();
    const ms = (v: number) => v / 1e6;
    e.add([th, name, seconds, fmt(ms(hist.percentile(50)), 2), fmt(ms(hist.percentile(99)), 2), fmt(ms(hist.max), 2),
      fmt(steps / ((performance.now() - start) / 1000), 1)]);
  };
  for (const th of o.threads) {
    setNumThreads(th);
    await measure(th, 'idle (timer only)', () => new Promise((r) => setTimeout(r, 50)));
    const c = CONFIGS[0];
    const gru = new GRU({ inputSize: c.I, hiddenSize: c.H, seed: 1 });
    const x = { data: new Float32Array(c.T * c.B * c.I).fill(0.1), shape: [c.T, c.B, c.I] };
    const dOutput = { data: new Float32Array(c.T * c.B * c.H).fill(1e-3), shape: [c.T, c.B, c.H] };
    await measure(th, 'GRU config a fwd+bwd', async () => {
      gru.zeroGrad();
      await gru.forwardAsync(x, { training: true });
      await gru.backwardAsync({ dOutput });
    });
    gru.dispose();
    const model = seq2seqModel();
    const batch = makeSeq2SeqBatch(7);
    const optimizer = new Adam({ lr: 1e-3 });
    await measure(th, 'encoder-decoder step', async () => {
      model.zeroGrad();
      await model.trainBatch(batch, { random: model.random });
      await optimizer.stepAsync(model.parameters, model.gradients);
    });
  }
}

// ---------------------------------------------------------------- memory

function childJson(cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv = process.env): Record<string, number> {
  const r = spawnSync(cmd, args, { input, env, encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = (r.stdout || '').trim().split('\n').pop() || '';
  try { return JSON.parse(line); } catch { throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || line}`); }
}

async function memory(torch: Torch, o: ReturnType<typeof parseArgs>) {
  const t = table('Peak RSS of a training step (MiB), each side in a fresh process, 1 thread', [
    'thr', 'case', 'what', 'rnnkit peak', 'rk step', 'torch peak', 'torch step',
  ], [
    'peak: the process\'s peak resident set (VmHWM) after 3 training steps (forward, backward, gradients). step: ' +
    'peak minus the resident set just before the first step (runtime, library, model and inputs already loaded).',
  ]);
  const child = path.join(__dirname, 'rss-child.js');
  const cases: Array<[string, Record<string, unknown>]> = [
    ['GRU a', { kind: 'recurrent', cell: 'GRU', ...CONFIGS[0] }],
    ['LSTM a', { kind: 'recurrent', cell: 'LSTM', ...CONFIGS[0] }],
    ['GRU c', { kind: 'recurrent', cell: 'GRU', ...CONFIGS[2] }],
    ['LSTM c', { kind: 'recurrent', cell: 'LSTM', ...CONFIGS[2] }],
    ['seq2seq', { kind: 'seq2seq', batch: torchBatch(makeSeq2SeqBatch(7)) }],
  ];
  const mib = (kib: number) => fmt(kib / 1024, 1);
  for (const [name, req] of cases) {
    const input = JSON.stringify(req) + '\n';
    const mine = childJson(process.execPath, [child], input);
    const theirs = torch ? childJson(PYTHON, [WORKER, '--rss'], input, { ...process.env, ...TORCH_ENV }) : null;
    t.add([1, name, 'train step', mib(mine.peak_kib), mib(mine.peak_kib - mine.before_kib),
      theirs ? mib(theirs.peak_kib) : '–', theirs ? mib(theirs.peak_kib - theirs.before_kib) : '–']);
  }
}

// ---------------------------------------------------------------- main

function sh(cmd: string, args: string[]): string {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return ''; }
}

/** Processes other than this harness using CPU right now (the machine is shared). */
function otherLoad(): string {
  const mine = new Set([process.pid]);
  const lines = sh('ps', ['-eo', 'pid,ppid,pcpu,etimes,args', '--sort=-pcpu']).split('\n').slice(1);
  const busy = lines.map((l) => l.trim().split(/\s+/)).filter((f) => Number(f[2]) >= 5 && !mine.has(Number(f[0])) &&
    !mine.has(Number(f[1]))).slice(0, 4).map((f) => `${f.slice(4).join(' ').slice(0, 60)} (${f[2]}% cpu)`);
  return `load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}` + (busy.length ? `; busy: ${busy.join('; ')}` : '; no other busy process');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  gapMs = o.gapMs;
  const started = new Date();
  const loadBefore = otherLoad();
  let torch: Torch = null;
  let torchNote = 'PyTorch: skipped (--no-torch).';
  if (o.torch) {
    const r = await TorchClient.start();
    if ('unavailable' in r) {
      torchNote = `PyTorch: SKIPPED — ${PYTHON} cannot import torch (${r.unavailable}). rnnkit figures only; ` +
        'install Debian\'s python3-torch (apt-get install python3-torch) to compare.';
    } else {
      torch = r;
      torchNote = `PyTorch ${r.info.torch} (Python ${r.info.python}, ${PYTHON}), env ${JSON.stringify(TORCH_ENV)}, ` +
        'threads per row set with torch.set_num_threads(n) and openblas_set_num_threads(n); OpenBLAS: ' +
        `${r.info.openblas ?? 'unknown'}.`;
    }
  }
  console.log(torchNote);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  // Linux shares CPU between sessions (autogroups) before threads: with another
  // session busy, a 2-thread run gets about one core unless its group's nice is
  // raised (as root: echo -10 > /proc/self/autogroup in the shell that runs this).
  let group = '';
  try { group = fs.readFileSync('/proc/self/autogroup', 'utf8').trim(); } catch { /* not Linux */ }
  const machine = `${cpu}, ${os.cpus().length} logical CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `${os.type()} ${os.release()}; Node ${process.version}; rnnkit threads default ${getNumThreads()}` +
    (group ? `; scheduler group ${group}` : '');
  console.log(machine);
  console.log(`started with ${loadBefore}`);

  if (o.only.includes('roofline')) await roofline(torch, o.threads, o.configs);
  if (o.only.includes('recurrent')) await recurrent(torch, o);
  if (o.only.includes('seq2seq')) await seq2seq(torch, o);
  if (o.only.includes('inference')) await inference(torch, o);
  if (o.only.includes('serving')) await serving(torch, o);
  if (o.only.includes('memory')) await memory(torch, o);
  if (torch) await torch.close();
  const loadAfter = otherLoad();
  console.log(`\nfinished with ${loadAfter}`);

  if (o.markdown) {
    const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
    const generated = [
      `Written by \`${command}\` (bench/main.ts) on ${started.toISOString()}. Rerun it the same way; ` +
      'figures on a shared 2-core machine move by ±5% (1 thread) and more (2 threads), so read the speedup ' +
      'column, which pairs each rnnkit run with the PyTorch run right after it.', '',
      `- Machine: ${machine}`,
      `- ${torchNote}`,
      `- Runs: ${o.runs} timed runs per row after 3 warm-up runs each side, interleaved rnnkit/PyTorch; at 2 ` +
      `threads a ${o.gapMs} ms pause follows every run of either side (PyTorch's OpenBLAS threads spin ~0.1 s ` +
      'after a call; both sides start each run from the same idle machine).',
      `- Load when it started: ${loadBefore}`,
      `- Load when it finished: ${loadAfter}`,
      ...notes.map((n) => `- ${n}`), '',
      ...tables.flatMap((t) => [t.markdown(), '']),
    ].join('\n');
    // Only the text between the markers is the harness's; notes around it survive a rerun.
    const begin = '<!-- bench:begin -->', end = '<!-- bench:end -->';
    const old = fs.existsSync(o.markdown) ? fs.readFileSync(o.markdown, 'utf8') : '';
    const md = old.includes(begin) && old.includes(end)
      ? old.slice(0, old.indexOf(begin) + begin.length) + '\n' + generated + '\n' + old.slice(old.indexOf(end))
      : `# rnnkit benchmark results\n\n${begin}\n${generated}\n${end}\n`;
    fs.writeFileSync(o.markdown, md);
    console.log(`wrote ${o.markdown}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
