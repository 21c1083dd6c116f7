// `npm run bench`: forward and forward+backward time of one recurrent layer
// (float32, time-major, 1 layer) per cell, with sequences/s and GFLOP/s.
// Options: --threads N (OpenBLAS threads, default 1 and 2), --runs N (default 20),
//          --config T,B,I,H (default 50,64,256,256; repeatable).
// Not a test: nothing here asserts a speed.

import { performance } from 'node:perf_hooks';
import { GRU, LSTM, RNN, setNumThreads, type Recurrent } from '../lib';

interface Config { T: number; B: number; I: number; H: number }

const CELLS: Array<{ name: string; gates: number; make: (c: Config) => Recurrent }> = [
  { name: 'RNN', gates: 1, make: (c) => new RNN({ inputSize: c.I, hiddenSize: c.H, seed: 1 }) },
  { name: 'GRU', gates: 3, make: (c) => new GRU({ inputSize: c.I, hiddenSize: c.H, seed: 1 }) },
  { name: 'LSTM', gates: 4, make: (c) => new LSTM({ inputSize: c.I, hiddenSize: c.H, seed: 1 }) },
];

function parseArgs(argv: string[]) {
  const configs: Config[] = [];
  let threads = [1, 2];
  let runs = 20;
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--threads') { threads = value.split(',').map(Number); i++; }
    else if (argv[i] === '--runs') { runs = Number(value); i++; }
    else if (argv[i] === '--config') {
      const [T, B, I, H] = value.split(',').map(Number);
      configs.push({ T, B, I, H });
      i++;
    } else throw new Error(`unknown argument ${argv[i]} (see the header of bench/recurrent.ts)`);
  }
  if (configs.length === 0) configs.push({ T: 50, B: 64, I: 256, H: 256 });
  return { configs, threads, runs };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeMs(fn: () => void, runs: number): number {
  for (let i = 0; i < 3; i++) fn();  // warm-up: workspaces allocated, caches hot
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

function main(): void {
  const { configs, threads, runs } = parseArgs(process.argv.slice(2));
  console.log(`rnnkit recurrent benchmark: median of ${runs} runs after warm-up, float32, 1 layer`);
  console.log('threads  config               cell  pass      ms/batch   seq/s    GFLOP/s');
  for (const t of threads) {
    setNumThreads(t);
    for (const c of configs) {
      const x = { data: new Float32Array(c.T * c.B * c.I).map((_, i) => Math.sin(i)), shape: [c.T, c.B, c.I] };
      const dOutput = { data: new Float32Array(c.T * c.B * c.H).fill(1e-3), shape: [c.T, c.B, c.H] };
      for (const cell of CELLS) {
        const layer = cell.make(c);
        const forwardFlops = 2 * cell.gates * c.T * c.B * c.H * (c.I + c.H);
        const rows: Array<[string, number, number]> = [
          ['fwd', timeMs(() => layer.forward(x), runs), forwardFlops],
          ['fwd+bwd', timeMs(() => { layer.forward(x, { training: true }); layer.backward({ dOutput }); }, runs), 3 * forwardFlops],
        ];
        for (const [pass, ms, flops] of rows) {
          const shape = `T=${c.T} B=${c.B} I=${c.I} H=${c.H}`;
          console.log(`${String(t).padEnd(8)} ${shape.padEnd(20)} ${cell.name.padEnd(5)} ${pass.padEnd(9)} ` +
            `${ms.toFixed(2).padStart(8)} ${(c.B / (ms / 1000)).toFixed(0).padStart(8)} ${(flops / ms / 1e6).toFixed(1).padStart(9)}`);
        }
        layer.dispose();
      }
    }
  }
}

main();
