// Property-based fuzzing of the layers' public entry points (RNN/GRU/LSTM,
// Linear, Embedding, AttentionDecoder): random shapes, lengths, typed-array
// kinds, NaN/Infinity, huge sizes, junk and missing options. Every call must
// return a correct result or throw a coded TypeError/RangeError, must never
// change parameters (nor gradients when refused), and must leave the layer
// working exactly as before. See test/helpers/fuzz.ts for run counts.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttentionDecoder, Embedding, GRU, LSTM, Linear, RNN, type Recurrent, type Tensor } from '../lib';
import { allFinite, anyArrayKind, moderate, attempt, attemptAsync, check, checkAsync, junk, sameBits, shapeLike, sizeArb, tensorArb } from './helpers/fuzz';

const STATES = ['ERR_RNNKIT_STATE'];

function filled(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 13.7 + i * 0.77);
  return out;
}

// ------------------------------------------------------------ recurrent layers

interface RecurrentConfig {
  cell: 'rnn-tanh' | 'rnn-relu' | 'gru' | 'lstm';
  inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; bias: boolean; dropout: number;
  batchFirst: boolean;
}

function makeRecurrent(c: RecurrentConfig): Recurrent {
  const o = { inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bidirectional: c.bidirectional,
    bias: c.bias, dropout: c.dropout, batchFirst: c.batchFirst, seed: 5 };
  switch (c.cell) {
    case 'rnn-tanh': return new RNN(o);
    case 'rnn-relu': return new RNN({ ...o, nonlinearity: 'relu' });
    case 'gru': return new GRU(o);
    default: return new LSTM(o);
  }
}

const recurrentConfig: fc.Arbitrary<RecurrentConfig> = fc.record({
  cell: fc.constantFrom('rnn-tanh', 'rnn-relu', 'gru', 'lstm'),
  inputSize: fc.integer({ min: 1, max: 4 }), hiddenSize: fc.integer({ min: 1, max: 4 }),
  numLayers: fc.integer({ min: 1, max: 3 }), bidirectional: fc.boolean(), bias: fc.boolean(),
  dropout: fc.constantFrom(0, 0, 0.4), batchFirst: fc.boolean(),
});

/** A forward call: T, B and every argument, each valid or broken. */
function recurrentCall(c: RecurrentConfig) {
  const S = c.numLayers * (c.bidirectional ? 2 : 1), H = c.hiddenSize;
  return fc.record({ T: fc.integer({ min: 1, max: 5 }), B: fc.integer({ min: 1, max: 3 }) }).chain(({ T, B }) => fc.record({
    T: fc.constant(T), B: fc.constant(B),
    x: tensorArb(c.batchFirst ? [B, T, c.inputSize] : [T, B, c.inputSize]),
    h0: fc.option(tensorArb([S, B, H]), { nil: undefined }),
    c0: fc.option(tensorArb([S, B, H]), { nil: undefined }),
    lengths: fc.option(fc.oneof(
      { weight: 6, arbitrary: fc.array(fc.integer({ min: 1, max: T }), { minLength: B, maxLength: B }).map((v) => Int32Array.from(v)) },
      { weight: 1, arbitrary: fc.array(fc.integer({ min: -1, max: T + 1 }), { minLength: 0, maxLength: B + 1 }).map((v) => Int32Array.from(v)) },
      { weight: 1, arbitrary: fc.constant(Float32Array.from({ length: B }, () => 1)) },
      { weight: 1, arbitrary: junk }), { nil: undefined }),
    training: fc.oneof({ weight: 6, arbitrary: fc.boolean() }, { weight: 1, arbitrary: junk }),
    dropoutSeed: fc.option(fc.oneof(fc.nat(), junk, fc.constantFrom(-1, 2 ** 60)), { nil: undefined }),
    options: fc.constantFrom('object', 'object', 'object', 'object', 'undefined', 'null', 'number'),
    async: fc.boolean(),
    grads: fc.record({
      dOutput: fc.option(tensorArb(c.batchFirst ? [B, T, (c.bidirectional ? 2 : 1) * H] : [T, B, (c.bidirectional ? 2 : 1) * H]), { nil: undefined }),
      dhN: fc.option(tensorArb([S, B, H]), { nil: undefined }),
      dcN: fc.option(tensorArb([S, B, H]), { nil: undefined }),
    }),
  }));
}

function isValidTensor(t: unknown, shape: number[]): t is Tensor {
  if (typeof t !== 'object' || t === null) return false;
  const { data, shape: s } = t as Tensor;
  return data instanceof Float32Array && Array.isArray(s) && s.length === shape.length && s.every((d, i) => d === shape[i]) &&
    data.length === shape.reduce((a, b) => a * b, 1);
}

describe('fuzz: layers', function () {
  this.timeout(120000);

  it('RNN/GRU/LSTM forward and backward (sync and async) return correct shapes or a coded error, never touch the weights, and keep working', async function () {
    await checkAsync('recurrent forward/backward', recurrentConfig.chain((c) => fc.tuple(fc.constant(c), recurrentCall(c))), async ([c, call]) => {
      const layer = makeRecurrent(c);
      const S = c.numLayers * (c.bidirectional ? 2 : 1), H = c.hiddenSize, D = c.bidirectional ? 2 : 1;
      const probe = { data: filled(2 * 3 * c.inputSize, 1), shape: [2, 3, c.inputSize] };
      const expected = layer.forward(probe);
      const params = layer.parameters.slice();
      const options = call.options === 'undefined' ? undefined : call.options === 'null' ? null : call.options === 'number' ? 3
        : { h0: call.h0, c0: call.c0, lengths: call.lengths, training: call.training, dropoutSeed: call.dropoutSeed };
      const run = () => (call.async ? layer.forwardAsync(call.x as Tensor, options as object) : Promise.resolve().then(() => layer.forward(call.x as Tensor, options as object)));
      const out = await attemptAsync(run);
      assert.ok(sameBits(layer.parameters, params), 'forward never changes the parameters');
      // An accepted x is a valid [T', B', inputSize] tensor ([B', T', inputSize] with batchFirst) or an unbatched
      // [T', inputSize] one. T', B' usually equal the drawn T, B, but a mutated shape can meet a mutated length
      // (e.g. [1,1,1] -> [2,1,1] with one float too many, or [1,B,I] -> [B,I]) and form another valid tensor.
      const acceptedSteps = () => {
        const shape = (call.x as Tensor).shape;
        if (shape.length === 2) {
          assert.ok(shape[1] === c.inputSize && isValidTensor(call.x, shape), 'only a valid [T, inputSize] x is accepted unbatched');
          return { T: shape[0], B: 1, unbatched: true };
        }
        const [T, B] = c.batchFirst ? [shape[1], shape[0]] : shape;
        assert.ok(shape[2] === c.inputSize && isValidTensor(call.x, shape), 'only a valid [T, B, inputSize] x is accepted');
        return { T, B, unbatched: false };
      };
      const batchShape = (T: number, B: number, F: number, unbatched: boolean) => (unbatched ? [T, F] : c.batchFirst ? [B, T, F] : [T, B, F]);
      if (out.ok) {
        const { T, B, unbatched } = acceptedSteps();
        assert.deepEqual(out.value.output.shape, batchShape(T, B, D * H, unbatched));
        assert.equal(out.value.output.data.length, T * B * D * H);
        assert.deepEqual(out.value.hN.shape, unbatched ? [S, H] : [S, B, H]);
        assert.equal(out.value.cN !== undefined, c.cell === 'lstm');
        const passed = call.options === 'object';
        const finiteIn = moderate((call.x as Tensor).data) && (!passed || call.h0 === undefined || moderate((call.h0 as Tensor).data)) &&
          (!passed || call.c0 === undefined || moderate((call.c0 as Tensor).data));
        // Moderate inputs give finite outputs (values near float32's maximum may overflow, as in PyTorch).
        if (finiteIn) assert.ok(allFinite(out.value.output.data) && allFinite(out.value.hN.data), 'finite in, finite out');
        if (passed && call.lengths instanceof Int32Array) {
          const lengths: Int32Array = call.lengths;
          for (let b = 0; b < B; b++) {
            for (let t = lengths[b]; t < T; t++) {
              const row = c.batchFirst ? b * T + t : t * B + b;
              for (let k = 0; k < D * H; k++) assert.equal(out.value.output.data[row * D * H + k], 0, 'padded steps are zero');
            }
          }
        }
      }
      // Backward: through the recorded forward if one was recorded, else refused with ERR_RNNKIT_STATE.
      const grads = layer.gradients.slice();
      const g = call.grads;
      const back = await attemptAsync(() => (call.async ? layer.backwardAsync(g as object) : Promise.resolve().then(() => layer.backward(g as object))), STATES);
      assert.ok(sameBits(layer.parameters, params), 'backward never changes the parameters');
      if (!back.ok) {
        assert.ok(sameBits(layer.gradients, grads), `a refused backward leaves the gradients alone (${back.error.message})`);
      } else {
        assert.ok(out.ok && call.training === true, 'backward only runs after a training forward');
        const { T, B, unbatched } = acceptedSteps();
        assert.deepEqual(back.value.dx.shape, batchShape(T, B, c.inputSize, unbatched));
        const given: unknown[] = [g.dOutput, g.dhN, g.dcN];
        const finiteGrads = given.every((t) => t === undefined || moderate((t as Tensor).data));
        if (finiteGrads && moderate((call.x as Tensor).data)) assert.ok(allFinite(layer.gradients), 'finite in, finite gradients');
      }
      // Whatever happened, the layer computes exactly what it did before.
      const again = layer.forward(probe);
      assert.ok(sameBits(again.output.data, expected.output.data), 'the layer still computes the same function');
      layer.dispose();
    }, 400);
  });

  it('RNN/GRU/LSTM constructors accept valid options and refuse junk, huge and missing ones with a coded error', function () {
    const options = fc.record({
      inputSize: sizeArb(4), hiddenSize: sizeArb(4), numLayers: fc.oneof(fc.integer({ min: 1, max: 3 }), junk, fc.constant(2000)),
      bidirectional: fc.oneof(fc.boolean(), junk), bias: fc.oneof(fc.boolean(), junk), dropout: fc.oneof(fc.constantFrom(0, 0.5), junk),
      seed: fc.oneof(fc.integer(), junk), workspaceLimitBytes: fc.oneof(fc.constantFrom(1, 1e9), junk),
      nonlinearity: fc.oneof(fc.constantFrom('tanh', 'relu'), junk), batchFirst: fc.oneof(fc.boolean(), junk),
    }, { requiredKeys: [] });
    check('recurrent constructor', fc.tuple(fc.constantFrom('RNN', 'GRU', 'LSTM'), fc.oneof({ weight: 9, arbitrary: options }, { weight: 1, arbitrary: junk })), ([kind, o]) => {
      const make = () => (kind === 'RNN' ? new RNN(o as never) : kind === 'GRU' ? new GRU(o as never) : new LSTM(o as never));
      const r = attempt(make);
      if (r.ok) {
        assert.ok(r.value.numParameters > 0);
        assert.ok(allFinite(r.value.parameters));
        r.value.dispose();
      }
    }, 400);
  });

  // ------------------------------------------------------------ Linear

  it('Linear forward/backward match x W^T + b or refuse with a coded error, leaving weights and gradients alone', async function () {
    const arb = fc.record({ I: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 4 }), bias: fc.boolean(),
      lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }) })
      .chain(({ I, O, bias, lead }) => fc.record({
        I: fc.constant(I), O: fc.constant(O), bias: fc.constant(bias), lead: fc.constant(lead),
        x: tensorArb([...lead, I]), training: fc.oneof({ weight: 5, arbitrary: fc.boolean() }, { weight: 1, arbitrary: junk }),
        dy: tensorArb([...lead, O]), async: fc.boolean(),
      }));
    await checkAsync('Linear', arb, async (c) => {
      const layer = new Linear({ inFeatures: c.I, outFeatures: c.O, bias: c.bias, seed: 1 });
      const params = layer.parameters.slice();
      const out = await attemptAsync(() => (c.async ? layer.forwardAsync(c.x as Tensor, { training: c.training as boolean })
        : Promise.resolve().then(() => layer.forward(c.x as Tensor, { training: c.training as boolean }))));
      assert.ok(sameBits(layer.parameters, params));
      if (out.ok) {
        const x = c.x as Tensor;
        const rows = x.data.length / c.I;
        assert.deepEqual(out.value.shape, [...x.shape.slice(0, -1), c.O]);
        const w = layer.parameters;
        for (let n = 0; n < rows; n++) {
          for (let o = 0; o < c.O; o++) {
            let s = c.bias ? w[c.O * c.I + o] : 0;
            for (let i = 0; i < c.I; i++) s += x.data[n * c.I + i] * w[o * c.I + i];
            const got = out.value.data[n * c.O + o];
            if (Number.isFinite(s)) assert.ok(Math.abs(got - s) <= 1e-4 * (1 + Math.abs(s)), `y[${n},${o}] = ${got}, expected ${s}`);
          }
        }
      }
      const grads = layer.gradients.slice();
      const back = await attemptAsync(() => (c.async ? layer.backwardAsync(c.dy as Tensor) : Promise.resolve().then(() => layer.backward(c.dy as Tensor))), STATES);
      if (!back.ok) assert.ok(sameBits(layer.gradients, grads), 'a refused backward leaves the gradients alone');
      else assert.ok(out.ok && c.training === true);
      assert.ok(sameBits(layer.parameters, params));
    }, 300);
  });

  // ------------------------------------------------------------ Embedding

  it('Embedding forward returns the rows of the ids or refuses bad ids/shapes with a coded error', async function () {
    const arb = fc.record({ V: fc.integer({ min: 1, max: 6 }), E: fc.integer({ min: 1, max: 4 }),
      padding: fc.option(fc.oneof(fc.integer({ min: -7, max: 7 }), junk), { nil: undefined }),
      dims: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 3 }) })
      .chain(({ V, E, padding, dims }) => {
        const n = dims.reduce((a, b) => a * b, 1);
        return fc.record({
          V: fc.constant(V), E: fc.constant(E), padding: fc.constant(padding),
          ids: fc.oneof({ weight: 8, arbitrary: fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: n, maxLength: n }).map((v) => Int32Array.from(v)) },
            { weight: 2, arbitrary: fc.array(fc.integer({ min: -2, max: V + 2 }), { minLength: n, maxLength: n + 1 }).map((v) => Int32Array.from(v)) },
            { weight: 1, arbitrary: anyArrayKind(n, fc.integer({ min: 0, max: V - 1 })) }, { weight: 1, arbitrary: junk }),
          shape: shapeLike(dims), training: fc.boolean(), dOut: tensorArb([...dims, E]), async: fc.boolean(),
        });
      });
    await checkAsync('Embedding', arb, async (c) => {
      const built = attempt(() => new Embedding({ numEmbeddings: c.V, embeddingDim: c.E, paddingIdx: c.padding as number, seed: 2 }));
      if (!built.ok) return;
      const layer = built.value;
      const params = layer.parameters.slice();
      const out = await attemptAsync(() => (c.async ? layer.forwardAsync(c.ids as Int32Array, c.shape as number[], { training: c.training })
        : Promise.resolve().then(() => layer.forward(c.ids as Int32Array, c.shape as number[], { training: c.training }))));
      assert.ok(sameBits(layer.parameters, params));
      if (out.ok) {
        const ids = c.ids as Int32Array;
        for (let n = 0; n < ids.length; n++) {
          assert.ok(sameBits(out.value.data.subarray(n * c.E, (n + 1) * c.E), params.subarray(ids[n] * c.E, (ids[n] + 1) * c.E)), `row ${n}`);
        }
      }
      const grads = layer.gradients.slice();
      const back = await attemptAsync(() => (c.async ? layer.backwardAsync(c.dOut as Tensor) : Promise.resolve().then(() => layer.backward(c.dOut as Tensor))), STATES);
      if (!back.ok) assert.ok(sameBits(layer.gradients, grads));
      else if (layer.paddingIdx !== null) {
        const p = layer.paddingIdx;
        assert.ok(layer.gradients.subarray(p * c.E, (p + 1) * c.E).every((v) => v === 0), 'the padding row gets no gradient');
      }
    }, 300);
  });

  it('Linear and Embedding refuse outputs and parameter buffers past 2^31-1 elements with a coded RangeError, allocating nothing', function () {
    check('huge Linear/Embedding', fc.record({ a: fc.constantFrom(2 ** 16, 2 ** 20, 2 ** 30), b: fc.constantFrom(2 ** 16, 2 ** 20, 2 ** 30) }), ({ a, b }) => {
      const r1 = attempt(() => new Linear({ inFeatures: a, outFeatures: b }));
      const r2 = attempt(() => new Embedding({ numEmbeddings: a, embeddingDim: b }));
      for (const r of [r1, r2]) {
        assert.ok(!r.ok, 'at least 2^32 parameters are refused');
        assert.ok(r.error instanceof RangeError && r.error.code === 'ERR_RNNKIT_VALUE' && /2\^31-1/.test(r.error.message), r.error.message);
      }
    }, 9, true);
  });

  // ------------------------------------------------------------ AttentionDecoder

  it('AttentionDecoder forward/backward/step give normalised attention weights or a coded error, never touching the weights', async function () {
    const config = fc.record({
      cell: fc.constantFrom('rnn', 'gru', 'lstm'), attention: fc.constantFrom('bahdanau', 'luong-dot', 'luong-general'),
      X: fc.integer({ min: 1, max: 3 }), E: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 3 }),
      A: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }), bias: fc.boolean(),
    }).map((c) => (c.attention === 'luong-dot' ? { ...c, E: c.H } : c));
    const arb = config.chain((c) => fc.record({ M: fc.integer({ min: 1, max: 3 }), N: fc.integer({ min: 1, max: 4 }), B: fc.integer({ min: 1, max: 3 }) })
      .chain(({ M, N, B }) => fc.record({
        c: fc.constant(c), M: fc.constant(M), N: fc.constant(N), B: fc.constant(B),
        x: tensorArb([M, B, c.X]), memory: tensorArb([N, B, c.E]),
        sourceLengths: fc.option(fc.oneof({ weight: 5, arbitrary: fc.array(fc.integer({ min: 1, max: N }), { minLength: B, maxLength: B }).map((v) => Int32Array.from(v)) },
          { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: N + 1 }), { minLength: B, maxLength: B }).map((v) => Int32Array.from(v)) },
          { weight: 1, arbitrary: junk }), { nil: undefined }),
        targetLengths: fc.option(fc.array(fc.integer({ min: 0, max: M + 1 }), { minLength: B, maxLength: B }).map((v) => Int32Array.from(v)), { nil: undefined }),
        h0: fc.option(tensorArb([1, B, c.H]), { nil: undefined }),
        training: fc.oneof(fc.boolean(), junk), async: fc.boolean(), step: fc.boolean(), reuseKeys: fc.boolean(),
        dOutput: fc.option(tensorArb([M, B, c.H + c.E]), { nil: undefined }),
      })));
    await checkAsync('AttentionDecoder', arb, async (k) => {
      const { c } = k;
      const dec = new AttentionDecoder({ cell: c.cell as 'gru', attention: c.attention as 'bahdanau', inputSize: c.X, memorySize: c.E,
        hiddenSize: c.H, attentionSize: c.A, bias: c.bias, seed: 3 });
      const params = dec.parameters.slice();
      const options = { sourceLengths: k.sourceLengths as Int32Array, targetLengths: k.targetLengths, h0: k.h0 as Tensor, training: k.training as boolean };
      const out = k.step
        ? attempt(() => dec.step(k.x as Tensor, k.memory as Tensor, k.h0 === undefined ? undefined : { h: k.h0 as Tensor },
          { sourceLengths: k.sourceLengths as Int32Array, reuseKeys: k.reuseKeys }), STATES)
        : await attemptAsync(() => (k.async ? dec.forwardAsync(k.x as Tensor, k.memory as Tensor, options)
          : Promise.resolve().then(() => dec.forward(k.x as Tensor, k.memory as Tensor, options))));
      assert.ok(sameBits(dec.parameters, params));
      if (out.ok && moderate((k.x as Tensor).data) && moderate((k.memory as Tensor).data) && (k.h0 === undefined || moderate((k.h0 as Tensor).data))) {
        const { M, N, B } = k;
        const Mr = k.step ? 1 : M;
        const w = out.value.weights.data;
        for (let i = 0; i < Mr; i++) {
          for (let b = 0; b < B; b++) {
            const tl = !k.step && k.targetLengths ? k.targetLengths[b] : Mr;
            const sl = k.sourceLengths instanceof Int32Array ? k.sourceLengths[b] : N;
            let sum = 0;
            for (let j = 0; j < N; j++) {
              const a = w[(i * B + b) * N + j];
              assert.ok(a >= 0 && a <= 1 + 1e-6, `a[${i},${b},${j}] = ${a}`);
              if (j >= sl) assert.equal(a, 0, 'padded source positions get no attention');
              sum += a;
            }
            if (i < tl) assert.ok(Math.abs(sum - 1) < 1e-4, `attention weights of step ${i}, row ${b} sum to ${sum}`);
            else assert.equal(sum, 0, 'padded target steps have no attention');
          }
        }
      }
      const grads = dec.gradients.slice();
      const back = await attemptAsync(() => (k.async ? dec.backwardAsync({ dOutput: k.dOutput as Tensor }) : Promise.resolve().then(() => dec.backward({ dOutput: k.dOutput as Tensor }))), STATES);
      if (!back.ok) assert.ok(sameBits(dec.gradients, grads));
      assert.ok(sameBits(dec.parameters, params));
    }, 400);
  });

  it('AttentionDecoder refuses a workspace above workspaceLimitBytes, and shapes past 2^31-1 elements, before allocating', function () {
    check('AttentionDecoder limits', fc.record({ M: fc.integer({ min: 100, max: 400 }), N: fc.integer({ min: 100, max: 400 }), B: fc.integer({ min: 8, max: 64 }) }), ({ M, N, B }) => {
      const dec = new AttentionDecoder({ cell: 'gru', attention: 'bahdanau', inputSize: 1, memorySize: 1, hiddenSize: 2, workspaceLimitBytes: 1 << 16 });
      const x = { data: new Float32Array(M * B), shape: [M, B, 1] }, memory = { data: new Float32Array(N * B), shape: [N, B, 1] };
      for (const training of [true, false]) {
        const r = attempt(() => dec.forward(x, memory, { training }));
        assert.ok(!r.ok && r.error instanceof RangeError && r.error.code === 'ERR_RNNKIT_VALUE' && /workspaceLimitBytes/.test(r.error.message));
      }
      // M * B * N * A past 2^31-1: the native size check refuses it before the workspace exists.
      const big = new AttentionDecoder({ cell: 'gru', attention: 'bahdanau', inputSize: 1, memorySize: 1, hiddenSize: 2, attentionSize: 2 ** 16 });
      const r = attempt(() => big.forward(x, memory));
      assert.ok(!r.ok && r.error instanceof RangeError && r.error.code === 'ERR_RNNKIT_VALUE', r.ok ? 'accepted' : r.error.message);
    }, 10, true);
  });
});
