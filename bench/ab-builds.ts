// A/B of native addon builds in one process, interleaved run by run: how each
// kernel lever in bench/RESULTS.md was measured. Build a variant, copy
// build/Release/rnnkit.node aside, build the other, then
//   node dist/bench/ab-builds.js GRU 50 64 256 256 2 fwdbwd 20 /tmp/a.node /tmp/b.node
// (cell T B I H threads fwd|fwdbwd runs files...). Prints each build's median
// wall and process-CPU time and the median per-pair ratio (first / second):
// CPU time is the steadier measure at 1 thread on a shared machine.

import { performance } from 'node:perf_hooks';
import type { NativeBinding } from '../lib/native';

function main(): void {
  const [cell, T, B, I, H, threads, pass, runs, ...files] = process.argv.slice(2);
  const n = { T: Number(T), B: Number(B), I: Number(I), H: Number(H), threads: Number(threads), runs: Number(runs) };
  const code: Record<string, number> = { RNN: 1, GRU: 3, LSTM: 4 };
  if (!code[cell] || files.length === 0 || !(n.runs > 0)) {
    throw new Error('usage: ab-builds.js RNN|GRU|LSTM T B I H threads fwd|fwdbwd runs a.node [b.node ...]');
  }
  const lstm = cell === 'LSTM';
  const runners = files.map((file) => {
    const m = { exports: {} as NativeBinding };
    process.dlopen(m, file);
    const a = m.exports;
    const st = new a.RecurrentStack({ cell: code[cell], numLayers: 1, numDirections: 1, inputSize: n.I, hiddenSize: n.H,
      bias: true, dropout: 0, workspaceLimitBytes: 4e9 });
    const P = st.paramCount();
    // Pseudo-random weights as a layer's init gives (U(±1/sqrt(H))): a smooth pattern such as
    // sin(i) lets the branch predictor learn a scalar loop's branches, which real weights do not.
    let seed = 12345;
    const uniform = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32 * 2 - 1; };
    const params = new Float32Array(P).map(() => uniform() / Math.sqrt(n.H)), grads = new Float32Array(P);
    const x = new Float32Array(n.T * n.B * n.I).map((_, i) => Math.sin(i));
    const y = new Float32Array(n.T * n.B * n.H), hN = new Float32Array(n.B * n.H), cN = lstm ? new Float32Array(n.B * n.H) : null;
    const dy = new Float32Array(n.T * n.B * n.H).fill(1e-3), dx = new Float32Array(n.T * n.B * n.I);
    const dh0 = new Float32Array(n.B * n.H), dc0 = lstm ? new Float32Array(n.B * n.H) : null;
    return () => {
      a.setNumThreads(n.threads);  // each build keeps its own setting (and sets OpenBLAS's)
      const w = performance.now(), c = process.cpuUsage();
      st.forward(params, x, n.T, n.B, null, null, null, pass !== 'fwd', 0, y, hN, cN);
      if (pass !== 'fwd') st.backward(params, grads, dy, null, null, dx, dh0, dc0);
      const u = process.cpuUsage(c);
      return [performance.now() - w, (u.user + u.system) / 1000];
    };
  });
  const wall: number[][] = files.map(() => []), cpu: number[][] = files.map(() => []);
  for (let r = 0; r < n.runs + 3; r++) {
    runners.forEach((run, k) => {
      const [w, c] = run();
      if (r >= 3) { wall[k].push(w); cpu[k].push(c); }
    });
  }
  const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
  const flops = 2 * ({ RNN: 1, GRU: 3, LSTM: 4 } as Record<string, number>)[cell] * n.T * n.B * n.H * (n.I + n.H) * (pass === 'fwd' ? 1 : 3);
  files.forEach((f, k) => console.log(`${cell} T=${T} B=${B} I=${I} H=${H} threads=${threads} ${pass} ${f}: wall ${med(wall[k]).toFixed(2)} ms ` +
    `(${(flops / med(wall[k]) / 1e6).toFixed(1)} GFLOP/s), cpu ${med(cpu[k]).toFixed(2)} ms`));
  if (files.length > 1) {
    console.log(`  ratio ${files[0]} / ${files[1]}: wall ${med(wall[0].map((w, i) => w / wall[1][i])).toFixed(3)}, ` +
      `cpu ${med(cpu[0].map((c, i) => c / cpu[1][i])).toFixed(3)}`);
  }
}

main();
