// What resetAfter: false costs: the same GRU (same parameters) with the reset gate after W_hn
// (PyTorch's, one h W_hh^T per step) and before it (Keras reset_after=False: h W_h{r,z}^T, then
// (r * h) W_hn^T, so two smaller products and two passes per step), forward and forward+backward,
// interleaved run by run. Not a test: nothing asserts a speed.
// `node dist/bench/gru-reset-after.js [--runs N] [--threads 1,2] [--configs a,c]`

import { GRU, getNumThreads, setNumThreads, type Tensor } from '../lib';
import { fmt, interleavedMedians, randomValues } from './stats';

const CONFIGS: Record<string, { T: number; B: number; I: number; H: number }> = {
  a: { T: 50, B: 64, I: 256, H: 256 },
  b: { T: 32, B: 32, I: 64, H: 64 },
  c: { T: 50, B: 64, I: 512, H: 512 },
};

function parseArgs(argv: string[]) {
  const o = { runs: 15, threads: [1, 2], configs: ['a', 'b'] };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--runs': o.runs = Number(v); break;
      case '--threads': o.threads = v.split(',').map(Number); break;
      case '--configs': o.configs = v.split(','); break;
      default: throw new Error(`unknown argument ${argv[i]} (see the header of bench/gru-reset-after.ts)`);
    }
  }
  for (const c of o.configs) if (!CONFIGS[c]) throw new Error(`--configs: unknown config ${c}`);
  return o;
}


const o = parseArgs(process.argv.slice(2));
const defaultThreads = getNumThreads();
console.log(`GRU, 1 layer, unidirectional; medians of ${o.runs} runs (ms)`);
console.log('cfg thr | fwd after  fwd before  ratio | f+b after  f+b before  ratio');
for (const threads of o.threads) {
  setNumThreads(threads);
  for (const name of o.configs) {
    const { T, B, I, H } = CONFIGS[name];
    const after = new GRU({ inputSize: I, hiddenSize: H, seed: 1 });
    const before = new GRU({ inputSize: I, hiddenSize: H, seed: 1, resetAfter: false });
    const x: Tensor = { data: randomValues(T * B * I, 1), shape: [T, B, I] };
    const dOutput: Tensor = { data: randomValues(T * B * H, 2), shape: [T, B, H] };
    const [fa, fb] = interleavedMedians([() => after.forward(x), () => before.forward(x)], o.runs);
    const step = (layer: GRU) => () => { layer.forward(x, { training: true }); layer.backward({ dOutput }); };
    const [ba, bb] = interleavedMedians([step(after), step(before)], o.runs);
    console.log(`${name}   ${threads}   | ${fmt(fa)}  ${fmt(fb)}  ${(fb / fa).toFixed(2)}  | ${fmt(ba)}  ${fmt(bb)}  ${(bb / ba).toFixed(2)}`);
    after.dispose();
    before.dispose();
  }
}
setNumThreads(defaultThreads);
