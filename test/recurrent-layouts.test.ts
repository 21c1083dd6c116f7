// Input layouts of the recurrent layers (RNN tanh/relu, GRU, LSTM) beyond time-major [T, B, F]:
// batchFirst [B, T, F] and unbatched [T, F]. Each gives bit for bit what the time-major path gives
// on the same data (outputs, final states, input and weight gradients), sync and async, and a wrong
// shape in either layout is refused, naming the argument, with the layer left exactly as it was.

import assert from 'node:assert/strict';
import {
  GRU, type ForwardOptions, type InputGradients, type OutputGradients, type Recurrent, type RecurrentOptions,
  type RecurrentOutput, type Tensor,
} from '../lib';
import { RECURRENT_KINDS, seededTensor, type RecurrentKind } from './helpers/recurrent-kinds';

// ---------------------------------------------------------------- helpers

const CELLS = RECURRENT_KINDS;
const tensor = seededTensor;

/** [A, C, F] -> [C, A, F], written plainly (independent of the library's own copy). */
function swapped(t: Tensor): Tensor {
  const [A, C, F] = t.shape;
  const data = new Float32Array(t.data.length);
  for (let a = 0; a < A; a++) {
    for (let c = 0; c < C; c++) {
      for (let f = 0; f < F; f++) data[(c * A + a) * F + f] = t.data[(a * C + c) * F + f];
    }
  }
  return { data, shape: [C, A, F] };
}

/** The same data under another shape (a view). */
const reshaped = (t: Tensor, shape: number[]): Tensor => ({ data: t.data, shape });

function assertSameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: ${a[i]} !== ${b[i]}`);
  }
}

function assertSameTensor(got: Tensor | undefined, want: Tensor | undefined, shape: number[], what: string): void {
  assert.ok(got && want, `${what}: missing`);
  assert.deepEqual(got.shape, shape, `${what}: shape`);
  assertSameBits(got.data, want.data, what);
}

function assertSameGradients(got: Recurrent, want: Recurrent): void {
  assert.ok(want.gradients.some((v) => v !== 0), 'the reference accumulated no gradient');
  assertSameBits(got.gradients, want.gradients, 'weight gradients');
}

// Two layers, both directions and dropout (same seed: same parameters and the same masks, which are
// drawn over time-major positions in both layouts), padded sequences and every initial state.
const I = 3, H = 4, L = 2, D = 2, S = L * D, DH = D * H, T = 6, B = 4;
const OPTIONS: RecurrentOptions = { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, dropout: 0.3, seed: 7 };
const LENGTHS = new Int32Array([6, 2, 1, 4]);

interface Pass { out: RecurrentOutput; grads: InputGradients }

async function pass(layer: Recurrent, x: Tensor, options: ForwardOptions, upstream: OutputGradients, async: boolean): Promise<Pass> {
  const training = { ...options, training: true };
  const out = async ? await layer.forwardAsync(x, training) : layer.forward(x, training);
  const grads = async ? await layer.backwardAsync(upstream) : layer.backward(upstream);
  return { out, grads };
}

// ---------------------------------------------------------------- batchFirst

describe('recurrent layers: batchFirst', function () {
  for (const cell of CELLS) {
    it(`${cell.name} with batchFirst keeps the parameters, names and shapes of a time-major layer and says so`, function () {
      const timeMajor = cell.make(OPTIONS), batchFirst = cell.make({ ...OPTIONS, batchFirst: true });
      assert.equal(timeMajor.batchFirst, false);
      assert.equal(batchFirst.batchFirst, true);
      assert.equal(cell.make({ ...OPTIONS, batchFirst: false }).batchFirst, false);
      assert.deepEqual(batchFirst.stateDict(), timeMajor.stateDict());  // batchFirst is not a parameter
      assert.deepEqual(batchFirst.parameterShapes(), timeMajor.parameterShapes());
      const other = cell.make({ ...OPTIONS, seed: 8 });
      batchFirst.loadStateDict(other.stateDict());
      assert.deepEqual(batchFirst.stateDict(), other.stateDict());
    });

    for (const async of [false, true]) {
      it(`${cell.name} with batchFirst equals the time-major path on transposed data bit for bit${async ? ' (async)' : ''}: ` +
        'outputs, final states, dx, dh0 and weight gradients (2 layers, bidirectional, dropout, lengths)', async function () {
        const timeMajor = cell.make(OPTIONS), batchFirst = cell.make({ ...OPTIONS, batchFirst: true });
        const x = tensor([T, B, I], 1);
        const options: ForwardOptions = {
          h0: tensor([S, B, H], 2, 0.5), c0: cell.lstm ? tensor([S, B, H], 3, 0.5) : undefined, lengths: LENGTHS,
        };
        const dOutput = tensor([T, B, DH], 4), dhN = tensor([S, B, H], 5), dcN = cell.lstm ? tensor([S, B, H], 6) : undefined;
        const want = await pass(timeMajor, x, options, { dOutput, dhN, dcN }, async);
        const got = await pass(batchFirst, swapped(x), options, { dOutput: swapped(dOutput), dhN, dcN }, async);

        assertSameTensor(got.out.output, swapped(want.out.output), [B, T, DH], 'output');
        assertSameTensor(got.out.hN, want.out.hN, [S, B, H], 'hN');
        if (cell.lstm) assertSameTensor(got.out.cN, want.out.cN, [S, B, H], 'cN');
        else assert.equal(got.out.cN, undefined);
        assertSameTensor(got.grads.dx, swapped(want.grads.dx), [B, T, I], 'dx');
        assertSameTensor(got.grads.dh0, want.grads.dh0, [S, B, H], 'dh0');
        if (cell.lstm) assertSameTensor(got.grads.dc0, want.grads.dc0, [S, B, H], 'dc0');
        assertSameGradients(batchFirst, timeMajor);
        // The caller's arrays are read, never written.
        assertSameBits(x.data, tensor([T, B, I], 1).data, 'x after the calls');
      });
    }

    it(`${cell.name} with batchFirst and an inference forward equals the time-major one, and leaves padding zero`, function () {
      const timeMajor = cell.make(OPTIONS), batchFirst = cell.make({ ...OPTIONS, batchFirst: true });
      const x = tensor([T, B, I], 11);
      const want = timeMajor.forward(x, { lengths: LENGTHS });
      const got = batchFirst.forward(swapped(x), { lengths: LENGTHS });
      assertSameTensor(got.output, swapped(want.output), [B, T, DH], 'output');
      assertSameTensor(got.hN, want.hN, [S, B, H], 'hN');
      for (let b = 0; b < B; b++) {
        const padding = got.output.data.subarray((b * T + LENGTHS[b]) * DH, (b + 1) * T * DH);
        assert.ok(padding.every((v) => v === 0), `sequence ${b}: padded steps`);
      }
    });

    // [B, 1, F] and [1, T, F] are the same memory as their time-major twins: the layer reads them as they are.
    for (const [steps, batch] of [[1, B], [T, 1]]) {
      it(`${cell.name} with batchFirst at T=${steps}, B=${batch} equals the time-major path bit for bit`, async function () {
        const timeMajor = cell.make(OPTIONS), batchFirst = cell.make({ ...OPTIONS, batchFirst: true });
        const x = tensor([steps, batch, I], 21);
        const options: ForwardOptions = {
          h0: tensor([S, batch, H], 22, 0.5), c0: cell.lstm ? tensor([S, batch, H], 23, 0.5) : undefined,
          lengths: Int32Array.from({ length: batch }, (_, b) => Math.max(1, steps - b)),
        };
        const dOutput = tensor([steps, batch, DH], 24), dhN = tensor([S, batch, H], 25);
        const want = await pass(timeMajor, x, options, { dOutput, dhN }, false);
        const got = await pass(batchFirst, swapped(x), options, { dOutput: swapped(dOutput), dhN }, true);
        assertSameTensor(got.out.output, swapped(want.out.output), [batch, steps, DH], 'output');
        assertSameTensor(got.out.hN, want.out.hN, [S, batch, H], 'hN');
        assertSameTensor(got.grads.dx, swapped(want.grads.dx), [batch, steps, I], 'dx');
        assertSameTensor(got.grads.dh0, want.grads.dh0, [S, batch, H], 'dh0');
        assertSameGradients(batchFirst, timeMajor);
      });
    }
  }

  it('GRU with batchFirst at a realistic size (T=20, B=16, I=H=64) equals the time-major path bit for bit', async function () {
    const options: RecurrentOptions = { inputSize: 64, hiddenSize: 64, seed: 3 };
    const timeMajor = new GRU(options), batchFirst = new GRU({ ...options, batchFirst: true });
    const x = tensor([20, 16, 64], 31), dOutput = tensor([20, 16, 64], 32);
    const lengths = Int32Array.from({ length: 16 }, (_, b) => 20 - b);
    const want = await pass(timeMajor, x, { lengths }, { dOutput }, true);
    const got = await pass(batchFirst, swapped(x), { lengths }, { dOutput: swapped(dOutput) }, true);
    assertSameTensor(got.out.output, swapped(want.out.output), [16, 20, 64], 'output');
    assertSameTensor(got.out.hN, want.out.hN, [1, 16, 64], 'hN');
    assertSameTensor(got.grads.dx, swapped(want.grads.dx), [16, 20, 64], 'dx');
    assertSameGradients(batchFirst, timeMajor);
  });
});

// ---------------------------------------------------------------- unbatched

describe('recurrent layers: unbatched [T, F] input', function () {
  for (const cell of CELLS) {
    for (const batchFirst of [false, true]) {
      for (const async of [false, true]) {
        it(`${cell.name}${batchFirst ? ' with batchFirst' : ''} given [T, F] equals B=1 bit for bit and returns unbatched ` +
          `outputs, states and gradients${async ? ' (async)' : ''}`, async function () {
          const reference = cell.make(OPTIONS), layer = cell.make({ ...OPTIONS, batchFirst });
          const x = tensor([T, I], 41), h0 = tensor([S, H], 42, 0.5), c0 = cell.lstm ? tensor([S, H], 43, 0.5) : undefined;
          const dOutput = tensor([T, DH], 44), dhN = tensor([S, H], 45), dcN = cell.lstm ? tensor([S, H], 46) : undefined;
          const lengths = new Int32Array([T - 2]);
          const want = await pass(reference, reshaped(x, [T, 1, I]), {
            h0: reshaped(h0, [S, 1, H]), c0: c0 && reshaped(c0, [S, 1, H]), lengths,
          }, { dOutput: reshaped(dOutput, [T, 1, DH]), dhN: reshaped(dhN, [S, 1, H]), dcN: dcN && reshaped(dcN, [S, 1, H]) }, false);
          const got = await pass(layer, x, { h0, c0, lengths }, { dOutput, dhN, dcN }, async);
          assertSameTensor(got.out.output, want.out.output, [T, DH], 'output');
          assertSameTensor(got.out.hN, want.out.hN, [S, H], 'hN');
          if (cell.lstm) assertSameTensor(got.out.cN, want.out.cN, [S, H], 'cN');
          assertSameTensor(got.grads.dx, want.grads.dx, [T, I], 'dx');
          assertSameTensor(got.grads.dh0, want.grads.dh0, [S, H], 'dh0');
          if (cell.lstm) assertSameTensor(got.grads.dc0, want.grads.dc0, [S, H], 'dc0');
          assertSameGradients(layer, reference);
        });
      }
    }

    it(`${cell.name} runs an unbatched inference forward between a batched training forward and its backward`, function () {
      const layer = cell.make(OPTIONS), reference = cell.make(OPTIONS);
      const x = tensor([T, B, I], 51), dOutput = tensor([T, B, DH], 52);
      layer.forward(x, { training: true });
      reference.forward(x, { training: true });
      const unbatched = layer.forward(tensor([T - 1, I], 53));
      assert.deepEqual(unbatched.output.shape, [T - 1, DH]);
      assert.deepEqual(layer.backward({ dOutput }), reference.backward({ dOutput }));
      assertSameGradients(layer, reference);
    });
  }
});

// ---------------------------------------------------------------- bad input

const SHAPE = 'ERR_RNNKIT_SHAPE', TYPE = 'ERR_RNNKIT_TYPE', VALUE = 'ERR_RNNKIT_VALUE';
const Tb = 5, Bb = 3;  // B != T, so a swapped layout cannot pass for the right one

type Layout = 'batchFirst' | 'unbatched';

/** Valid calls in a layout: a training forward (h0, c0, lengths, dropout), its backward, an inference forward. */
function validCalls(cell: RecurrentKind, layout: Layout) {
  const unbatched = layout === 'unbatched';
  const state = unbatched ? [S, H] : [S, Bb, H];
  return {
    x: tensor(unbatched ? [Tb, I] : [Bb, Tb, I], 61),
    options: {
      h0: tensor(state, 62, 0.5), c0: cell.lstm ? tensor(state, 63, 0.5) : undefined, training: true,
      lengths: unbatched ? new Int32Array([Tb - 1]) : new Int32Array([Tb, 2, 4]),
    },
    grads: { dOutput: tensor(unbatched ? [Tb, DH] : [Bb, Tb, DH], 64), dhN: tensor(state, 65), dcN: cell.lstm ? tensor(state, 66) : undefined },
    inference: tensor(unbatched ? [Tb - 1, I] : [Bb, Tb - 1, I], 67),
  };
}

function probe(layer: Recurrent, cell: RecurrentKind, layout: Layout, pending: boolean) {
  const v = validCalls(cell, layout);
  const first = pending ? layer.backward(v.grads) : null;
  const forward = layer.forward(v.x, v.options);
  const backward = layer.backward(v.grads);
  const inference = layer.forward(v.inference);
  return { first, forward, backward, inference, grads: layer.grads(), state: layer.stateDict() };
}

interface LayoutCase {
  name: string;
  layout: Layout;
  /** A valid training forward in the case's layout first (so a backward is pending). */
  afterTraining?: boolean;
  bad(layer: Recurrent, cell: RecurrentKind): unknown;
  cls: typeof TypeError | typeof RangeError;
  code: string;
  names: RegExp;
  lstmOnly?: boolean;
}

function layoutCases(): LayoutCase[] {
  const xBF = () => tensor([Bb, Tb, I], 71);
  const xUn = () => tensor([Tb, I], 72);
  return [
    { name: 'x of rank 4', layout: 'batchFirst', bad: (l) => l.forward(tensor([Bb, Tb, I, 1], 73)), cls: RangeError, code: SHAPE,
      names: /^x: expected shape \[\*, \*, 3\] \(\[B, T, inputSize=3\] \(batchFirst\), or \[T, inputSize=3\] unbatched\), got \[3, 5, 3, 1\]/ },
    { name: 'x with the wrong inputSize', layout: 'batchFirst', bad: (l) => l.forward(tensor([Bb, Tb, I + 1], 73)), cls: RangeError, code: SHAPE,
      names: /^x: .*\[B, T, inputSize=3\] \(batchFirst\).*got \[3, 5, 4\]/ },
    { name: 'x with B = 0', layout: 'batchFirst', bad: (l) => l.forward({ data: new Float32Array(0), shape: [0, Tb, I] }), cls: RangeError, code: SHAPE,
      names: /^x: expected T >= 1 and B >= 1, got shape \[0, 5, 3\]/ },
    { name: 'h0 whose batch is x\'s T (a time-major reading)', layout: 'batchFirst', bad: (l) => l.forward(xBF(), { h0: tensor([S, Tb, H], 74) }),
      cls: RangeError, code: SHAPE, names: /^h0: expected shape \[4, 3, 4\] \(\[numLayers\*numDirections=4, B=3, hiddenSize=4\]\), got \[4, 5, 4\]/ },
    { name: 'h0 laid out batch-first ([B, L*D, H])', layout: 'batchFirst', bad: (l) => l.forward(xBF(), { h0: tensor([Bb, S, H], 74) }),
      cls: RangeError, code: SHAPE, names: /^h0: expected shape \[4, 3, 4\]/ },
    { name: 'one length per step instead of per sequence', layout: 'batchFirst', bad: (l) => l.forward(xBF(), { lengths: new Int32Array(Tb).fill(1) }),
      cls: RangeError, code: SHAPE, names: /^lengths: expected 3 lengths.*got 5/ },
    { name: 'a misshaped c0 in a training forward', layout: 'batchFirst', lstmOnly: true,
      bad: (l) => l.forward(xBF(), { h0: tensor([S, Bb, H], 74), c0: tensor([S, Tb, H], 75), training: true }), cls: RangeError, code: SHAPE, names: /^c0: / },
    { name: 'dOutput in the time-major layout', layout: 'batchFirst', afterTraining: true, bad: (l) => l.backward({ dOutput: tensor([Tb, Bb, DH], 76) }),
      cls: RangeError, code: SHAPE, names: /^dOutput: expected shape \[3, 5, 8\] \(the shape of the last training forward's output, batchFirst\), got \[5, 3, 8\]/ },
    { name: 'a valid dOutput with dhN laid out batch-first', layout: 'batchFirst', afterTraining: true,
      bad: (l) => l.backward({ dOutput: tensor([Bb, Tb, DH], 76), dhN: tensor([Bb, S, H], 77) }), cls: RangeError, code: SHAPE, names: /^dhN: expected shape \[4, 3, 4\]/ },
    { name: 'dOutput of an unbatched shape after a batched forward', layout: 'batchFirst', afterTraining: true,
      bad: (l) => l.backward({ dOutput: tensor([Tb, DH], 76) }), cls: RangeError, code: SHAPE, names: /^dOutput: expected shape \[3, 5, 8\]/ },

    { name: 'an unbatched x with the wrong inputSize', layout: 'unbatched', bad: (l) => l.forward(tensor([Tb, I + 1], 81)), cls: RangeError, code: SHAPE,
      names: /^x: expected shape \[\*, 3\] \(\[T, inputSize=3\], unbatched\), got \[5, 4\]/ },
    { name: 'an unbatched x with T = 0', layout: 'unbatched', bad: (l) => l.forward({ data: new Float32Array(0), shape: [0, I] }), cls: RangeError, code: SHAPE,
      names: /^x: expected T >= 1/ },
    { name: 'an unbatched x whose data is too long', layout: 'unbatched', bad: (l) => l.forward({ data: new Float32Array(Tb * I + 1), shape: [Tb, I] }),
      cls: RangeError, code: SHAPE, names: /^x: shape \[5, 3\] needs 15 elements, data has 16/ },
    { name: 'a batched h0 with an unbatched x', layout: 'unbatched', bad: (l) => l.forward(xUn(), { h0: tensor([S, 1, H], 82), training: true }),
      cls: RangeError, code: SHAPE, names: /^h0: expected shape \[4, 4\] \(\[numLayers\*numDirections=4, hiddenSize=4\], as x is unbatched\), got \[4, 1, 4\]/ },
    { name: 'a batched c0 with an unbatched x', layout: 'unbatched', lstmOnly: true, bad: (l) => l.forward(xUn(), { h0: tensor([S, H], 82), c0: tensor([S, 1, H], 83) }),
      cls: RangeError, code: SHAPE, names: /^c0: expected shape \[4, 4\].*unbatched/ },
    { name: 'two lengths for an unbatched x', layout: 'unbatched', bad: (l) => l.forward(xUn(), { lengths: new Int32Array([2, 2]) }),
      cls: RangeError, code: SHAPE, names: /^lengths: expected 1 lengths.*got 2/ },
    { name: 'a length above T for an unbatched x', layout: 'unbatched', bad: (l) => l.forward(xUn(), { lengths: new Int32Array([Tb + 1]), training: true }),
      cls: RangeError, code: VALUE, names: /^lengths\[0\]: expected a length in \[1, 5\]/ },
    { name: 'dOutput shaped [T, 1, D*H] after an unbatched forward', layout: 'unbatched', afterTraining: true,
      bad: (l) => l.backward({ dOutput: tensor([Tb, 1, DH], 84) }), cls: RangeError, code: SHAPE,
      names: /^dOutput: expected shape \[5, 8\] \(the shape of the last training forward's output, unbatched\), got \[5, 1, 8\]/ },
    { name: 'dhN shaped [L*D, 1, H] after an unbatched forward', layout: 'unbatched', afterTraining: true,
      bad: (l) => l.backward({ dOutput: tensor([Tb, DH], 84), dhN: tensor([S, 1, H], 85) }), cls: RangeError, code: SHAPE,
      names: /^dhN: expected shape \[4, 4\] \(.*as the last training forward was unbatched\), got \[4, 1, 4\]/ },
    { name: 'dcN, which only LSTM has, after an unbatched forward', layout: 'unbatched', afterTraining: true,
      bad: (l, cell) => l.backward({ dcN: tensor(cell.lstm ? [S, 2, H] : [S, H], 86) }), cls: RangeError, code: SHAPE, names: /^dcN: / },
  ];
}

describe('recurrent layers: bad input in the batchFirst and unbatched layouts', function () {
  for (const cell of CELLS) {
    for (const c of layoutCases()) {
      if (c.lstmOnly && !cell.lstm) continue;
      const cls = c.name.startsWith('dcN') && !cell.lstm ? TypeError : c.cls;
      const code = c.name.startsWith('dcN') && !cell.lstm ? TYPE : c.code;
      for (const async of [false, true]) {
        it(`${cell.name} ${c.layout} refuses ${c.name}${async ? ' (async)' : ''}, naming it, and stays unchanged`, async function () {
          const options = { ...OPTIONS, dropout: 0.25, batchFirst: c.layout === 'batchFirst' };
          const layer = cell.make(options), reference = cell.make(options);
          for (const l of [layer, reference]) {
            if (c.afterTraining) {
              const v = validCalls(cell, c.layout);
              l.forward(v.x, v.options);
            }
          }
          const stateBefore = layer.stateDict(), gradsBefore = layer.grads();
          const check = (err: unknown) => {
            assert.ok(err instanceof cls, `expected a ${cls.name}, got ${String(err)}`);
            assert.equal((err as { code?: unknown }).code, code, `code of: ${(err as Error).message}`);
            assert.match((err as Error).message, c.names);
            return true;
          };
          if (async) {
            // The async twins of the calls refuse by rejecting.
            const twin = new Proxy(layer, {
              get: (target, key) => (key === 'forward' ? target.forwardAsync.bind(target)
                : key === 'backward' ? target.backwardAsync.bind(target) : Reflect.get(target, key)),
            });
            await assert.rejects(async () => { await c.bad(twin, cell); }, check);
          } else {
            assert.throws(() => c.bad(layer, cell), check);
          }
          assert.deepEqual(layer.stateDict(), stateBefore, 'parameters changed');
          assert.deepEqual(layer.grads(), gradsBefore, 'gradients changed');
          // Bit for bit what a layer that never saw the bad call computes: the pending backward, the dropout stream.
          assert.deepEqual(probe(layer, cell, c.layout, !!c.afterTraining), probe(reference, cell, c.layout, !!c.afterTraining));
        });
      }
    }
  }
});
