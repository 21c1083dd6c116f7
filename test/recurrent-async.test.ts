// forwardAsync/backwardAsync of the recurrent layers: the same bits as the synchronous twins, real
// work off the JavaScript thread, one call in flight per layer (ERR_RNNKIT_BUSY), use after dispose
// (ERR_RNNKIT_DISPOSED), and layers that stay usable after a rejected call.

import assert from 'node:assert/strict';
import { LSTM, RnnkitError, type RecurrentOptions, type Tensor } from '../lib';
import { RECURRENT_KINDS, seededTensor } from './helpers/recurrent-kinds';
import { native, NativeCell } from '../lib/native';
import { randomArray } from './helpers/random-array';

// ---------------------------------------------------------------- helpers

const CELLS = RECURRENT_KINDS;
const tensor = seededTensor;

/** Element-for-element equality of two Float32Arrays (bit patterns, so -0 and 0 differ). */
function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.ok(actual instanceof Float32Array && expected instanceof Float32Array, what);
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) assert.fail(`${what}[${i}]: ${actual[i]} (async) !== ${expected[i]} (sync)`);
  }
}

function assertSameTensors(actual: Record<string, Tensor | undefined>, expected: Record<string, Tensor | undefined>, what: string): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${what}: keys`);
  for (const k of Object.keys(expected)) {
    const e = expected[k], a = actual[k];
    if (e === undefined) { assert.equal(a, undefined); continue; }
    assert.ok(a !== undefined, `${what}.${k} missing`);
    assert.deepEqual(a.shape, e.shape, `${what}.${k}.shape`);
    assertSameBits(a.data, e.data, `${what}.${k}`);
  }
}

function assertRnnkitError(err: unknown, code: string): true {
  assert.ok(err instanceof RnnkitError, `expected an RnnkitError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
}

const isBusy = (err: unknown) => assertRnnkitError(err, 'ERR_RNNKIT_BUSY');
const isDisposed = (err: unknown) => assertRnnkitError(err, 'ERR_RNNKIT_DISPOSED');

// Two layers, both directions, lengths, h0/c0 and dropout (so the generator must be stepped alike).
const I = 5, H = 6, L = 2, D = 2, S = L * D, T = 7, B = 4;
const OPTIONS: RecurrentOptions = { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, dropout: 0.3, seed: 3 };

function inputs(lstm: boolean, seed = 100) {
  return {
    x: tensor([T, B, I], seed),
    h0: tensor([S, B, H], seed + 1, 0.5),
    c0: lstm ? tensor([S, B, H], seed + 2, 0.5) : undefined,
    lengths: new Int32Array([T, 3, 1, 6]),
    dOutput: tensor([T, B, D * H], seed + 3),
    dhN: tensor([S, B, H], seed + 4),
    dcN: lstm ? tensor([S, B, H], seed + 5) : undefined,
  };
}

// ---------------------------------------------------------------- tests

describe('recurrent layers: async calls', function () {
  for (const cell of CELLS) {
    it(`${cell.name} forwardAsync/backwardAsync give bit-identical results to forward/backward (2 layers, bidirectional, lengths, dropout)`, async function () {
      const sync = cell.make(OPTIONS), async = cell.make(OPTIONS);
      for (const round of [0, 1]) {  // twice: gradients accumulate and the dropout generator moves on
        const p = inputs(cell.lstm, 100 + 10 * round);
        const fo = { h0: p.h0, c0: p.c0, lengths: p.lengths, training: true };
        const go = { dOutput: p.dOutput, dhN: p.dhN, dcN: p.dcN };
        const want = sync.forward(p.x, fo);
        const got = await async.forwardAsync(p.x, fo);
        assertSameTensors({ ...got }, { ...want }, `round ${round} forward`);
        assert.ok(want.output.data.some((v) => v !== 0));
        const wantBack = sync.backward(go);
        const gotBack = await async.backwardAsync(go);
        assertSameTensors({ ...gotBack }, { ...wantBack }, `round ${round} backward`);
        assert.ok(wantBack.dx.data.some((v) => v !== 0));
        assertSameTensors(async.grads(), sync.grads(), `round ${round} grads()`);
        assertSameBits(async.gradients, sync.gradients, `round ${round} gradients`);
        // An inference forward too, with a different T and no lengths.
        const x2 = tensor([T + 2, B, I], 300 + round);
        assertSameTensors({ ...(await async.forwardAsync(x2)) }, { ...sync.forward(x2) }, `round ${round} inference`);
      }
    });
  }

  it('independent layers run their async calls concurrently and each gets its own sync result', async function () {
    const layers = CELLS.map((c) => ({ c, sync: c.make(OPTIONS), async: c.make(OPTIONS), p: inputs(c.lstm) }));
    const results = await Promise.all(layers.map(async ({ async: a, p }) => {
      const out = await a.forwardAsync(p.x, { lengths: p.lengths, training: true });
      const back = await a.backwardAsync({ dOutput: p.dOutput });
      return { out, back };
    }));
    layers.forEach(({ c, sync, p }, i) => {
      const out = sync.forward(p.x, { lengths: p.lengths, training: true });
      const back = sync.backward({ dOutput: p.dOutput });
      assertSameTensors({ ...results[i].out }, { ...out }, `${c.name} output`);
      assertSameTensors({ ...results[i].back }, { ...back }, `${c.name} backward`);
    });
  });

  it('keeps the event loop turning while a long LSTM forward+backward runs off the main thread', async function () {
    // LSTM T=200 B=64 I=H=256: about 40 GFLOP per forward+backward, several hundred ms on 2 cores.
    const bT = 200, bB = 64, bI = 256, bH = 256;
    const layer = new LSTM({ inputSize: bI, hiddenSize: bH, seed: 1 });
    const x = tensor([bT, bB, bI], 7);
    const dOutput = tensor([bT, bB, bH], 8);
    await layer.forwardAsync({ data: x.data.subarray(0, bB * bI), shape: [1, bB, bI] }, { training: true });  // warm up
    let ticks = 0;
    const started = performance.now();
    const timer = setInterval(() => { ticks++; }, 5);
    let elapsed = 0, rounds = 0;
    let result;
    try {
      // Repeat until it has run long enough to count on, should the machine be very fast.
      do {
        result = await layer.forwardAsync(x, { training: true });
        await layer.backwardAsync({ dOutput });
        rounds++;
        elapsed = performance.now() - started;
      } while (elapsed < 300 && rounds < 20);
    } finally {
      clearInterval(timer);
    }
    assert.ok(elapsed >= 300, `the work took only ${elapsed.toFixed(0)} ms`);
    assert.ok(result.output.data.some((v) => v !== 0) && result.output.data.every(Number.isFinite));
    // A blocked event loop would fire the interval at most once per await (2 a round); a free one every
    // ~5 ms. Timers run late when other processes take the cores (half the ideal count was missed on a
    // 2-core machine at load 10), so ask for a fifth of it, and for far more than the awaits allow.
    const ideal = elapsed / 5;
    assert.ok(ticks >= Math.max(0.2 * ideal, 4 * (2 * rounds + 1)),
      `${ticks} ticks in ${elapsed.toFixed(0)} ms (${rounds} rounds): the event loop was blocked`);
    assert.ok(ticks <= ideal + 2, `${ticks} ticks in ${elapsed.toFixed(0)} ms is more than a 5 ms interval can fire`);
  });

  describe('one call at a time', function () {
    for (const cell of [CELLS[2], CELLS[3]]) {
      it(`${cell.name} refuses every other call with ERR_RNNKIT_BUSY while forwardAsync runs, and the first call still completes correctly`, async function () {
        const layer = cell.make(OPTIONS), reference = cell.make(OPTIONS);
        const p = inputs(cell.lstm);
        const fo = { h0: p.h0, c0: p.c0, lengths: p.lengths, training: true };
        const go = { dOutput: p.dOutput, dhN: p.dhN, dcN: p.dcN };
        // Accumulated gradients first, so a zeroGrad that slipped through would show.
        layer.forward(p.x, fo); layer.backward(go);
        reference.forward(p.x, fo); reference.backward(go);
        const other = cell.make({ ...OPTIONS, seed: 77 }).stateDict();

        const running = layer.forwardAsync(p.x, fo);
        assert.throws(() => layer.forward(p.x), isBusy);
        assert.throws(() => layer.backward(go), isBusy);
        assert.throws(() => layer.loadStateDict(other), isBusy);
        assert.throws(() => layer.zeroGrad(), isBusy);
        assert.throws(() => layer.resetParameters(), isBusy);
        assert.throws(() => layer.stateDict(), isBusy);
        assert.throws(() => layer.grads(), isBusy);
        assert.throws(() => layer.dispose(), isBusy);
        const refusedAsync = [layer.forwardAsync(p.x, fo), layer.backwardAsync(go)];
        for (const r of refusedAsync) await assert.rejects(r, isBusy);

        const got = await running;
        const want = reference.forward(p.x, fo);
        assertSameTensors({ ...got }, { ...want }, 'forward that was in flight');
        assertSameTensors(layer.stateDict(), reference.stateDict(), 'parameters');
        assertSameTensors(layer.grads(), reference.grads(), 'gradients');
        // The refused calls left the pending backward alone.
        assertSameTensors({ ...(await layer.backwardAsync(go)) }, { ...reference.backward(go) }, 'backward');
        assertSameTensors(layer.grads(), reference.grads(), 'gradients after backward');
      });

      it(`${cell.name} refuses other calls with ERR_RNNKIT_BUSY while backwardAsync runs`, async function () {
        const layer = cell.make(OPTIONS), reference = cell.make(OPTIONS);
        const p = inputs(cell.lstm);
        const fo = { lengths: p.lengths, training: true };
        layer.forward(p.x, fo);
        reference.forward(p.x, fo);
        const running = layer.backwardAsync({ dOutput: p.dOutput });
        assert.throws(() => layer.backward({ dOutput: p.dOutput }), isBusy);
        assert.throws(() => layer.forward(p.x, fo), isBusy);
        assert.throws(() => layer.zeroGrad(), isBusy);
        assert.throws(() => layer.loadStateDict(reference.stateDict()), isBusy);
        await assert.rejects(layer.backwardAsync({ dOutput: p.dOutput }), isBusy);
        await assert.rejects(layer.forwardAsync(p.x), isBusy);
        assertSameTensors({ ...(await running) }, { ...reference.backward({ dOutput: p.dOutput }) }, 'backward that was in flight');
        assertSameTensors(layer.grads(), reference.grads(), 'gradients');
        // And idle again afterwards.
        layer.zeroGrad();
        assert.ok(layer.gradients.every((v) => v === 0));
      });
    }

    it('the raw native stack refuses a second call while one is in flight with a coded error', async function () {
      const stack = new native.RecurrentStack({
        cell: NativeCell.Gru, numLayers: 1, numDirections: 1, inputSize: I, hiddenSize: H, bias: true, dropout: 0,
        workspaceLimitBytes: 1 << 30,
      });
      const params = randomArray(stack.paramCount(), 5, 0.3), x = randomArray(T * B * I, 6);
      const out = () => [new Float32Array(T * B * H), new Float32Array(B * H), null] as const;
      const running = stack.forwardAsync(params, x, T, B, null, null, null, true, 0, ...out());
      for (const f of [() => stack.forward(params, x, T, B, null, null, null, false, 0, ...out()), () => stack.dispose()]) {
        assert.throws(f, (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.equal((err as { code?: string }).code, 'ERR_RNNKIT_BUSY');
          return true;
        });
      }
      await running;
      stack.forward(params, x, T, B, null, null, null, false, 0, ...out());
      stack.dispose();
    });
  });

  describe('after dispose()', function () {
    for (const cell of CELLS) {
      it(`${cell.name} refuses every call with ERR_RNNKIT_DISPOSED, and a second dispose() is harmless`, async function () {
        const layer = cell.make(OPTIONS);
        const p = inputs(cell.lstm);
        layer.forward(p.x, { training: true });
        const dict = layer.stateDict();
        layer.dispose();
        assert.throws(() => layer.forward(p.x), isDisposed);
        assert.throws(() => layer.forward(p.x, { training: true }), isDisposed);
        assert.throws(() => layer.backward({ dOutput: p.dOutput }), isDisposed);
        assert.throws(() => layer.backward(), isDisposed);
        await assert.rejects(layer.forwardAsync(p.x), isDisposed);
        await assert.rejects(layer.backwardAsync({ dOutput: p.dOutput }), isDisposed);
        assert.throws(() => layer.loadStateDict(dict), isDisposed);
        assert.throws(() => layer.zeroGrad(), isDisposed);
        assert.throws(() => layer.resetParameters(), isDisposed);
        assert.throws(() => layer.stateDict(), isDisposed);
        assert.throws(() => layer.grads(), isDisposed);
        assert.doesNotThrow(() => layer.dispose());
        assert.throws(() => layer.forward(p.x), isDisposed);
      });
    }

    it('dispose() is refused while an async call runs and works once it has finished', async function () {
      const layer = new LSTM(OPTIONS);
      const p = inputs(true);
      const running = layer.forwardAsync(p.x, { training: true });
      assert.throws(() => layer.dispose(), isBusy);
      await running;
      layer.dispose();
      assert.throws(() => layer.forward(p.x), isDisposed);
    });
  });

  describe('rejected async calls', function () {
    for (const cell of CELLS) {
      it(`${cell.name} rejects a misshaped async call (no synchronous throw) and stays usable`, async function () {
        const layer = cell.make(OPTIONS), reference = cell.make(OPTIONS);
        const p = inputs(cell.lstm);
        const fo = { h0: p.h0, c0: p.c0, lengths: p.lengths, training: true };
        const go = { dOutput: p.dOutput, dhN: p.dhN, dcN: p.dcN };
        const isShape = (err: unknown) => {
          assert.ok(err instanceof RangeError, String(err));
          assert.equal((err as { code?: string }).code, 'ERR_RNNKIT_SHAPE');
          return true;
        };

        await assert.rejects(layer.backwardAsync(go), (err: unknown) => assertRnnkitError(err, 'ERR_RNNKIT_STATE'));
        let bad: Promise<unknown> | undefined;
        assert.doesNotThrow(() => { bad = layer.forwardAsync(tensor([T, B, I + 1], 1), fo); });
        await assert.rejects(bad!, (err: unknown) => isShape(err) && /^x:/.test((err as Error).message));
        await assert.rejects(layer.forwardAsync(p.x, { ...fo, h0: tensor([S, B + 1, H], 2) }), isShape);
        await assert.rejects(layer.forwardAsync(p.x, { ...fo, lengths: new Int32Array([T + 1, 1, 1, 1]) }), RangeError);

        assertSameTensors({ ...(await layer.forwardAsync(p.x, fo)) }, { ...reference.forward(p.x, fo) }, 'forward after rejections');
        await assert.rejects(layer.backwardAsync({ dOutput: tensor([T, B, H], 3) }), isShape);
        await assert.rejects(layer.backwardAsync({ dhN: { data: new Float64Array(S * B * H), shape: [S, B, H] } as unknown as Tensor }), TypeError);
        assertSameTensors({ ...(await layer.backwardAsync(go)) }, { ...reference.backward(go) }, 'backward after rejections');
        assertSameTensors(layer.grads(), reference.grads(), 'gradients');
        assertSameTensors(layer.stateDict(), reference.stateDict(), 'parameters');
      });
    }
  });
});
