// What batchFirst costs: the recurrent layers copy a [B, T, F] x into the time-major layout the
// native loop reads, and the output back (dOutput and dx likewise in backward). Times the copies
// alone and the same GRU forward (and forward+backward) time-major and batch-first, interleaved
// run by run. Not a test: nothing asserts a speed.
// `node dist/bench/batch-first.js [--runs N] [--threads 1,2] [--configs a,c] [--cell GRU]`

import * as fs from 'node:fs';
import { GRU, LSTM, RNN, getNumThreads, setNumThreads, type Recurrent, type Tensor } from '../lib';
import { swapLeadingAxes } from '../lib/layers/batch-layout';
import { fmt, interleavedMedians, randomValues } from './stats';

const CONFIGS: Record<string, { T: number; B: number; I: number; H: number }> = {
  a: { T: 50, B: 64, I: 256, H: 256 },
  b: { T: 32, B: 32, I: 64, H: 64 },
  c: { T: 50, B: 64, I: 512, H: 512 },
  d: { T: 100, B: 16, I: 128, H: 128 },
};
const MAKE: Record<string, (I: number, H: number, batchFirst: boolean) => Recurrent> = {
  RNN: (I, H, batchFirst) => new RNN({ inputSize: I, hiddenSize: H, seed: 1, batchFirst }),
  GRU: (I, H, batchFirst) => new GRU({ inputSize: I, hiddenSize: H, seed: 1, batchFirst }),
  LSTM: (I, H, batchFirst) => new LSTM({ inputSize: I, hiddenSize: H, seed: 1, batchFirst }),
};

function parseArgs(argv: string[]) {
  const o = { runs: 21, threads: [1, 2], configs: ['a', 'c'], cell: 'GRU' };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--runs': o.runs = Number(v); break;
      case '--threads': o.threads = v.split(',').map(Number); break;
      case '--configs': o.configs = v.split(','); break;
      case '--cell': o.cell = v; break;
      default: throw new Error(`unknown argument ${argv[i]} (see the header of bench/batch-first.ts)`);
    }
  }
  for (const c of o.configs) if (!CONFIGS[c]) throw new Error(`--configs: unknown config ${c}`);
  if (!MAKE[o.cell]) throw new Error(`--cell: expected RNN, GRU or LSTM, got ${o.cell}`);
  return o;
}


function cpuModel(): string {
  try {
    return /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const o = parseArgs(process.argv.slice(2));
const defaultThreads = getNumThreads();
console.log(`CPU: ${cpuModel()}; ${o.cell}, 1 layer, unidirectional; medians of ${o.runs} runs (ms)`);
console.log('cfg thr | fwd TM   fwd BF   copies(x+out)  copy/fwd  BF-TM | f+b TM   f+b BF   copies(4)  copy/f+b  BF-TM');
for (const threads of o.threads) {
  setNumThreads(threads);
  for (const name of o.configs) {
    const { T, B, I, H } = CONFIGS[name];
    const tm = MAKE[o.cell](I, H, false), bf = MAKE[o.cell](I, H, true);
    const xTM: Tensor = { data: randomValues(T * B * I, 1), shape: [T, B, I] };
    const xBF: Tensor = { data: swapLeadingAxes(xTM.data, T, B, I), shape: [B, T, I] };
    const dTM: Tensor = { data: randomValues(T * B * H, 2), shape: [T, B, H] };
    const dBF: Tensor = { data: swapLeadingAxes(dTM.data, T, B, H), shape: [B, T, H] };
    const out = new Float32Array(T * B * H);
    const [fwdTM, fwdBF, copyF] = interleavedMedians([
      () => tm.forward(xTM),
      () => bf.forward(xBF),
      () => { swapLeadingAxes(xBF.data, B, T, I); swapLeadingAxes(out, T, B, H); },
    ], o.runs);
    const [fbTM, fbBF, copyFB] = interleavedMedians([
      () => { tm.forward(xTM, { training: true }); tm.backward({ dOutput: dTM }); },
      () => { bf.forward(xBF, { training: true }); bf.backward({ dOutput: dBF }); },
      () => {
        swapLeadingAxes(xBF.data, B, T, I); swapLeadingAxes(out, T, B, H);
        swapLeadingAxes(dBF.data, B, T, H); swapLeadingAxes(xTM.data, T, B, I);
      },
    ], o.runs);
    const pct = (a: number, b: number) => `${fmt(100 * a / b, 1)}%`;
    console.log(`${name}   ${threads}   | ${fmt(fwdTM, 2).padStart(6)}  ${fmt(fwdBF, 2).padStart(6)}  ${fmt(copyF, 3).padStart(10)}` +
      `  ${pct(copyF, fwdTM).padStart(10)}  ${pct(fwdBF - fwdTM, fwdTM).padStart(5)} | ${fmt(fbTM, 2).padStart(6)}  ` +
      `${fmt(fbBF, 2).padStart(6)}  ${fmt(copyFB, 3).padStart(9)}  ${pct(copyFB, fbTM).padStart(8)}  ${pct(fbBF - fbTM, fbTM).padStart(5)}`);
    tm.dispose();
    bf.dispose();
  }
}
setNumThreads(defaultThreads);
