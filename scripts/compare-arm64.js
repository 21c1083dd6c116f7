#!/usr/bin/env node
// The arm64 prebuild against the x86-64 build on the same inputs (npm run
// test:arm64): RNN/GRU/LSTM (2 layers, bidirectional, padded) forward and BPTT,
// and the attention decoder (Bahdanau, Luong), run once in this Node.js and once
// in the arm64 Node.js under qemu (scripts/node-arm64, PREBUILDS_ONLY=1), then
// compared tensor by tensor as max |a - b| / max(1, max |b|). Fails above 1e-4,
// the tolerance the determinism contract gives across CPUs and kernel paths
// (README, "Kernel paths and determinism"). Needs `npx tsc -p .` first.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const TOLERANCE = 1e-4;

// The tests' deterministic inputs (mulberry32): the same in both processes.
const { randomArray } = require(path.join(root, 'dist', 'test', 'helpers', 'random-array'));
const tensor = (shape, seed, scale) => ({ data: randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), shape });

// Runs every case in this process; returns { name: number[] } and what ran it.
function compute() {
  const rnnkit = require(path.join(root, 'dist', 'lib'));
  const out = {};
  const T = 7, B = 5, I = 12, H = 20;
  const lengths = new Int32Array([7, 3, 5, 1, 6]);
  for (const [name, make] of [['rnn', (o) => new rnnkit.RNN(o)], ['gru', (o) => new rnnkit.GRU(o)],
    ['lstm', (o) => new rnnkit.LSTM(o)]]) {
    const layer = make({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, seed: 11 });
    const y = layer.forward(tensor([T, B, I], 1), { lengths, training: true });
    const back = layer.backward({ dOutput: tensor(y.output.shape, 2), dhN: tensor(y.hN.shape, 3) });
    out[`${name} output`] = y.output.data;
    out[`${name} hN`] = y.hN.data;
    out[`${name} dx`] = back.dx.data;
    for (const [param, grad] of Object.entries(layer.grads())) out[`${name} grad ${param}`] = grad.data;
    layer.dispose();
  }
  for (const attention of ['bahdanau', 'luong-general']) {
    const M = 5, N = 6, X = 8, E = 16, Hd = 16;
    const decoder = new rnnkit.AttentionDecoder({ cell: 'gru', inputSize: X, memorySize: E, hiddenSize: Hd, attention, seed: 4 });
    const y = decoder.forward(tensor([M, B, X], 5), tensor([N, B, E], 6), {
      h0: tensor([1, B, Hd], 7, 0.5), sourceLengths: new Int32Array([6, 2, 4, 1, 5]), targetLengths: lengths.map((l) => Math.min(l, M)),
    });
    out[`attention ${attention} output`] = y.output.data;
    out[`attention ${attention} weights`] = y.weights.data;
  }
  return { arch: process.arch, kernels: rnnkit.kernelInfo(), tensors: Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Array.from(v)])) };
}

// `--compute FILE`: the emulated run writes its results to FILE (a file, not
// stdout: an exiting process may cut a long write to a pipe short).
if (process.argv[2] === '--compute') {
  fs.writeFileSync(process.argv[3], JSON.stringify(compute()));
  process.exit(0);
}

const host = compute();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-arm64-'));
let arm;
try {
  const file = path.join(scratch, 'arm64.json');
  execFileSync(path.join(root, 'scripts', 'node-arm64'), [__filename, '--compute', file],
    { stdio: 'inherit', env: { ...process.env, PREBUILDS_ONLY: '1' } });
  arm = JSON.parse(fs.readFileSync(file, 'utf8'));
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
if (arm.arch !== 'arm64') throw new Error(`the emulated run reports ${arm.arch}, not arm64`);
console.log(`${host.arch} (${host.kernels.isa}, OpenBLAS ${host.kernels.blasCore}) against ${arm.arch} ` +
  `(${arm.kernels.isa}, OpenBLAS ${arm.kernels.blasCore}); error = max |a - b| / max(1, max |b|)`);
let worst = 0;
const rows = [];
for (const [name, expected] of Object.entries(host.tensors)) {
  const actual = arm.tensors[name];
  if (!actual || actual.length !== expected.length) throw new Error(`${name}: missing or wrong length in the arm64 run`);
  let diff = 0, scale = 1;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  const error = diff / scale;
  if (!Number.isFinite(error)) throw new Error(`${name}: non-finite values`);
  worst = Math.max(worst, error);
  rows.push([name, error]);
}
const group = (name) => name.split(' grad ')[0].replace(/ (output|hN|dx|weights)$/, '');
const byGroup = new Map();
for (const [name, error] of rows) {
  const key = `${group(name)}${name.includes(' grad ') ? ' weight grads' : ` ${name.split(' ').pop()}`}`;
  byGroup.set(key, Math.max(byGroup.get(key) ?? 0, error));
}
for (const [key, error] of byGroup) console.log(`  ${key.padEnd(32)} ${error.toExponential(2)}`);
console.log(`worst: ${worst.toExponential(2)} over ${rows.length} tensors (tolerance ${TOLERANCE})`);
if (worst > TOLERANCE) {
  console.error('compare-arm64: the arm64 build disagrees with the x86-64 build beyond the tolerance');
  process.exit(1);
}
