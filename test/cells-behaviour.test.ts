// Behaviour of RNNCell (tanh/relu), GRUCell and LSTMCell through the public API: PyTorch's names and
// init, a cell stepped T times against the full layer over T steps, finite-difference gradients through
// a loop, sync against async, tapes (each step's backward is its own, whatever else runs), save/load,
// and the lifecycle of async calls.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSafetensors, saveSafetensors, type CellTape, type RecurrentCell, type Tensor } from '../lib';
import { CELL_KINDS, assertSameBits, cellStateOf, runLoop, stepOf, tensor, type LoopInputs } from './helpers/cells';
import { assertClose } from './helpers/compare';

const I = 3, H = 4, B = 3, T = 5;

function loopInputs(lstm: boolean, seed: number, steps = T, batch = B): LoopInputs {
  return {
    x: tensor([steps, batch, I], seed),
    h0: tensor([batch, H], seed + 1, 0.5),
    c0: lstm ? tensor([batch, H], seed + 2, 0.5) : undefined,
    dH: tensor([steps, batch, H], seed + 3),
    dC: lstm ? tensor([steps, batch, H], seed + 4) : undefined,
  };
}

function assertSameResults(a: Awaited<ReturnType<typeof runLoop>>, b: Awaited<ReturnType<typeof runLoop>>, what: string): void {
  assertSameBits(a.h.data, b.h.data, `${what}: h`);
  if (a.c || b.c) assertSameBits(a.c!.data, b.c!.data, `${what}: c`);
  assertSameBits(a.dx.data, b.dx.data, `${what}: dx`);
  assertSameBits(a.dh0.data, b.dh0.data, `${what}: dh0`);
  if (a.dc0 || b.dc0) assertSameBits(a.dc0!.data, b.dc0!.data, `${what}: dc0`);
}

// ---------------------------------------------------------------- parameters

describe('recurrent cells: parameters', function () {
  for (const kind of CELL_KINDS) {
    it(`${kind.name} names its parameters as PyTorch's cell does, with its shapes`, function () {
      const G = kind.gates;
      const cell = kind.make({ inputSize: I, hiddenSize: H });
      assert.deepEqual(cell.parameterShapes(), [
        ['weight_ih', [G * H, I]], ['weight_hh', [G * H, H]], ['bias_ih', [G * H]], ['bias_hh', [G * H]],
      ]);
      assert.deepEqual(kind.make({ inputSize: I, hiddenSize: H, bias: false }).parameterShapes(),
        [['weight_ih', [G * H, I]], ['weight_hh', [G * H, H]]]);
      assert.equal(cell.hasCellState, kind.lstm);
      assert.deepEqual(Object.keys(cell.grads()), ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']);
    });

    it(`${kind.name} draws every parameter from U(-1/sqrt(H), 1/sqrt(H)), as the one-layer layer of the same seed`, function () {
      const cell = kind.make({ inputSize: I, hiddenSize: H, seed: 21 });
      const k = 1 / Math.sqrt(H);
      assert.ok(cell.parameters.every((v) => v >= -k && v < k));
      assert.deepEqual(cell.stateDict(), kind.make({ inputSize: I, hiddenSize: H, seed: 21 }).stateDict());
      assert.notDeepEqual(cell.stateDict(), kind.make({ inputSize: I, hiddenSize: H, seed: 22 }).stateDict());
      assert.deepEqual(cell.stateDict(), cellStateOf(kind.layer({ inputSize: I, hiddenSize: H, seed: 21 }).stateDict()));
    });

    it(`${kind.name} saves its stateDict as safetensors and a new cell loaded from it steps identically`, async function () {
      const cell = kind.make({ inputSize: I, hiddenSize: H, seed: 23 });
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-cell-')), 'cell.safetensors');
      try {
        saveSafetensors(file, cell.stateDict());
        const again = kind.make({ inputSize: I, hiddenSize: H, seed: 99 });
        again.loadStateDict(loadSafetensors(file).tensors);
        assertSameResults(await runLoop(again, loopInputs(kind.lstm, 24)), await runLoop(cell, loopInputs(kind.lstm, 24)), 'loaded');
        assert.deepEqual(again.grads(), cell.grads());
      } finally {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
    });
  }
});

// ---------------------------------------------------------------- against the layer

describe('recurrent cells: a cell stepped T times against the layer over T steps', function () {
  // Small, small without bias, and wide enough that the kernels take their vector and blocked paths.
  const SHAPES = [
    { I, H, B, steps: 7, bias: true }, { I, H, B, steps: 7, bias: false }, { I: 16, H: 32, B: 8, steps: 6, bias: true },
  ];
  for (const kind of CELL_KINDS) {
    for (const s of SHAPES) {
      const label = `I=${s.I}, H=${s.H}, B=${s.B}, T=${s.steps}${s.bias ? '' : ', no bias'}`;
      it(`${kind.name} (${label}) gives the layer's output bit for bit and its gradients within 1e-5 of scale`, async function () {
        const layer = kind.layer({ inputSize: s.I, hiddenSize: s.H, bias: s.bias, seed: 31 });
        const cell = kind.make({ inputSize: s.I, hiddenSize: s.H, bias: s.bias, seed: 32 });
        cell.loadStateDict(cellStateOf(layer.stateDict()));
        const inputs: LoopInputs = {
          x: tensor([s.steps, s.B, s.I], 33), h0: tensor([s.B, s.H], 34, 0.5),
          c0: kind.lstm ? tensor([s.B, s.H], 35, 0.5) : undefined, dH: tensor([s.steps, s.B, s.H], 36),
        };
        const state = (t?: Tensor) => t && { data: t.data, shape: [1, ...t.shape] };
        const out = layer.forward(inputs.x, { h0: state(inputs.h0), c0: state(inputs.c0), training: true });
        // The layer's dOutput is every step's dH, and neither side has a gradient of c: the same loss.
        const grads = layer.backward({ dOutput: inputs.dH });
        const loop = await runLoop(cell, inputs);

        // Forward: the same kernels on the same rows (rows_gemm.h is batch- and shape-invariant).
        assertSameBits(loop.h.data, out.output.data, 'every step\'s h against output');
        assertSameBits(stepOf(loop.h, s.steps - 1).data, out.hN.data, 'last h against hN');
        if (kind.lstm) assertSameBits(stepOf(loop.c!, s.steps - 1).data, out.cN!.data, 'last c against cN');
        // Backward: one step per call against one BPTT over T steps. The weight gradients are summed over
        // the steps in another order (one GEMM over T*B rows in the layer, T adds in the loop), and the
        // layer's per-step products take the packed path from T = 4 on: agreement within rounding only
        // (seen: up to 3e-7 of scale; dx and dh0 bit for bit at H = 4, not at H = 32).
        const TOL = 1e-5;
        assertClose(loop.dx.data, grads.dx.data, TOL, 'dx');
        assertClose(loop.dh0.data, grads.dh0.data, TOL, 'dh0');
        if (kind.lstm) assertClose(loop.dc0!.data, grads.dc0!.data, TOL, 'dc0');
        const layerGrads = cellStateOf(layer.grads()), cellGrads = cell.grads();
        assert.deepEqual(Object.keys(cellGrads), Object.keys(layerGrads));
        for (const name of Object.keys(cellGrads)) assertClose(cellGrads[name].data, layerGrads[name].data, TOL, `grad ${name}`);
      });
    }
  }
});

// ---------------------------------------------------------------- finite differences

// As in recurrent-behaviour.test.ts: central differences of the float32 kernels with eps = 1e-2 and the
// loss summed in float64 (JS numbers); the truncation error (~eps^2/6, 2e-5) and the float32 rounding of
// a loss of order one (~1e-7/eps) stay far below 2e-3 absolute + 2e-2 relative, while a wrong gradient
// (a dropped dh0 between steps, a wrong gate, a transposed weight) is off by far more.
const EPS = 1e-2;
const tolerance = (a: number, b: number) => 2e-3 + 2e-2 * Math.max(Math.abs(a), Math.abs(b));

/** d loss / d p by central differences; a ReLU kink inside [p - eps, p + eps] shrinks eps (down to 1e-3). */
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

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** sum_t sum(h_t * dH[t]) (+ sum_t sum(c_t * dC[t])) of an inference loop: the loss runLoop differentiates. */
function loopLoss(cell: RecurrentCell, inputs: LoopInputs): number {
  let h = inputs.h0, c = inputs.c0, loss = 0;
  for (let t = 0; t < inputs.x.shape[0]; t++) {
    const out = cell.forward(stepOf(inputs.x, t), { h, c });
    loss += dot(out.h.data, stepOf(inputs.dH!, t).data);
    if (out.c) loss += dot(out.c.data, stepOf(inputs.dC!, t).data);
    h = out.h;
    c = out.c;
  }
  return loss;
}

function moved(t: Tensor, i: number, delta: number): Tensor {
  const data = t.data.slice();
  data[i] += delta;
  return { data, shape: t.shape };
}

describe('recurrent cells: gradients through a loop against finite differences', function () {
  const steps = 4, batch = 2;
  for (const kind of CELL_KINDS) {
    it(`${kind.name}: every parameter, x at the first and last step, h0${kind.lstm ? ' and c0' : ''}`, async function () {
      const cell = kind.make({ inputSize: I, hiddenSize: H, seed: 41 });
      const inputs = loopInputs(kind.lstm, 42, steps, batch);
      const g = await runLoop(cell, inputs);
      const kinks = kind.name === 'RNNCell (relu)';
      const check = (analytic: number, loss: (delta: number) => number, what: string) => {
        const numeric = centralDifference(loss, kinks);
        assert.ok(Math.abs(analytic - numeric) <= tolerance(analytic, numeric), `${what}: analytic ${analytic}, finite difference ${numeric}`);
      };
      const grads = cell.grads();
      let offset = 0;
      for (const [name, shape] of cell.parameterShapes()) {
        const n = shape.reduce((a, b) => a * b, 1);
        assert.ok(grads[name].data.some((v) => v !== 0), `${name} has a gradient`);
        for (const i of [0, Math.floor(n / 2), n - 1]) {
          const p = offset + i, saved = cell.parameters[p];
          check(grads[name].data[i], (delta) => {
            cell.parameters[p] = saved + delta;
            try { return loopLoss(cell, inputs); } finally { cell.parameters[p] = saved; }
          }, `${name}[${i}]`);
        }
        offset += n;
      }
      const xSize = batch * I;
      for (const i of [0, xSize - 1, (steps - 1) * xSize, steps * xSize - 1]) {
        check(g.dx.data[i], (delta) => loopLoss(cell, { ...inputs, x: moved(inputs.x, i, delta) }), `x[${i}]`);
      }
      for (const i of [0, batch * H - 1]) {
        check(g.dh0.data[i], (delta) => loopLoss(cell, { ...inputs, h0: moved(inputs.h0!, i, delta) }), `h0[${i}]`);
        if (kind.lstm) check(g.dc0!.data[i], (delta) => loopLoss(cell, { ...inputs, c0: moved(inputs.c0!, i, delta) }), `c0[${i}]`);
      }
    });
  }
});

// ---------------------------------------------------------------- sync and async, tapes

describe('recurrent cells: sync and async, and what a tape ties together', function () {
  for (const kind of CELL_KINDS) {
    it(`${kind.name} forwardAsync/backwardAsync give the synchronous calls' bits`, async function () {
      const sync = kind.make({ inputSize: I, hiddenSize: H, seed: 51 });
      const async = kind.make({ inputSize: I, hiddenSize: H, seed: 51 });
      const inputs = loopInputs(kind.lstm, 52);
      assertSameResults(await runLoop(async, inputs, 'async'), await runLoop(sync, inputs, 'sync'), 'async against sync');
      assertSameBits(async.gradients, sync.gradients, 'gradients');
      const x = stepOf(inputs.x, 0);
      const a = await async.forwardAsync(x, { h: inputs.h0, c: inputs.c0 }), s = sync.forward(x, { h: inputs.h0, c: inputs.c0 });
      assertSameBits(a.h.data, s.h.data, 'inference h');
      if (kind.lstm) assertSameBits(a.c!.data, s.c!.data, 'inference c');
      assert.equal(a.tape, undefined, 'an inference forward returns no tape');
    });

    it(`${kind.name} differentiates two loops interleaved on one cell as each alone: tapes keep the steps apart`, async function () {
      const cell = kind.make({ inputSize: I, hiddenSize: H, seed: 53 });
      const one = loopInputs(kind.lstm, 54), two = loopInputs(kind.lstm, 55, T, 2);
      const alone1 = kind.make({ inputSize: I, hiddenSize: H, seed: 53 }), alone2 = kind.make({ inputSize: I, hiddenSize: H, seed: 53 });
      const want1 = await runLoop(alone1, one), want2 = await runLoop(alone2, two);

      // Forward both loops step by step in turn, with inference forwards in between, then backward
      // the second loop's last step first, alternating.
      const state = [{ h: one.h0, c: one.c0 }, { h: two.h0, c: two.c0 }];
      const tapes: CellTape[][] = [[], []];
      for (let t = 0; t < T; t++) {
        for (const [k, inputs] of [one, two].entries()) {
          const out = cell.forward(stepOf(inputs.x, t), { ...state[k], training: true });
          tapes[k].push(out.tape);
          state[k] = { h: out.h, c: out.c };
          cell.forward(tensor([4, I], 56 + t));  // another batch size, no tape
        }
      }
      const next: Array<{ dh?: Tensor; dc?: Tensor }> = [{}, {}];
      const dx: Float32Array[][] = [[], []];
      for (let t = T - 1; t >= 0; t--) {
        for (const k of [1, 0]) {
          const inputs = [one, two][k];
          const add = (a: Tensor, b?: Tensor) => ({ data: b ? a.data.map((v, i) => v + b.data[i]) : a.data, shape: a.shape });
          const g = cell.backward(tapes[k][t], {
            dh: add(stepOf(inputs.dH!, t), next[k].dh),
            dc: kind.lstm ? add(stepOf(inputs.dC!, t), next[k].dc) : undefined,
          });
          next[k] = { dh: g.dh0, dc: g.dc0 };
          dx[k][t] = g.dx.data;
        }
      }
      for (const [k, want] of [want1, want2].entries()) {
        for (let t = 0; t < T; t++) assertSameBits(dx[k][t], stepOf(want.dx, t).data, `loop ${k + 1}: dx at step ${t}`);
        assertSameBits(next[k].dh!.data, want.dh0.data, `loop ${k + 1}: dh0`);
        if (kind.lstm) assertSameBits(next[k].dc!.data, want.dc0!.data, `loop ${k + 1}: dc0`);
      }
      // The weight gradients are the two loops' sums, added in another order.
      const both = alone1.gradients.map((v, i) => v + alone2.gradients[i]);
      assertClose(cell.gradients, both, 1e-6, 'gradients of both loops');
    });

    it(`${kind.name} backward is unchanged when the caller reuses its x, h${kind.lstm ? ', c' : ''} and output buffers after forward`, function () {
      const cell = kind.make({ inputSize: I, hiddenSize: H, seed: 57 }), reference = kind.make({ inputSize: I, hiddenSize: H, seed: 57 });
      const x = tensor([B, I], 58), h = tensor([B, H], 59, 0.5), c = kind.lstm ? tensor([B, H], 60, 0.5) : undefined;
      const copy = (t?: Tensor) => t && { data: t.data.slice(), shape: t.shape };
      const out = cell.forward(x, { h, c, training: true });
      const want = reference.forward(copy(x)!, { h: copy(h), c: copy(c), training: true });
      for (const t of [x, h, c, out.h, out.c]) t?.data.fill(7);
      const dh = tensor([B, H], 61), dc = kind.lstm ? tensor([B, H], 62) : undefined;
      assert.deepEqual(cell.backward(out.tape, { dh, dc }), reference.backward(want.tape, { dh, dc }));
      assertSameBits(cell.gradients, reference.gradients, 'gradients');
    });

    it(`${kind.name} accumulates gradients over backward calls until zeroGrad`, async function () {
      const cell = kind.make({ inputSize: I, hiddenSize: H, seed: 63 });
      const inputs = loopInputs(kind.lstm, 64);
      await runLoop(cell, inputs);
      const once = cell.gradients.slice();
      await runLoop(cell, inputs);
      assertClose(cell.gradients, once.map((v) => 2 * v), 1e-6, 'two loops');
      cell.zeroGrad();
      assert.ok(cell.gradients.every((v) => v === 0));
      await runLoop(cell, inputs);
      assertSameBits(cell.gradients, once, 'after zeroGrad');
    });
  }

  it('an async call in flight refuses every other use of the cell (ERR_RNNKIT_BUSY), then the cell works', async function () {
    const kind = CELL_KINDS[3];
    const cell = kind.make({ inputSize: I, hiddenSize: H, seed: 65 });
    const x = tensor([B, I], 66);
    const first = cell.forward(x, { training: true });
    const pending = cell.forwardAsync(tensor([B, I], 67), { training: true });
    const busy = (fn: () => unknown) => assert.throws(fn, (e: { code?: string }) => e.code === 'ERR_RNNKIT_BUSY');
    busy(() => cell.forward(x));
    busy(() => cell.backward(first.tape));
    busy(() => cell.stateDict());
    busy(() => cell.zeroGrad());
    const second = await pending;
    const back = cell.backwardAsync(second.tape);
    busy(() => cell.backward(first.tape));
    await back;
    cell.backward(first.tape);  // still pending, and still valid
  });

  it('dispose() frees the cell: every later call is refused with ERR_RNNKIT_DISPOSED', function () {
    const cell = CELL_KINDS[2].make({ inputSize: I, hiddenSize: H });
    const { tape } = cell.forward(tensor([B, I], 68), { training: true });
    cell.dispose();
    cell.dispose();  // a second dispose is a no-op, as for the layers
    const disposed = (fn: () => unknown) => assert.throws(fn, (e: { code?: string }) => e.code === 'ERR_RNNKIT_DISPOSED');
    disposed(() => cell.forward(tensor([B, I], 69)));
    disposed(() => cell.backward(tape));
    disposed(() => cell.stateDict());
  });
});
