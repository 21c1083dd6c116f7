// Behaviour of the recurrent layers through the public API: seeding and initialisation, PyTorch's
// parameter names, dropout, padding and final states, gradient accumulation, truncated BPTT,
// safetensors round trips and finite-difference gradient checks (RNN tanh/relu, GRU, LSTM).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GRU, loadSafetensors, saveSafetensors,
  type ForwardOptions, type OutputGradients, type Recurrent, type RecurrentOptions, type RecurrentOutput, type Tensor,
} from '../lib';
import { randomArray } from './helpers/random-array';
import { RECURRENT_KINDS, seededTensor } from './helpers/recurrent-kinds';

// ---------------------------------------------------------------- helpers

const CELLS = RECURRENT_KINDS;
const tensor = seededTensor;

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

function assertSameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: ${a[i]} !== ${b[i]}`);
  }
}

function assertClose(a: Float32Array, b: Float32Array, tolerance: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    const bound = tolerance * Math.max(1, Math.abs(b[i]));
    if (!(Math.abs(a[i] - b[i]) <= bound)) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]} (tolerance ${bound})`);
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function stdOf(values: ArrayLike<number>): { mean: number; std: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = sum / values.length;
  let ss = 0;
  for (let i = 0; i < values.length; i++) ss += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(ss / values.length) };
}

// ---------------------------------------------------------------- seeding and initialisation

describe('recurrent layers: seeding and initialisation', function () {
  const options: RecurrentOptions = { inputSize: 5, hiddenSize: 7, numLayers: 2, bidirectional: true };

  for (const cell of CELLS) {
    it(`${cell.name} built twice with the same seed has identical parameters`, function () {
      for (const seed of [0, 1, 123456789, -5]) {
        const a = cell.make({ ...options, seed }), b = cell.make({ ...options, seed });
        assertSameBits(a.parameters, b.parameters, `seed ${seed}`);
      }
    });

    it(`${cell.name} built with different seeds has different parameters`, function () {
      for (const [s1, s2] of [[0, 1], [1, 2], [0, -1], [41, 42], [2 ** 31 - 1, 2 ** 31]]) {
        const a = cell.make({ ...options, seed: s1 }).parameters, b = cell.make({ ...options, seed: s2 }).parameters;
        const equal = a.filter((v, i) => v === b[i]).length;
        assert.ok(equal < a.length / 100, `seeds ${s1} and ${s2}: ${equal} of ${a.length} parameters equal`);
      }
    });
  }

  // Library bug: Random (lib/random.ts) seeds itself from `seed >>> 0`, so only the low 32 bits of the
  // seed count although the constructor accepts any safe integer: seeds 0 and 2^32 (or -1 and 2^32-1)
  // give the same parameters and the same dropout masks.
  it('GRU built with seeds that differ only above bit 31 has different parameters', function () {
    for (const [s1, s2] of [[0, 2 ** 32], [7, 7 + 2 ** 40], [-1, 2 ** 32 - 1]]) {
      const a = new GRU({ ...options, seed: s1 }).parameters, b = new GRU({ ...options, seed: s2 }).parameters;
      assert.ok(!sameBits(a, b), `seeds ${s1} and ${s2} give the same parameters`);
    }
  });

  for (const cell of CELLS) {
    it(`${cell.name} draws every parameter from U(-1/sqrt(H), 1/sqrt(H)), like PyTorch`, function () {
      const H = 48, k = 1 / Math.sqrt(H);
      const layer = cell.make({ inputSize: 20, hiddenSize: H, numLayers: 2, bidirectional: true, seed: 9 });
      // For U(-k, k): mean 0, std k/sqrt(3) = (2k)/sqrt(12). Over n draws the sample mean has standard
      // deviation k/sqrt(3n) and the sample std a relative one of sqrt(1/(5n)) (delta method with the
      // fourth moment k^4/5); 6 of them gives a false alarm about once in 10^8 runs.
      const check = (values: Float32Array, what: string) => {
        const n = values.length;
        for (let i = 0; i < n; i++) {
          if (!(values[i] >= -k && values[i] <= k)) assert.fail(`${what}[${i}] = ${values[i]} outside [-${k}, ${k}]`);
        }
        const { mean, std } = stdOf(values);
        const sigma = k / Math.sqrt(3);
        assert.ok(Math.abs(mean) <= 6 * sigma / Math.sqrt(n), `${what}: mean ${mean} over ${n} values`);
        assert.ok(Math.abs(std / sigma - 1) <= 6 * Math.sqrt(1 / (5 * n)), `${what}: std ${std}, expected ${sigma} over ${n} values`);
      };
      for (const [name, t] of Object.entries(layer.stateDict())) check(t.data, name);
      const all = layer.parameters, n = all.length;
      check(all, 'all parameters');
      // Uniform, not merely the right spread: ten equal bins each hold a tenth (binomial, 6 sd),
      // and the extremes reach the ends (P(max < k(1 - 40/n)) = (1 - 20/n)^n ~ e^-20).
      const bins = new Array<number>(10).fill(0);
      for (const v of all) bins[Math.min(9, Math.floor(((v + k) / (2 * k)) * 10))]++;
      for (const count of bins) assert.ok(Math.abs(count / n - 0.1) <= 6 * Math.sqrt(0.09 / n), `bins ${bins}`);
      const max = all.reduce((m, v) => Math.max(m, v), -Infinity), min = all.reduce((m, v) => Math.min(m, v), Infinity);
      assert.ok(max > k * (1 - 40 / n) && min < -k * (1 - 40 / n), `range [${min}, ${max}]`);
    });
  }
});

// ---------------------------------------------------------------- names and shapes

describe('recurrent layers: parameter names and shapes', function () {
  for (const cell of CELLS) {
    it(`${cell.name} names and shapes its parameters like PyTorch for numLayers=2, bidirectional`, function () {
      const I = 5, H = 3, G = cell.gates;
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true });
      const expected: Array<[string, number[]]> = [];
      for (const [l, inputs] of [[0, I], [1, 2 * H]]) {
        for (const suffix of ['', '_reverse']) {
          expected.push([`weight_ih_l${l}${suffix}`, [G * H, inputs]], [`weight_hh_l${l}${suffix}`, [G * H, H]],
            [`bias_ih_l${l}${suffix}`, [G * H]], [`bias_hh_l${l}${suffix}`, [G * H]]);
        }
      }
      const dict = layer.stateDict();
      assert.deepEqual(Object.entries(dict).map(([k, t]) => [k, t.shape]), expected);  // PyTorch's order too
      for (const [name, t] of Object.entries(dict)) assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1), name);
      const count = expected.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
      assert.equal(layer.numParameters, count);
      // The flat array is the state dict's tensors back to back, in that order; grads() mirrors it.
      assertSameBits(layer.parameters, concat(Object.values(dict).map((t) => t.data)), 'flat layout');
      assert.deepEqual(Object.entries(layer.grads()).map(([k, t]) => [k, t.shape]), expected);
    });

    it(`${cell.name} with bias=false has no bias tensors and maps zero input and state to zero output`, function () {
      const I = 4, H = 3, G = cell.gates;
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: 3, bias: false, seed: 2 });
      assert.deepEqual(Object.entries(layer.stateDict()).map(([k, t]) => [k, t.shape]), [
        ['weight_ih_l0', [G * H, I]], ['weight_hh_l0', [G * H, H]],
        ['weight_ih_l1', [G * H, H]], ['weight_hh_l1', [G * H, H]],
        ['weight_ih_l2', [G * H, H]], ['weight_hh_l2', [G * H, H]],
      ]);
      assert.equal(layer.numParameters, G * H * (I + H) + 2 * G * H * 2 * H);
      const zeros = { data: new Float32Array(6 * 2 * I), shape: [6, 2, I] };
      const out = layer.forward(zeros);
      assert.ok(out.output.data.every((v) => v === 0) && out.hN.data.every((v) => v === 0));
      // With biases the same input moves the state, so the zero above is the missing bias, not a no-op.
      const biased = cell.make({ inputSize: I, hiddenSize: H, numLayers: 3, seed: 2 }).forward(zeros);
      assert.ok(biased.output.data.some((v) => v !== 0));
    });
  }
});

// ---------------------------------------------------------------- dropout

describe('recurrent layers: dropout', function () {
  const I = 4, H = 5, T = 6, B = 3;
  const options: RecurrentOptions = { inputSize: I, hiddenSize: H, numLayers: 3, bidirectional: true, dropout: 0.4, seed: 21 };

  for (const cell of CELLS) {
    it(`${cell.name} applies dropout between layers in training only`, function () {
      const dropping = cell.make(options);
      const plain = cell.make({ ...options, dropout: 0 });
      plain.loadStateDict(dropping.stateDict());
      const x = tensor([T, B, I], 1);
      const inference = plain.forward(x);
      assert.deepEqual(dropping.forward(x), inference, 'inference forward with dropout');
      assert.deepEqual(plain.forward(x, { training: true }), inference, 'training forward without dropout');
      const trained = dropping.forward(x, { training: true });
      assert.ok(!sameBits(trained.output.data, inference.output.data), 'training forward with dropout equals inference');
      // Layer 0 sees x undropped: its final state is the same; only the later layers' differ.
      const S0 = 2 * B * H;  // layer 0, both directions
      assertSameBits(trained.hN.data.subarray(0, S0), inference.hN.data.subarray(0, S0), 'hN of layer 0');
      assert.ok(!sameBits(trained.hN.data.subarray(S0), inference.hN.data.subarray(S0)), 'hN of layers 1-2');
    });

    it(`${cell.name} with one layer ignores dropout, since there is no layer to drop between`, function () {
      const layer = cell.make({ ...options, numLayers: 1 });
      const x = tensor([T, B, I], 2);
      assert.deepEqual(layer.forward(x, { training: true }), layer.forward(x));
    });

    it(`${cell.name} draws a new dropout mask per training forward, reproducibly for a seed`, function () {
      const a = cell.make(options), b = cell.make(options);
      const x = tensor([T, B, I], 3);
      const fromA = [a.forward(x, { training: true }), a.forward(x, { training: true })];
      b.forward(tensor([T + 1, B, I], 4));  // inference calls draw nothing
      const fromB = [b.forward(x, { training: true }), b.forward(x, { training: true })];
      assert.deepEqual(fromB, fromA);
      assert.ok(!sameBits(fromA[0].output.data, fromA[1].output.data), 'two training forwards used the same mask');
      // Backward is reproducible too: it uses the mask of its own forward.
      const g = { dOutput: tensor([T, B, 2 * H], 5) };
      assert.deepEqual(b.backward(g), a.backward(g));
      assert.deepEqual(b.grads(), a.grads());
      // A different seed draws different masks (the parameters are made equal to isolate that).
      const c = cell.make({ ...options, seed: 22 });
      c.loadStateDict(a.stateDict());
      assert.ok(!sameBits(c.forward(x, { training: true }).output.data, fromA[0].output.data));
    });
  }
});

// ---------------------------------------------------------------- padding and final states

describe('recurrent layers: lengths, padding and final states', function () {
  const I = 3, H = 4, L = 2, D = 2, T = 6, B = 4;
  const lengths = new Int32Array([6, 2, 1, 4]);
  const at = (out: Tensor, t: number, b: number, from: number, to: number) => {
    const row = (t * out.shape[1] + b) * out.shape[2];
    return out.data.subarray(row + from, row + to);
  };
  const state = (hN: Tensor, s: number, b: number) => hN.data.subarray((s * B + b) * H, (s * B + b + 1) * H);

  for (const cell of CELLS) {
    it(`${cell.name} leaves padded steps zero and returns the state at each sequence's last valid step`, function () {
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, seed: 4 });
      const x = tensor([T, B, I], 10);
      const h0 = tensor([L * D, B, H], 11, 0.5), c0 = cell.lstm ? tensor([L * D, B, H], 12, 0.5) : undefined;
      const { output, hN } = layer.forward(x, { h0, c0, lengths });
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const row = at(output, t, b, 0, D * H);
          if (t >= lengths[b]) assert.ok(row.every((v) => v === 0), `output[${t}, ${b}] is padding`);
          else assert.ok(row.some((v) => v !== 0), `output[${t}, ${b}] is a valid step`);
        }
        const top = (L - 1) * D;
        assertSameBits(state(hN, top, b), at(output, lengths[b] - 1, b, 0, H), `hN forward, sequence ${b}`);
        assertSameBits(state(hN, top + 1, b), at(output, 0, b, H, 2 * H), `hN reverse, sequence ${b}`);
      }
    });

    it(`${cell.name} computes each padded sequence as if it ran alone at its own length`, function () {
      // The reverse direction must start at each sequence's last valid step, not at T-1.
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, seed: 5 });
      const x = tensor([T, B, I], 20);
      const h0 = tensor([L * D, B, H], 21, 0.5), c0 = cell.lstm ? tensor([L * D, B, H], 22, 0.5) : undefined;
      const batch = layer.forward(x, { h0, c0, lengths });
      for (let b = 0; b < B; b++) {
        const n = lengths[b];
        const xs = new Float32Array(n * I);
        for (let t = 0; t < n; t++) xs.set(x.data.subarray((t * B + b) * I, (t * B + b + 1) * I), t * I);
        const pick = (s: Tensor) => concat(Array.from({ length: L * D }, (_, k) => s.data.subarray((k * B + b) * H, (k * B + b + 1) * H)));
        const alone = layer.forward({ data: xs, shape: [n, 1, I] }, {
          h0: { data: pick(h0), shape: [L * D, 1, H] }, c0: c0 && { data: pick(c0), shape: [L * D, 1, H] },
        });
        const rows = concat(Array.from({ length: n }, (_, t) => at(batch.output, t, b, 0, D * H)));
        // Forward is batch-invariant (native/kernels/rows_gemm.h): the same bits, not only close.
        assert.ok(sameBits(rows, alone.output.data), `output of sequence ${b}`);
        assert.ok(sameBits(pick(batch.hN), alone.hN.data), `hN of sequence ${b}`);
        if (cell.lstm) assert.ok(sameBits(pick(batch.cN!), alone.cN!.data), `cN of sequence ${b}`);
      }
    });
  }
});

// ---------------------------------------------------------------- backward bookkeeping

describe('recurrent layers: backward bookkeeping', function () {
  const I = 3, H = 4, L = 2, D = 2, S = L * D, T = 5, B = 3;
  const options: RecurrentOptions = { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, seed: 8 };
  const lengths = new Int32Array([5, 3, 4]);

  const upstream = (lstm: boolean): OutputGradients => ({
    dOutput: tensor([T, B, D * H], 40), dhN: tensor([S, B, H], 41), dcN: lstm ? tensor([S, B, H], 42) : undefined,
  });
  const forwardOptions = (lstm: boolean): ForwardOptions => ({
    h0: tensor([S, B, H], 43, 0.5), c0: lstm ? tensor([S, B, H], 44, 0.5) : undefined, lengths, training: true,
  });

  for (const cell of CELLS) {
    it(`${cell.name} backward with every upstream gradient omitted gives zero gradients`, function () {
      const layer = cell.make(options);
      layer.forward(tensor([T, B, I], 45), forwardOptions(cell.lstm));
      const g = layer.backward();
      assert.deepEqual(g.dx.shape, [T, B, I]);
      assert.deepEqual(g.dh0.shape, [S, B, H]);
      assert.equal(g.dc0 !== undefined, cell.lstm);
      for (const t of [g.dx, g.dh0, g.dc0]) if (t) assert.ok(t.data.every((v) => v === 0));
      assert.ok(layer.gradients.every((v) => v === 0));
    });

    it(`${cell.name} accumulates gradients across backward calls, and zeroGrad clears them`, function () {
      const once = cell.make(options), twice = cell.make(options);
      const x = tensor([T, B, I], 46);
      once.forward(x, forwardOptions(cell.lstm));
      const first = once.backward(upstream(cell.lstm));
      const single = once.gradients.slice();
      assert.ok(single.some((v) => v !== 0));
      for (let k = 0; k < 2; k++) {
        twice.forward(x, forwardOptions(cell.lstm));
        assert.deepEqual(twice.backward(upstream(cell.lstm)), first);
      }
      const doubled = single.map((v) => 2 * v);
      assertClose(twice.gradients, doubled, 1e-6, 'gradients after two forward+backward');
      // A second backward of the same forward adds the same again.
      assert.deepEqual(twice.backward(upstream(cell.lstm)), first);
      assertClose(twice.gradients, single.map((v) => 3 * v), 1e-6, 'gradients after a third backward');
      twice.zeroGrad();
      assert.ok(twice.gradients.every((v) => v === 0));
      assert.ok(Object.values(twice.grads()).every((t) => t.data.every((v) => v === 0)));
      assert.deepEqual(twice.backward(upstream(cell.lstm)), first);
      assertSameBits(twice.gradients, single, 'gradients after zeroGrad and one backward');
    });

    it(`${cell.name} backward ignores dOutput at padded steps`, function () {
      const layer = cell.make({ ...options, dropout: 0.3 }), reference = cell.make({ ...options, dropout: 0.3 });
      const x = tensor([T, B, I], 51);
      layer.forward(x, forwardOptions(cell.lstm));
      reference.forward(x, forwardOptions(cell.lstm));
      const noisy = upstream(cell.lstm), clean = upstream(cell.lstm);
      const row = D * H;
      for (let b = 0; b < B; b++) {
        for (let t = lengths[b]; t < T; t++) clean.dOutput!.data.fill(0, (t * B + b) * row, (t * B + b + 1) * row);
      }
      assert.ok(!sameBits(noisy.dOutput!.data, clean.dOutput!.data));
      assert.deepEqual(layer.backward(noisy), reference.backward(clean));
      assert.deepEqual(layer.grads(), reference.grads());
    });

    it(`${cell.name} backward is not changed by an inference forward between it and its training forward`, function () {
      const layer = cell.make({ ...options, dropout: 0.3 }), reference = cell.make({ ...options, dropout: 0.3 });
      const x = tensor([T, B, I], 47);
      layer.forward(x, forwardOptions(cell.lstm));
      reference.forward(x, forwardOptions(cell.lstm));
      // Another shape, other lengths, another initial state.
      layer.forward(tensor([T + 3, B + 2, I], 48), {
        lengths: new Int32Array([1, 8, 2, 8, 7]), h0: tensor([S, B + 2, H], 49),
        c0: cell.lstm ? tensor([S, B + 2, H], 50) : undefined,
      });
      assert.deepEqual(layer.backward(upstream(cell.lstm)), reference.backward(upstream(cell.lstm)));
      assert.deepEqual(layer.grads(), reference.grads());
    });
  }
});

// ---------------------------------------------------------------- truncated BPTT

/** Loss sum(output*w) + sum(hN*v) (+ sum(cN*u) for LSTM), in float64; `weights` are w, v, u. */
interface LossWeights { w: Float32Array; v: Float32Array; u?: Float32Array }

function lossOf(out: RecurrentOutput, lw: LossWeights): number {
  return dot(out.output.data, lw.w) + dot(out.hN.data, lw.v) + (out.cN && lw.u ? dot(out.cN.data, lw.u) : 0);
}

function lossGradients(out: RecurrentOutput, lw: LossWeights): OutputGradients {
  return {
    dOutput: { data: lw.w, shape: out.output.shape },
    dhN: { data: lw.v, shape: out.hN.shape },
    dcN: out.cN && lw.u ? { data: lw.u, shape: out.cN.shape } : undefined,
  };
}

// Central differences in float32 with eps = 1e-2: the truncation error is eps^2/6 times a third
// derivative of order one here (about 2e-5), and float32 rounding of a loss of order one adds about
// 1e-7/eps = 1e-5; 2e-3 absolute plus 2e-2 relative leaves a wide margin above both, while a wrong
// gradient (a missed term, a wrong mask, a transposed weight) is off by far more.
const EPS = 1e-2;
const tolerance = (a: number, b: number) => 2e-3 + 2e-2 * Math.max(Math.abs(a), Math.abs(b));

function assertGradientsMatch(analytic: number, numeric: number, what: string): void {
  assert.ok(Math.abs(analytic - numeric) <= tolerance(analytic, numeric), `${what}: analytic ${analytic}, finite difference ${numeric}`);
}

/**
 * d loss / d p by central differences of `loss(delta)` = the loss with p moved by delta. A ReLU
 * network is only piecewise smooth: when a pre-activation changes sign within [p - eps, p + eps] the
 * central difference averages two slopes and is simply wrong, and the forward and backward one-sided
 * differences then disagree by far more than curvature explains. With `kinks`, such a disagreement
 * shrinks eps (by 4, down to 1e-3, where float32 rounding is still ~1e-4) until the interval is
 * kink-free. The estimate is still compared with the same tolerance, so this cannot hide a wrong
 * gradient; it only avoids a wrong reference.
 */
function centralDifference(loss: (delta: number) => number, kinks: boolean): number {
  const f0 = kinks ? loss(0) : NaN;
  for (let eps = EPS; ; eps /= 4) {
    const up = loss(eps), down = loss(-eps);
    const central = (up - down) / (2 * eps);
    if (!kinks || eps / 4 < 1e-3) return central;
    const forward = (up - f0) / eps, backward = (f0 - down) / eps;
    if (Math.abs(forward - backward) <= tolerance(forward, backward)) return central;
  }
}

describe('recurrent layers: truncated BPTT', function () {
  const I = 3, H = 5, L = 2, S = L, T = 12, B = 2, CHUNK = 4;

  for (const cell of CELLS) {
    it(`${cell.name} run in chunks of ${CHUNK} with the state carried matches one forward over T=${T}`, function () {
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: L, seed: 13 });
      const x = tensor([T, B, I], 60);
      const h0 = tensor([S, B, H], 61, 0.5), c0 = cell.lstm ? tensor([S, B, H], 62, 0.5) : undefined;
      const whole = layer.forward(x, { h0, c0 });
      let h: Tensor = h0, c: Tensor | undefined = c0;
      const outputs: Float32Array[] = [];
      for (let t = 0; t < T; t += CHUNK) {
        const xs = { data: x.data.slice(t * B * I, (t + CHUNK) * B * I), shape: [CHUNK, B, I] };
        const out = layer.forward(xs, { h0: h, c0: c });
        outputs.push(out.output.data);
        h = out.hN;
        c = out.cN;
      }
      assertClose(concat(outputs), whole.output.data, 1e-6, 'output');
      assertClose(h.data, whole.hN.data, 1e-6, 'hN');
      if (cell.lstm) assertClose(c!.data, whole.cN!.data, 1e-6, 'cN');
    });

    it(`${cell.name} gives the last chunk a dh0${cell.lstm ? ' and dc0' : ''} that matches finite differences through that chunk`, function () {
      const layer = cell.make({ inputSize: I, hiddenSize: H, numLayers: L, seed: 14 });
      const x = tensor([T, B, I], 63);
      let h: Tensor | undefined, c: Tensor | undefined;
      for (let t = 0; t < T - CHUNK; t += CHUNK) {  // earlier chunks carry the state only
        const out = layer.forward({ data: x.data.slice(t * B * I, (t + CHUNK) * B * I), shape: [CHUNK, B, I] }, { h0: h, c0: c });
        h = out.hN;
        c = out.cN;
      }
      const last = { data: x.data.slice((T - CHUNK) * B * I), shape: [CHUNK, B, I] };
      const lw: LossWeights = { w: randomArray(CHUNK * B * H, 64), v: randomArray(S * B * H, 65), u: cell.lstm ? randomArray(S * B * H, 66) : undefined };
      const out = layer.forward(last, { h0: h, c0: c, training: true });
      const g = layer.backward(lossGradients(out, lw));
      assert.ok(g.dh0.data.some((v) => v !== 0));
      const kinks = cell.name === 'RNN (relu)';
      const through = (h0: Tensor, c0?: Tensor) => lossOf(layer.forward(last, { h0, c0 }), lw);
      const perturbed = (t: Tensor, i: number, delta: number): Tensor => {
        const data = t.data.slice();
        data[i] += delta;
        return { data, shape: t.shape };
      };
      for (const i of [0, 3, 7, 12, 19]) {  // both layers, both sequences
        const numeric = centralDifference((delta) => through(perturbed(h!, i, delta), c), kinks);
        assertGradientsMatch(g.dh0.data[i], numeric, `dh0[${i}]`);
        if (cell.lstm) {
          const numericC = centralDifference((delta) => through(h!, perturbed(c!, i, delta)), kinks);
          assertGradientsMatch(g.dc0!.data[i], numericC, `dc0[${i}]`);
        }
      }
    });
  }
});

// ---------------------------------------------------------------- safetensors

describe('recurrent layers: saving and loading', function () {
  let dir: string;
  before(function () { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-behaviour-')); });
  after(function () { fs.rmSync(dir, { recursive: true, force: true }); });

  for (const cell of CELLS) {
    it(`${cell.name} saved with saveSafetensors and loaded into a new layer reproduces its outputs exactly`, function () {
      const options: RecurrentOptions = { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true };
      const saved = cell.make({ ...options, seed: 31 });
      const file = path.join(dir, `${cell.name.replace(/\W+/g, '-')}.safetensors`);
      saveSafetensors(file, saved.stateDict(), { config: JSON.stringify(options) });
      const loaded = loadSafetensors(file);
      assert.deepEqual(JSON.parse(loaded.metadata.config), options);
      const fresh = cell.make({ ...options, seed: 32 });
      const x = tensor([5, 2, 3], 70);
      assert.ok(!sameBits(fresh.forward(x).output.data, saved.forward(x).output.data));
      fresh.loadStateDict(loaded.tensors);
      assert.deepEqual(fresh.stateDict(), saved.stateDict());
      const h0 = tensor([4, 2, 4], 71), c0 = cell.lstm ? tensor([4, 2, 4], 72) : undefined;
      const lengths = new Int32Array([5, 3]);
      assert.deepEqual(fresh.forward(x, { h0, c0, lengths }), saved.forward(x, { h0, c0, lengths }));
    });
  }
});

// ---------------------------------------------------------------- gradient check

// How the check copes with dropout: every training forward draws a new dropout seed from the layer's
// generator, so two forwards of one layer use different masks and central differences across them
// would measure the mask, not the gradient. But the generator's state after construction depends
// only on the seed (initialisation draws a fixed number of values, loadStateDict draws none), so the
// first training forward of any layer built with the same seed uses the same mask. Each loss
// evaluation therefore builds a fresh layer with the reference's seed, loads the perturbed parameters
// (or takes the perturbed x) and runs exactly one training forward. The test first confirms the
// premise (an unperturbed fresh layer reproduces the reference's training output bit for bit, and
// that output differs from inference, so dropout is really on), and finally that gradients computed
// without the mask would fail the same check, so it does test that backward uses the forward's mask.
describe('recurrent layers: finite-difference gradient check (2 layers, bidirectional, dropout 0.3, training)', function () {
  const I = 3, H = 4, L = 2, D = 2, S = L * D, T = 5, B = 3;
  const options: RecurrentOptions = { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, dropout: 0.3, seed: 17 };
  const lengths = new Int32Array([5, 2, 4]);

  for (const cell of CELLS) {
    it(`${cell.name} backward matches central differences of the loss on parameters and x`, function () {
      const x = tensor([T, B, I], 80);
      const h0 = tensor([S, B, H], 81, 0.5), c0 = cell.lstm ? tensor([S, B, H], 82, 0.5) : undefined;
      const lw: LossWeights = { w: randomArray(T * B * D * H, 83), v: randomArray(S * B * H, 84), u: cell.lstm ? randomArray(S * B * H, 85) : undefined };
      const kinks = cell.name === 'RNN (relu)';
      const train = (layer: Recurrent, input: Tensor) => layer.forward(input, { h0, c0, lengths, training: true });

      const reference = cell.make(options);
      const dict = reference.stateDict();
      const out = train(reference, x);
      const loss = lossOf(out, lw);
      const g = reference.backward(lossGradients(out, lw));
      const grads = reference.grads();

      // The premise: same seed, same first mask; and dropout does act.
      const again = train(cell.make(options), x);
      assert.ok(sameBits(again.output.data, out.output.data) && sameBits(again.hN.data, out.hN.data));
      assert.ok(!sameBits(out.output.data, reference.forward(x, { h0, c0, lengths }).output.data));

      const lossWithParams = (name: string, i: number, delta: number) => {
        const layer = cell.make(options);
        const d = layer.stateDict();
        d[name].data.set(dict[name].data);
        d[name].data[i] += delta;
        layer.loadStateDict(d);
        return lossOf(train(layer, x), lw);
      };
      const lossWithX = (i: number, delta: number) => {
        const data = x.data.slice();
        data[i] += delta;
        return lossOf(train(cell.make(options), { data, shape: x.shape }), lw);
      };
      assert.equal(lossWithParams('weight_ih_l0', 0, 0), loss);

      const checked: Array<{ what: string; analytic: number; numeric: number; name?: string; i: number }> = [];
      Object.keys(dict).forEach((name, k) => {  // one entry of every tensor: both layers, both directions
        const i = (7 * k + 3) % dict[name].data.length;
        const numeric = centralDifference((delta) => lossWithParams(name, i, delta), kinks);
        checked.push({ what: `${name}[${i}]`, analytic: grads[name].data[i], numeric, name, i });
      });
      for (const i of [0, 4, 13, 20, 31, 44]) {  // several steps and sequences, padded ones included
        const numeric = centralDifference((delta) => lossWithX(i, delta), kinks);
        checked.push({ what: `x[${i}]`, analytic: g.dx.data[i], numeric, i });
      }
      for (const c of checked) assertGradientsMatch(c.analytic, c.numeric, c.what);
      assert.ok(checked.some((c) => Math.abs(c.numeric) > 1e-2), 'every checked gradient is near zero');
      // x[44] is at t=4 of sequence 2 (length 4): padding, so its gradient is exactly zero.
      assert.equal(g.dx.data[44], 0);

      // Without the mask the gradients of layer 1's input weights are different: the check above would catch
      // a backward that ignored (or redrew) the forward's mask.
      const unmasked = cell.make({ ...options, dropout: 0 });
      unmasked.loadStateDict(dict);
      unmasked.backward(lossGradients(train(unmasked, x), lw));
      const unmaskedGrads = unmasked.grads();
      const layer1 = checked.filter((c) => c.name?.startsWith('weight_ih_l1'));
      assert.ok(layer1.length === 2);
      assert.ok(layer1.some((c) => Math.abs(unmaskedGrads[c.name!].data[c.i] - c.numeric) >
        tolerance(c.numeric, unmaskedGrads[c.name!].data[c.i])), 'gradients without the dropout mask pass the check as well, so it does not test the mask');
    });
  }
});
