// Bad input to the recurrent cells (RNNCell tanh/relu, GRUCell, LSTMCell) and misuse of their tapes:
// every refusal has the right class, a stable code and a message naming the argument, and leaves the
// cell exactly as it was (parameters, gradients, and a pending tape that still backpropagates to the
// bits of a twin cell that never saw the bad call).

import assert from 'node:assert/strict';
import { GRUCell, RnnkitError, type CellTape, type RecurrentCell, type RecurrentCellOptions, type Tensor } from '../lib';
import { CellTape as CellTapeClass } from '../lib/layers/recurrent-cell';
import { CELL_KINDS, tensor, type CellKind } from './helpers/cells';

type ErrorClass = typeof TypeError | typeof RangeError | typeof RnnkitError;
const TYPE = 'ERR_RNNKIT_TYPE', SHAPE = 'ERR_RNNKIT_SHAPE', VALUE = 'ERR_RNNKIT_VALUE', STATE = 'ERR_RNNKIT_STATE';

const I = 4, H = 5, B = 3;
const BASE: RecurrentCellOptions = { inputSize: I, hiddenSize: H, seed: 7 };

function assertRefused(fn: () => unknown, cls: ErrorClass, code: string, names: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected a ${cls.name}, got ${String(err)}`);
    assert.equal((err as { code?: unknown }).code, code, `code of: ${(err as Error).message}`);
    assert.match((err as Error).message, names);
    return true;
  });
}

async function assertRejected(fn: () => Promise<unknown>, cls: ErrorClass, code: string, names: RegExp): Promise<void> {
  let failure: unknown = null;
  try {
    await fn();
  } catch (err) {
    failure = err;
  }
  assert.ok(failure !== null, 'expected a rejection');
  assertRefused(() => { throw failure; }, cls, code, names);
}

// ---------------------------------------------------------------- the probe

function step(cell: RecurrentCell, lstm: boolean, seed: number) {
  return cell.forward(tensor([B, I], seed), { h: tensor([B, H], seed + 1, 0.5), c: lstm ? tensor([B, H], seed + 2, 0.5) : undefined, training: true });
}

function upstream(lstm: boolean) {
  return { dh: tensor([B, H], 31), dc: lstm ? tensor([B, H], 32) : undefined };
}

/** Everything a cell computes from here on: the pending tape's backward, a new step, an inference step. */
function probe(cell: RecurrentCell, lstm: boolean, pending: CellTape) {
  const first = cell.backward(pending, upstream(lstm));
  const next = step(cell, lstm, 41);
  const second = cell.backward(next.tape, upstream(lstm));
  const inference = cell.forward(tensor([B + 1, I], 44));
  return { first, next: { h: next.h, c: next.c }, second, inference, grads: cell.grads(), state: cell.stateDict() };
}

/** The calls a case makes, sync or async: the same arguments reach forward or forwardAsync, backward or backwardAsync. */
interface Calls {
  forward(x: Tensor, options?: unknown): unknown;
  backward(tape: unknown, grads?: unknown): unknown;
}

function callsOf(cell: RecurrentCell, async: boolean): Calls {
  const c = cell as unknown as Record<string, (...args: unknown[]) => unknown>;
  return async
    ? { forward: (...a) => c.forwardAsync.apply(cell, a), backward: (...a) => c.backwardAsync.apply(cell, a) }
    : { forward: (...a) => c.forward.apply(cell, a), backward: (...a) => c.backward.apply(cell, a) };
}

interface BadCase<C = unknown> {
  name: string;
  /** Valid calls made on the tested cell and on its twin alike, before the bad call; returns its context. */
  prepare?(cell: RecurrentCell, kind: CellKind): C;
  bad(use: Calls, cell: RecurrentCell, context: C, pending: CellTape, kind: CellKind): unknown;
  /** Undoes `prepare` on both, so that the pending tape is valid again. */
  restore?(cell: RecurrentCell, context: C): void;
  cls: ErrorClass;
  code: string;
  names: RegExp;
  options?: Partial<RecurrentCellOptions>;
  /** Only for these kinds (default: all). */
  only?: (kind: CellKind) => boolean;
}

async function runBadCase<C>(kind: CellKind, c: BadCase<C>, async = false): Promise<void> {
  const options = { ...BASE, ...c.options };
  const cell = kind.make(options), twin = kind.make(options);
  const pending = step(cell, kind.lstm, 11), twinPending = step(twin, kind.lstm, 11);
  const context = c.prepare?.(cell, kind) as C;
  c.prepare?.(twin, kind);
  const stateBefore = cell.stateDict(), gradsBefore = cell.grads();

  const use = callsOf(cell, async);
  if (async) await assertRejected(async () => c.bad(use, cell, context, pending.tape, kind), c.cls, c.code, c.names);
  else assertRefused(() => c.bad(use, cell, context, pending.tape, kind), c.cls, c.code, c.names);

  assert.deepEqual(cell.stateDict(), stateBefore, 'parameters changed');
  assert.deepEqual(cell.grads(), gradsBefore, 'gradients changed');
  c.restore?.(cell, context);
  c.restore?.(twin, context);
  assert.deepEqual(probe(cell, kind.lstm, pending.tape), probe(twin, kind.lstm, twinPending.tape));
}

// ---------------------------------------------------------------- cases

interface ConstructorCase { name: string; options: unknown; cls: ErrorClass; code: string; names: RegExp; rnnOnly?: boolean }

const constructorCases: ConstructorCase[] = [
  { name: 'a missing inputSize', options: { hiddenSize: H }, cls: TypeError, code: TYPE, names: /^inputSize:.*undefined/ },
  { name: 'a zero hiddenSize', options: { inputSize: I, hiddenSize: 0 }, cls: RangeError, code: VALUE, names: /^hiddenSize:/ },
  { name: 'a fractional inputSize', options: { inputSize: 2.5, hiddenSize: H }, cls: RangeError, code: VALUE, names: /^inputSize:.*2\.5/ },
  { name: "bias 'yes'", options: { inputSize: I, hiddenSize: H, bias: 'yes' }, cls: TypeError, code: TYPE, names: /^bias:.*"yes"/ },
  { name: 'a string seed', options: { inputSize: I, hiddenSize: H, seed: '7' }, cls: TypeError, code: TYPE, names: /^seed:/ },
  { name: 'workspaceLimitBytes 0', options: { inputSize: I, hiddenSize: H, workspaceLimitBytes: 0 }, cls: RangeError, code: VALUE, names: /^workspaceLimitBytes:/ },
  { name: 'numLayers 2 (a layer\'s option)', options: { inputSize: I, hiddenSize: H, numLayers: 2 }, cls: RangeError, code: VALUE, names: /^numLayers: a cell is one layer.*got numLayers 2/ },
  { name: 'bidirectional true', options: { inputSize: I, hiddenSize: H, bidirectional: true }, cls: RangeError, code: VALUE, names: /^bidirectional: / },
  { name: 'dropout 0.5', options: { inputSize: I, hiddenSize: H, dropout: 0.5 }, cls: RangeError, code: VALUE, names: /^dropout: / },
  { name: 'options that are null', options: null, cls: TypeError, code: TYPE, names: /Cell options: expected an object, got null/ },
  { name: 'missing options', options: undefined, cls: TypeError, code: TYPE, names: /Cell options: expected an object, got undefined/ },
  { name: "nonlinearity 'sigmoid'", options: { inputSize: I, hiddenSize: H, nonlinearity: 'sigmoid' }, cls: RangeError, code: VALUE, names: /^nonlinearity:.*"sigmoid"/, rnnOnly: true },
];

const notLstm = (k: CellKind) => !k.lstm;
const lstmOnly = (k: CellKind) => k.lstm;
const x = (shape = [B, I]) => tensor(shape, 21);

const forwardCases: BadCase[] = [
  { name: 'x of rank 3 (a layer\'s [T, B, I])', bad: (u) => u.forward(x([1, B, I])), cls: RangeError, code: SHAPE, names: /^x: expected shape \[\*, 4\] \(\[B, inputSize=4\]\), got \[1, 3, 4\]/ },
  { name: 'x with the wrong inputSize', bad: (u) => u.forward(x([B, I + 1])), cls: RangeError, code: SHAPE, names: /^x: .*inputSize=4.*\[3, 5\]/ },
  { name: 'x whose data is a Float64Array', bad: (u) => u.forward({ data: Float64Array.from(x().data), shape: [B, I] } as unknown as Tensor), cls: TypeError, code: TYPE, names: /^x\.data: .*Float64Array/ },
  { name: 'x whose data is shorter than its shape', bad: (u) => u.forward({ data: x().data.subarray(1), shape: [B, I] }), cls: RangeError, code: SHAPE, names: /^x: shape \[3, 4\] needs 12 elements, data has 11/ },
  { name: 'x with B = 0', bad: (u) => u.forward({ data: new Float32Array(0), shape: [0, I] }), cls: RangeError, code: SHAPE, names: /^x: expected B >= 1/ },
  { name: 'x that is not an object', bad: (u) => u.forward(null as unknown as Tensor), cls: TypeError, code: TYPE, names: /^x: expected an object/ },
  { name: 'h of another batch size', bad: (u) => u.forward(x(), { h: tensor([B + 1, H], 22) }), cls: RangeError, code: SHAPE, names: /^h: expected shape \[3, 5\] \(\[B=3, hiddenSize=5\]\), got \[4, 5\]/ },
  { name: 'h of rank 3 (a layer\'s [L, B, H])', bad: (u) => u.forward(x(), { h: tensor([1, B, H], 22) }), cls: RangeError, code: SHAPE, names: /^h: .*got \[1, 3, 5\]/ },
  { name: 'h whose data is a plain Array', bad: (u) => u.forward(x(), { h: { data: [0], shape: [B, H] } as unknown as Tensor }), cls: TypeError, code: TYPE, names: /^h\.data: expected a Float32Array, got Array/ },
  { name: 'c given to a cell without a cell state', only: notLstm, bad: (u) => u.forward(x(), { c: tensor([B, H], 23) }), cls: TypeError, code: TYPE, names: /^c: only LSTMCell has a cell state \((this is a (RNNCell|GRUCell))\)/ },
  { name: 'c of the wrong shape', only: lstmOnly, bad: (u) => u.forward(x(), { c: tensor([B, H + 1], 23) }), cls: RangeError, code: SHAPE, names: /^c: .*\[B=3, hiddenSize=5\].*\[3, 6\]/ },
  { name: "a layer's h0 instead of h", bad: (u) => u.forward(x(), { h0: tensor([B, H], 22) } as never), cls: TypeError, code: TYPE, names: /^options\.h0: a cell's forward takes \{ h, c, training \}; h0 is a layer's \(use h\)/ },
  { name: "a layer's lengths", bad: (u) => u.forward(x(), { lengths: new Int32Array([1, 1, 1]) } as never), cls: TypeError, code: TYPE, names: /^options\.lengths: / },
  { name: "training 'yes'", bad: (u) => u.forward(x(), { training: 'yes' as unknown as boolean }), cls: TypeError, code: TYPE, names: /^training: expected a boolean/ },
  { name: 'options that are a number', bad: (u) => u.forward(x(), 5 as never), cls: TypeError, code: TYPE, names: /^options: expected an object, got 5/ },
  {
    name: 'a training forward whose backward would need more than workspaceLimitBytes',
    options: { workspaceLimitBytes: 64 * 1024 }, bad: (u) => u.forward(x([1000, I]), { training: true }),
    cls: RangeError, code: VALUE, names: /^workspace: T=1, B=1000 needs .*above the limit of 0\.062500 MiB.*workspaceLimitBytes/,
  },
];

const good = () => upstream(false).dh;

const backwardCases: BadCase<any>[] = [  // eslint-disable-line @typescript-eslint/no-explicit-any
  { name: 'no tape at all', bad: (u) => u.backward(undefined as unknown as CellTape), cls: RnnkitError, code: STATE, names: /^backward: expected the tape of a training forward, got undefined; call forward\(x, \{ training: true \}\)/ },
  {
    name: "the tape of an inference forward (there is none)",
    prepare: (l) => l.forward(x()), bad: (u, _l, out) => u.backward(out.tape),
    cls: RnnkitError, code: STATE, names: /^backward: expected the tape of a training forward, got undefined/,
  },
  { name: 'the gradients where the tape goes (backward({ dh }))', bad: (u) => u.backward({ dh: good() } as unknown as CellTape), cls: TypeError, code: TYPE, names: /^tape: expected the tape a training forward returned, got object/ },
  { name: 'a tape made by hand', bad: (u) => u.backward(new CellTapeClass(B)), cls: TypeError, code: TYPE, names: /^tape: expected the tape a training forward returned/ },
  {
    name: 'a tape of another cell',
    bad: (u, _l, _c, _p, kind) => u.backward(step(kind.make(BASE), kind.lstm, 11).tape),
    cls: RnnkitError, code: STATE, names: /^backward: this tape was made by another cell/,
  },
  {
    name: 'a tape already used',
    prepare: (l, kind) => { const out = step(l, kind.lstm, 12); l.backward(out.tape, upstream(kind.lstm)); return out.tape; },
    bad: (u, _l, tape) => u.backward(tape), cls: RnnkitError, code: STATE, names: /^backward: this tape was already used/,
  },
  {
    name: 'a tape whose step the parameters changed in place no longer reproduce',
    prepare: (l, kind) => {
      const tape = step(l, kind.lstm, 14).tape, saved = l.parameters.slice();
      for (let i = 0; i < l.parameters.length; i++) l.parameters[i] -= 0.1 * Math.sign(saved[i]);  // an optimizer step inside the loop
      return { tape, saved };
    },
    bad: (u, l, c) => u.backward(c.tape, upstream(l.hasCellState)),
    restore: (l, c) => { l.parameters.set(c.saved); },
    cls: RnnkitError, code: STATE, names: /^backward: the parameters changed after the forward that made this tape \(an optimizer step/,
  },
  { name: 'dh of another batch size', bad: (u, _l, _c, p) => u.backward(p, { dh: tensor([B + 1, H], 24) }), cls: RangeError, code: SHAPE, names: /^dh: expected shape \[3, 5\] \(\[B=3, hiddenSize=5\] \(the tape's batch\)\), got \[4, 5\]/ },
  { name: 'dh whose data is a Float64Array', bad: (u, _l, _c, p) => u.backward(p, { dh: { data: new Float64Array(B * H), shape: [B, H] } as unknown as Tensor }), cls: TypeError, code: TYPE, names: /^dh\.data: .*Float64Array/ },
  { name: 'dc given to a cell without a cell state', only: notLstm, bad: (u, _l, _c, p) => u.backward(p, { dh: good(), dc: tensor([B, H], 25) }), cls: TypeError, code: TYPE, names: /^dc: only LSTMCell has a cell state/ },
  { name: 'dc of the wrong shape', only: lstmOnly, bad: (u, _l, _c, p) => u.backward(p, { dc: tensor([H, B], 25) }), cls: RangeError, code: SHAPE, names: /^dc: .*got \[5, 3\]/ },
  { name: "a layer's dhN instead of dh", bad: (u, _l, _c, p) => u.backward(p, { dhN: good() } as never), cls: TypeError, code: TYPE, names: /^grads\.dhN: a cell's backward takes \{ dh, dc \}; dhN is a layer's \(use dh\)/ },
  { name: "a layer's dOutput", bad: (u, _l, _c, p) => u.backward(p, { dOutput: good() } as never), cls: TypeError, code: TYPE, names: /^grads\.dOutput: / },
  { name: 'grads that are null', bad: (u, _l, _c, p) => u.backward(p, null as never), cls: TypeError, code: TYPE, names: /^grads: expected an object, got null/ },
];

const stateDictCases: BadCase[] = [
  {
    name: "a layer's stateDict (weight_ih_l0, ...)",
    bad: (_u, l, _c, _p, kind) => l.loadStateDict(kind.layer({ inputSize: I, hiddenSize: H }).stateDict()),
    cls: RangeError, code: SHAPE, names: /^stateDict: missing key 'weight_ih' \(expected shape \[\d+, 4\]\)/,
  },
  {
    name: 'a stateDict with an extra key',
    bad: (_u, l) => l.loadStateDict({ ...l.stateDict(), weight_ih_l0: l.stateDict().weight_ih }),
    cls: RangeError, code: SHAPE, names: /^stateDict: unexpected keys 'weight_ih_l0'/,
  },
  {
    name: 'a stateDict with a NaN',
    bad: (_u, l) => { const d = l.stateDict(); d.bias_hh.data[2] = NaN; l.loadStateDict(d); },
    cls: RangeError, code: VALUE, names: /^stateDict\['bias_hh'\]: expected finite values, got NaN at index 2/,
  },
];

// ---------------------------------------------------------------- tests

for (const kind of CELL_KINDS) {
  describe(`${kind.name} refuses bad input`, function () {
    for (const c of constructorCases) {
      if (c.rnnOnly && !kind.name.startsWith('RNNCell')) continue;
      it(`refuses ${c.name} with a coded error`, function () {
        assertRefused(() => kind.make(c.options as RecurrentCellOptions), c.cls, c.code, c.names);
      });
    }

    for (const c of forwardCases.filter((f) => !f.only || f.only(kind))) {
      it(`forward refuses ${c.name} and nothing changes`, () => runBadCase(kind, c));
      it(`forwardAsync refuses ${c.name} and nothing changes`, () => runBadCase(kind, c, true));
    }

    for (const c of backwardCases.filter((b) => !b.only || b.only(kind))) {
      it(`backward refuses ${c.name} and nothing changes`, () => runBadCase(kind, c));
      it(`backwardAsync refuses ${c.name} and nothing changes`, () => runBadCase(kind, c, true));
    }

    for (const c of stateDictCases) {
      it(`loadStateDict refuses ${c.name}, and a pending tape stays valid`, () => runBadCase(kind, c));
    }

    it('backward refuses a tape made before loadStateDict or resetParameters, and the new weights then train', function () {
      const cell = kind.make(BASE);
      const before = step(cell, kind.lstm, 13);
      cell.loadStateDict(kind.make({ ...BASE, seed: 8 }).stateDict());
      assertRefused(() => cell.backward(before.tape, upstream(kind.lstm)), RnnkitError, STATE, /^backward: the parameters were loaded or reset/);
      const again = step(cell, kind.lstm, 13);
      cell.resetParameters();
      assertRefused(() => cell.backward(again.tape, upstream(kind.lstm)), RnnkitError, STATE, /^backward: the parameters were loaded or reset/);
      assert.ok(cell.gradients.every((v) => v === 0), 'no gradient was accumulated');
      const fresh = kind.make(BASE);
      fresh.loadStateDict(cell.stateDict());
      assert.deepEqual(probe(cell, kind.lstm, step(cell, kind.lstm, 15).tape), probe(fresh, kind.lstm, step(fresh, kind.lstm, 15).tape));
    });
  });
}

describe('a GRUCell stateDict loaded into an LSTMCell', function () {
  it('is refused with a shape error naming weight_ih and both shapes, and the LSTMCell stays unchanged', function () {
    return runBadCase(CELL_KINDS[3], {
      name: 'GRUCell into LSTMCell',
      bad: (_u, l) => l.loadStateDict(new GRUCell({ ...BASE, seed: 5 }).stateDict()),
      cls: RangeError, code: SHAPE, names: /^stateDict\['weight_ih'\]: expected shape \[20, 4\].*got \[15, 4\]/,
    });
  });
});
