// Bad input to the recurrent layers (RNN tanh/relu, GRU, LSTM) and to the raw native binding:
// every refusal has the right class, a stable code and a message naming the argument, and
// leaves the layer exactly as it was (parameters, gradients, pending backward, dropout generator).

import assert from 'node:assert/strict';
import { GRU, LSTM, RNN, RnnkitError, type Recurrent, type RecurrentOptions, type Tensor } from '../lib';
import { native, NativeCell, type NativeRecurrentStack, type NativeStackConfig } from '../lib/native';
import { randomArray } from './helpers/random-array';

// ---------------------------------------------------------------- helpers

type ErrorClass = typeof TypeError | typeof RangeError | typeof RnnkitError;

interface CellKind {
  name: string;
  lstm: boolean;
  gates: number;
  make(options: RecurrentOptions): Recurrent;
}

/** An RNN with `nonlinearity` unless the options name their own; options that are not an object pass as they are. */
function rnn(nonlinearity: 'tanh' | 'relu', o: RecurrentOptions): RNN {
  const isObject = typeof o === 'object' && o !== null && !Array.isArray(o);
  return new RNN(isObject ? { nonlinearity, ...o } : o);
}

const CELLS: CellKind[] = [
  { name: 'RNN (tanh)', lstm: false, gates: 1, make: (o) => rnn('tanh', o) },
  { name: 'RNN (relu)', lstm: false, gates: 1, make: (o) => rnn('relu', o) },
  { name: 'GRU', lstm: false, gates: 3, make: (o) => new GRU(o) },
  { name: 'LSTM', lstm: true, gates: 4, make: (o) => new LSTM(o) },
];

// Two layers, both directions and dropout, so that a bad call that moved the dropout generator,
// dropped a pending backward or wrote part of a state dict shows up in the probe below.
const I = 3, H = 4, L = 2, D = 2, S = L * D, T = 5, B = 3;
const BASE: RecurrentOptions = { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, dropout: 0.25, seed: 11 };

function tensor(shape: number[], seed: number, scale = 1): Tensor {
  return { data: randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), shape };
}

/** Runs fn and checks it throws `cls` with `code` and a message matching `names`. */
function assertRefused(fn: () => unknown, cls: ErrorClass, code: string, names: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected a ${cls.name}, got ${String(err)}`);
    assert.equal((err as { code?: unknown }).code, code, `code of: ${(err as Error).message}`);
    assert.match((err as Error).message, names);
    return true;
  });
}

/** Same for a call into the raw binding, whose async twins may throw or reject. */
async function assertRefusedMaybeAsync(fn: () => unknown, cls: ErrorClass, code: string, names: RegExp): Promise<void> {
  let failure: unknown = null;
  try {
    await fn();
  } catch (err) {
    failure = err;
  }
  assertRefused(() => { if (failure !== null) throw failure; }, cls, code, names);
}

// The valid calls every test ends with: training forward (dropout, h0, c0, lengths), backward with
// every upstream gradient, and an inference forward. Everything they produce is returned.
const probeInputs = (lstm: boolean) => ({
  x: tensor([T, B, I], 1),
  h0: tensor([S, B, H], 2, 0.5),
  c0: lstm ? tensor([S, B, H], 3, 0.5) : undefined,
  lengths: new Int32Array([T, 2, 4]),
  dOutput: tensor([T, B, D * H], 4),
  dhN: tensor([S, B, H], 5),
  dcN: lstm ? tensor([S, B, H], 6) : undefined,
  x2: tensor([T - 1, B, I], 7),
});

function trainingForward(layer: Recurrent, lstm: boolean) {
  const p = probeInputs(lstm);
  return layer.forward(p.x, { h0: p.h0, c0: p.c0, lengths: p.lengths, training: true });
}

function validBackward(layer: Recurrent, lstm: boolean) {
  const p = probeInputs(lstm);
  return layer.backward({ dOutput: p.dOutput, dhN: p.dhN, dcN: p.dcN });
}

function probe(layer: Recurrent, lstm: boolean, pendingBackward: boolean) {
  const first = pendingBackward ? validBackward(layer, lstm) : null;
  const forward = trainingForward(layer, lstm);
  const backward = validBackward(layer, lstm);
  const inference = layer.forward(probeInputs(lstm).x2);
  return { first, forward, backward, inference, grads: layer.grads(), state: layer.stateDict() };
}

interface BadCase {
  name: string;
  /** Valid calls made first, on the tested layer and on the reference alike. */
  setup?: 'training-forward' | 'inference-forward';
  bad(layer: Recurrent, cell: CellKind): unknown;
  cls: ErrorClass;
  code: string;
  names: RegExp;
  /** Options that differ from BASE, for both layers. */
  options?: Partial<RecurrentOptions>;
  /** Why this case is skipped: a library bug, described where the case is defined. */
  knownBug?: string;
}

function runBadCase(cell: CellKind, c: BadCase): void {
  const options = { ...BASE, ...c.options };
  const layer = cell.make(options);
  const reference = cell.make(options);
  for (const l of [layer, reference]) {
    if (c.setup === 'training-forward') trainingForward(l, cell.lstm);
    if (c.setup === 'inference-forward') l.forward(probeInputs(cell.lstm).x2);
  }
  const stateBefore = layer.stateDict();
  const gradsBefore = layer.grads();

  assertRefused(() => c.bad(layer, cell), c.cls, c.code, c.names);

  assert.deepEqual(layer.stateDict(), stateBefore, 'parameters changed');
  assert.deepEqual(layer.grads(), gradsBefore, 'gradients changed');
  // Bit for bit what a layer that never saw the bad call computes.
  const pending = c.setup === 'training-forward';
  assert.deepEqual(probe(layer, cell.lstm, pending), probe(reference, cell.lstm, pending));
}

// ---------------------------------------------------------------- cases

interface ConstructorCase { name: string; options: unknown; cls: ErrorClass; code: string; names: RegExp }

function constructorCases(cell: CellKind): ConstructorCase[] {
  const base = { inputSize: I, hiddenSize: H };
  const out: ConstructorCase[] = [
    { name: 'a missing inputSize', options: { hiddenSize: H }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^inputSize:.*undefined/ },
    { name: 'a missing hiddenSize', options: { inputSize: I }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^hiddenSize:.*undefined/ },
    { name: 'a string inputSize', options: { ...base, inputSize: '3' }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^inputSize:/ },
    { name: 'a NaN inputSize', options: { ...base, inputSize: NaN }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^inputSize:.*NaN/ },
    { name: 'a NaN hiddenSize', options: { ...base, hiddenSize: NaN }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^hiddenSize:.*NaN/ },
    { name: 'a negative inputSize', options: { ...base, inputSize: -3 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^inputSize:.*-3/ },
    { name: 'a negative hiddenSize', options: { ...base, hiddenSize: -4 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^hiddenSize:.*-4/ },
    { name: 'a fractional inputSize', options: { ...base, inputSize: 2.5 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^inputSize:.*2\.5/ },
    { name: 'a fractional hiddenSize', options: { ...base, hiddenSize: 4.5 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^hiddenSize:.*4\.5/ },
    { name: 'a zero hiddenSize', options: { ...base, hiddenSize: 0 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^hiddenSize:/ },
    { name: 'numLayers 0', options: { ...base, numLayers: 0 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^numLayers:.*0/ },
    { name: 'dropout 1', options: { ...base, dropout: 1 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^dropout:.*\[0, 1\).*got 1/ },
    { name: 'dropout -0.1', options: { ...base, dropout: -0.1 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^dropout:.*-0\.1/ },
    { name: 'dropout NaN', options: { ...base, dropout: NaN }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^dropout:.*NaN/ },
    { name: "bias 'yes'", options: { ...base, bias: 'yes' }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^bias:.*"yes"/ },
    { name: 'bidirectional 1', options: { ...base, bidirectional: 1 }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^bidirectional:/ },
    { name: "batchFirst 'true'", options: { ...base, batchFirst: 'true' }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^batchFirst: expected a boolean, got "true"/ },
    { name: "a string seed", options: { ...base, seed: '7' }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^seed:/ },
    { name: 'workspaceLimitBytes 0', options: { ...base, workspaceLimitBytes: 0 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^workspaceLimitBytes:/ },
    { name: 'options that are a number', options: 5, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /options: expected an object, got 5/ },
    { name: 'options that are null', options: null, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /options: expected an object, got null/ },
    { name: 'options that are an array', options: [I, H], cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /options: expected an object, got Array/ },
    { name: 'missing options', options: undefined, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /options: expected an object, got undefined/ },
  ];
  if (cell.name.startsWith('RNN')) {
    out.push({ name: "nonlinearity 'sigmoid'", options: { ...base, nonlinearity: 'sigmoid' }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^nonlinearity:.*"sigmoid"/ });
  }
  return out;
}

function forwardCases(cell: CellKind): BadCase[] {
  const x = () => tensor([T, B, I], 21);
  const TYPE = 'ERR_RNNKIT_TYPE', SHAPE = 'ERR_RNNKIT_SHAPE', VALUE = 'ERR_RNNKIT_VALUE';
  const cases: BadCase[] = [
    { name: 'x of rank 1', bad: (l) => l.forward(tensor([T * B * I], 21)), cls: RangeError, code: SHAPE, names: /^x: expected shape \[\*, \*, 3\] \(\[T, B, inputSize=3\], or \[T, inputSize=3\] unbatched\), got \[45\]/ },
    { name: 'x of rank 4', bad: (l) => l.forward(tensor([T, B, I, 1], 21)), cls: RangeError, code: SHAPE, names: /^x: .*\[5, 3, 3, 1\]/ },
    { name: 'x with the wrong inputSize', bad: (l) => l.forward(tensor([T, B, I + 1], 21)), cls: RangeError, code: SHAPE, names: /^x: .*inputSize=3.*\[5, 3, 4\]/ },
    { name: 'an unbatched x (rank 2) with the wrong inputSize', bad: (l) => l.forward(tensor([T * B, I + 1], 21)), cls: RangeError, code: SHAPE, names: /^x: expected shape \[\*, 3\] \(\[T, inputSize=3\], unbatched\), got \[15, 4\]/ },
    { name: 'x whose data is a plain Array', bad: (l) => l.forward({ data: Array.from(x().data), shape: [T, B, I] } as unknown as Tensor), cls: TypeError, code: TYPE, names: /^x\.data: expected a Float32Array, got Array/ },
    { name: 'x whose data is a Float64Array', bad: (l) => l.forward({ data: Float64Array.from(x().data), shape: [T, B, I] } as unknown as Tensor), cls: TypeError, code: TYPE, names: /^x\.data: .*Float64Array/ },
    { name: 'x whose data is shorter than its shape', bad: (l) => l.forward({ data: x().data.subarray(1), shape: [T, B, I] }), cls: RangeError, code: SHAPE, names: /^x: .*44/ },
    { name: 'x whose data is longer than its shape', bad: (l) => l.forward({ data: x().data, shape: [T - 1, B, I] }), cls: RangeError, code: SHAPE, names: /^x: .*45/ },
    { name: 'x with a fractional dimension', bad: (l) => l.forward({ data: x().data, shape: [2.5, 6, I] }), cls: TypeError, code: TYPE, names: /^x\.shape:/ },
    { name: 'x that is not an object', bad: (l) => l.forward(null as unknown as Tensor), cls: TypeError, code: TYPE, names: /^x: expected an object/ },
    { name: 'x with T = 0', bad: (l) => l.forward({ data: new Float32Array(0), shape: [0, B, I] }), cls: RangeError, code: SHAPE, names: /^x: expected T >= 1/ },
    { name: 'x with B = 0', bad: (l) => l.forward({ data: new Float32Array(0), shape: [T, 0, I] }), cls: RangeError, code: SHAPE, names: /^x: expected T >= 1 and B >= 1/ },
    { name: 'options that are not an object', bad: (l) => l.forward(x(), 'training' as never), cls: TypeError, code: TYPE, names: /^options:/ },
    { name: 'h0 with the wrong batch', bad: (l) => l.forward(x(), { h0: tensor([S, B + 1, H], 22) }), cls: RangeError, code: SHAPE, names: /^h0: expected shape \[4, 3, 4\]/ },
    { name: 'h0 with the wrong number of layers', bad: (l) => l.forward(x(), { h0: tensor([S - 1, B, H], 22) }), cls: RangeError, code: SHAPE, names: /^h0: .*numLayers\*numDirections=4/ },
    { name: 'h0 flattened', bad: (l) => l.forward(x(), { h0: tensor([S * B * H], 22) }), cls: RangeError, code: SHAPE, names: /^h0:/ },
    { name: 'h0 whose data is a Float64Array', bad: (l) => l.forward(x(), { h0: { data: new Float64Array(S * B * H), shape: [S, B, H] } as unknown as Tensor }), cls: TypeError, code: TYPE, names: /^h0\.data:.*Float64Array/ },
    { name: 'h0 null', bad: (l) => l.forward(x(), { h0: null as unknown as Tensor }), cls: TypeError, code: TYPE, names: /^h0: expected an object, got null/ },
    { name: 'lengths as a plain Array', bad: (l) => l.forward(x(), { lengths: [T, T, T] as unknown as Int32Array }), cls: TypeError, code: TYPE, names: /^lengths: expected an Int32Array, got Array/ },
    { name: 'lengths as a Float32Array', bad: (l) => l.forward(x(), { lengths: new Float32Array([T, T, T]) as unknown as Int32Array }), cls: TypeError, code: TYPE, names: /^lengths: .*Float32Array/ },
    { name: 'too few lengths', bad: (l) => l.forward(x(), { lengths: new Int32Array([T, T]) }), cls: RangeError, code: SHAPE, names: /^lengths: expected 3 lengths.*got 2/ },
    { name: 'too many lengths', bad: (l) => l.forward(x(), { lengths: new Int32Array([T, T, T, T]) }), cls: RangeError, code: SHAPE, names: /^lengths: .*got 4/ },
    { name: 'a length of 0', bad: (l) => l.forward(x(), { lengths: new Int32Array([T, 0, T]) }), cls: RangeError, code: VALUE, names: /^lengths\[1\]: expected a length in \[1, 5\].*got 0/ },
    { name: 'a length above T', bad: (l) => l.forward(x(), { lengths: new Int32Array([T, T, T + 1]) }), cls: RangeError, code: VALUE, names: /^lengths\[2\]: .*got 6/ },
    { name: 'a negative length', bad: (l) => l.forward(x(), { lengths: new Int32Array([-1, T, T]) }), cls: RangeError, code: VALUE, names: /^lengths\[0\]: .*got -1/ },
    { name: 'training that is not a boolean', bad: (l) => l.forward(x(), { training: 1 as unknown as boolean }), cls: TypeError, code: TYPE, names: /^training: expected a boolean, got 1/ },
    { name: "training 'true'", bad: (l) => l.forward(x(), { training: 'true' as unknown as boolean }), cls: TypeError, code: TYPE, names: /^training:/ },
  ];
  if (cell.lstm) {
    cases.push(
      { name: 'c0 with the wrong hiddenSize', bad: (l) => l.forward(x(), { c0: tensor([S, B, H + 1], 23) }), cls: RangeError, code: SHAPE, names: /^c0: .*hiddenSize=4/ },
      { name: 'c0 whose data is too short', bad: (l) => l.forward(x(), { c0: { data: new Float32Array(S * B * H - 1), shape: [S, B, H] } }), cls: RangeError, code: SHAPE, names: /^c0: / },
      // A misshaped c0 next to a valid h0: nothing of the call may happen.
      { name: 'a valid h0 with a misshaped c0 in training', bad: (l) => l.forward(x(), { h0: tensor([S, B, H], 22), c0: tensor([S, B - 1, H], 23), training: true }), cls: RangeError, code: SHAPE, names: /^c0:/ },
    );
  } else {
    cases.push({ name: 'c0, which only LSTM has', bad: (l) => l.forward(x(), { c0: tensor([S, B, H], 23) }), cls: TypeError, code: TYPE, names: /^c0: only LSTM/ });
  }
  // A bad argument that comes after valid ones in a training call must not start the training forward.
  cases.push({ name: 'bad lengths in a training forward', bad: (l) => l.forward(x(), { h0: tensor([S, B, H], 22), lengths: new Int32Array([T, 9, T]), training: true }), cls: RangeError, code: VALUE, names: /^lengths\[1\]/ });
  // The same refusals after a training forward must keep its pending backward intact.
  for (const c of cases.slice(0, 3)) cases.push({ ...c, name: `${c.name} after a training forward`, setup: 'training-forward' });
  return cases;
}

function backwardCases(cell: CellKind): BadCase[] {
  const TYPE = 'ERR_RNNKIT_TYPE', SHAPE = 'ERR_RNNKIT_SHAPE';
  const cases: BadCase[] = [
    { name: 'dOutput of the wrong shape', bad: (l) => l.backward({ dOutput: tensor([T, B, H], 31) }), cls: RangeError, code: SHAPE, names: /^dOutput: expected shape \[5, 3, 8\].*got \[5, 3, 4\]/ },
    { name: 'dOutput shaped like a different T', bad: (l) => l.backward({ dOutput: tensor([T + 1, B, D * H], 31) }), cls: RangeError, code: SHAPE, names: /^dOutput:/ },
    { name: 'dOutput whose data is a Float64Array', bad: (l) => l.backward({ dOutput: { data: new Float64Array(T * B * D * H), shape: [T, B, D * H] } as unknown as Tensor }), cls: TypeError, code: TYPE, names: /^dOutput\.data:.*Float64Array/ },
    { name: 'dOutput whose data is too short', bad: (l) => l.backward({ dOutput: { data: new Float32Array(T * B * D * H - 1), shape: [T, B, D * H] } }), cls: RangeError, code: SHAPE, names: /^dOutput:/ },
    { name: 'dhN of the wrong shape', bad: (l) => l.backward({ dhN: tensor([S, B, H + 1], 32) }), cls: RangeError, code: SHAPE, names: /^dhN: expected shape \[4, 3, 4\]/ },
    { name: 'dhN whose data is a Float64Array', bad: (l) => l.backward({ dhN: { data: new Float64Array(S * B * H), shape: [S, B, H] } as unknown as Tensor }), cls: TypeError, code: TYPE, names: /^dhN\.data:.*Float64Array/ },
    { name: 'a valid dOutput with a misshaped dhN', bad: (l) => l.backward({ dOutput: tensor([T, B, D * H], 31), dhN: tensor([S, 1, H], 32) }), cls: RangeError, code: SHAPE, names: /^dhN:/ },
    { name: 'grads that are not an object', bad: (l) => l.backward(7 as never), cls: TypeError, code: TYPE, names: /^grads:/ },
  ];
  if (cell.lstm) {
    cases.push({ name: 'dcN of the wrong shape', bad: (l) => l.backward({ dOutput: tensor([T, B, D * H], 31), dcN: tensor([S, B, 1], 33) }), cls: RangeError, code: SHAPE, names: /^dcN:/ });
  } else {
    cases.push({ name: 'dcN, which only LSTM has', bad: (l) => l.backward({ dcN: tensor([S, B, H], 33) }), cls: TypeError, code: TYPE, names: /^dcN: only LSTM/ });
  }
  for (const c of cases) c.setup = 'training-forward';
  cases.push(
    { name: 'backward before any forward', bad: (l) => l.backward(), cls: RnnkitError, code: 'ERR_RNNKIT_STATE', names: /^backward: .*training: true/ },
    { name: 'backward after only an inference forward', setup: 'inference-forward', bad: (l) => l.backward({ dOutput: tensor([T - 1, B, D * H], 31) }), cls: RnnkitError, code: 'ERR_RNNKIT_STATE', names: /^backward:/ },
  );
  return cases;
}

function otherCell(cell: CellKind): CellKind {
  return cell.name === 'GRU' ? CELLS[3] : CELLS[2];
}

function stateDictCases(cell: CellKind): BadCase[] {
  const SHAPE = 'ERR_RNNKIT_SHAPE', VALUE = 'ERR_RNNKIT_VALUE';
  // A valid dict of different values, so a partial load would show; the last key is the one spoiled,
  // so a loader that wrote keys as it checked them would already have written all the others.
  const source = () => cell.make({ ...BASE, seed: 99 }).stateDict();
  const lastKey = 'bias_hh_l1_reverse';
  const spoiled = (edit: (d: Record<string, Tensor>) => void) => {
    const d = source();
    assert.ok(lastKey in d);
    edit(d);
    return d;
  };
  return [
    { name: 'a state dict with a missing key', bad: (l) => l.loadStateDict(spoiled((d) => { delete d[lastKey]; })), cls: RangeError, code: SHAPE, names: /^stateDict: missing key 'bias_hh_l1_reverse'/ },
    { name: 'a state dict with a misshaped key', bad: (l) => l.loadStateDict(spoiled((d) => { d[lastKey] = tensor([cell.gates * H, 1], 41); })), cls: RangeError, code: SHAPE, names: /^stateDict\['bias_hh_l1_reverse'\]: expected shape/ },
    { name: 'a state dict whose key has too little data', bad: (l) => l.loadStateDict(spoiled((d) => { d[lastKey] = { data: d[lastKey].data.subarray(1), shape: d[lastKey].shape }; })), cls: RangeError, code: SHAPE, names: /^stateDict\['bias_hh_l1_reverse'\]/ },
    { name: 'a state dict with a NaN value', bad: (l) => l.loadStateDict(spoiled((d) => { d[lastKey].data[2] = NaN; })), cls: RangeError, code: VALUE, names: /^stateDict\['bias_hh_l1_reverse'\]: expected finite values, got NaN at index 2/ },
    { name: 'a state dict with an Infinity value', bad: (l) => l.loadStateDict(spoiled((d) => { d.weight_hh_l1.data[5] = -Infinity; })), cls: RangeError, code: VALUE, names: /^stateDict\['weight_hh_l1'\]: .*-Infinity at index 5/ },
    { name: 'a state dict with a Float64Array value', bad: (l) => l.loadStateDict(spoiled((d) => { d[lastKey] = { data: Float64Array.from(d[lastKey].data), shape: d[lastKey].shape } as unknown as Tensor; })), cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^stateDict\['bias_hh_l1_reverse'\]\.data/ },
    { name: 'a state dict with an unexpected extra key (strict by default)', bad: (l) => l.loadStateDict(spoiled((d) => { d.weight_ih_l2 = tensor([cell.gates * H, D * H], 42); })), cls: RangeError, code: SHAPE, names: /^stateDict: unexpected keys 'weight_ih_l2'/ },
    { name: 'a state dict that is not an object', bad: (l) => l.loadStateDict('weights' as never), cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^stateDict: expected an object/ },
    { name: `the state dict of a ${otherCell(cell).name}`, bad: (l) => l.loadStateDict(otherCell(cell).make({ ...BASE, seed: 99 }).stateDict()), cls: RangeError, code: SHAPE, names: /^stateDict\['weight_ih_l0'\]: expected shape/ },
    { name: 'the state dict of a unidirectional layer', bad: (l) => l.loadStateDict(cell.make({ ...BASE, bidirectional: false }).stateDict()), cls: RangeError, code: SHAPE, names: /^stateDict: missing key 'weight_ih_l0_reverse'/ },
    { name: 'the state dict of a layer without biases', bad: (l) => l.loadStateDict(cell.make({ ...BASE, bias: false }).stateDict()), cls: RangeError, code: SHAPE, names: /^stateDict: missing key 'bias_ih_l0'/ },
  ];
}

// ---------------------------------------------------------------- tests

for (const cell of CELLS) {
  describe(`${cell.name} refuses bad input`, function () {
    describe('in the constructor', function () {
      for (const c of constructorCases(cell)) {
        it(`refuses ${c.name}, naming it`, function () {
          assertRefused(() => cell.make(c.options as RecurrentOptions), c.cls, c.code, c.names);
        });
      }

      it('refuses a fractional seed, naming it', function () {
        assert.throws(() => cell.make({ ...BASE, seed: 1.5 }), (err: unknown) => {
          assert.ok(err instanceof TypeError || err instanceof RangeError, String(err));
          assert.match((err as Error).message, /^seed:.*1\.5/);
          return true;
        });
      });

      // Library bug: seed 1.5 is a number of the right type with an unusable value. DESIGN.md ("What bad
      // input gets") says that is a RangeError, and inputSize 2.5 does get RangeError/ERR_RNNKIT_VALUE,
      // but recurrent.ts throws typeError(`seed: ...`) for every non-safe-integer seed.
      it('reports a fractional seed as a RangeError with ERR_RNNKIT_VALUE, like a fractional inputSize', function () {
        assertRefused(() => cell.make({ ...BASE, seed: 1.5 }), RangeError, 'ERR_RNNKIT_VALUE', /^seed:.*1\.5/);
      });

      // Library bug: a string dropout is a wrong type, which DESIGN.md says is a TypeError; recurrent.ts
      // (and the addon) report any non-number dropout as RangeError/ERR_RNNKIT_VALUE.
      it('reports a string dropout as a TypeError with ERR_RNNKIT_TYPE', function () {
        assertRefused(() => cell.make({ ...BASE, dropout: '0.5' as unknown as number }), TypeError, 'ERR_RNNKIT_TYPE', /^dropout:/);
      });
    });

    for (const [where, cases] of [['in forward', forwardCases(cell)], ['in backward', backwardCases(cell)],
      ['in loadStateDict', stateDictCases(cell)]] as const) {
      describe(where, function () {
        for (const c of cases) {
          const test = c.knownBug ? it.skip : it;
          test(`refuses ${c.name}, naming it, and stays unchanged`, function () {
            runBadCase(cell, c);
          });
        }
      });
    }

    describe('in loadStateDict with strict: false', function () {
      it('accepts an unexpected extra key and loads every expected one', function () {
        const layer = cell.make(BASE);
        const sourceLayer = cell.make({ ...BASE, seed: 99 });
        const dict: Record<string, Tensor> = { ...sourceLayer.stateDict(), weight_ih_l2: tensor([cell.gates * H, D * H], 42) };
        assert.throws(() => layer.loadStateDict(dict), RangeError);  // strict by default
        layer.loadStateDict(dict, { strict: false });
        assert.deepEqual(layer.stateDict(), sourceLayer.stateDict());
        const x = tensor([T, B, I], 1);
        assert.deepEqual(layer.forward(x), sourceLayer.forward(x));
      });

      it('still refuses a missing key and stays unchanged', function () {
        runBadCase(cell, {
          name: 'missing key, not strict',
          bad: (l) => {
            const d = cell.make({ ...BASE, seed: 99 }).stateDict();
            delete d.weight_hh_l1_reverse;
            l.loadStateDict(d, { strict: false });
          },
          cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^stateDict: missing key 'weight_hh_l1_reverse'/,
        });
      });
    });

    describe('in loadStateDict options', function () {
      // Library bug: loadStateDict reads `options.strict` without checking options, so null gives a
      // plain "Cannot read properties of null" TypeError with no code and no argument name.
      it('refuses null options with a coded TypeError naming them, and stays unchanged', function () {
        runBadCase(cell, {
          name: 'null options',
          bad: (l) => l.loadStateDict(l.stateDict(), null as never),
          cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /options/,
        });
      });
    });

    describe('against its workspace limit', function () {
      // A training forward far above a 1 MiB workspace limit; the probe's shapes stay far below it.
      const limited = { workspaceLimitBytes: 1 << 20 };
      const tooLong = () => tensor([2000, 64, I], 51);

      it('refuses a training forward above workspaceLimitBytes, naming the limit, with parameters and gradients unchanged', function () {
        const layer = cell.make({ ...BASE, ...limited });
        const reference = cell.make({ ...BASE, ...limited });
        const state = layer.stateDict(), grads = layer.grads();
        assertRefused(() => layer.forward(tooLong(), { training: true }), RangeError, 'ERR_RNNKIT_VALUE', /^workspace: T=2000, B=64.*workspaceLimitBytes/);
        assert.deepEqual(layer.stateDict(), state);
        assert.deepEqual(layer.grads(), grads);
        const x = tensor([T, B, I], 1);
        assert.deepEqual(layer.forward(x), reference.forward(x));  // inference draws nothing from the generator
      });

      it('runs an inference forward that needs less workspace than the training forward the same limit refuses', function () {
        const x = tensor([400, 64, I], 52);
        const probe = cell.make(BASE) as unknown as { stack: { workspaceBytes(T: number, B: number, training?: boolean): number } };
        const inference = probe.stack.workspaceBytes(400, 64, false), training = probe.stack.workspaceBytes(400, 64, true);
        assert.ok(inference < training, `inference ${inference} bytes, training ${training}`);
        const layer = cell.make({ ...BASE, workspaceLimitBytes: (inference + training) / 2 });
        assert.deepEqual(layer.forward(x), cell.make(BASE).forward(x));
        assertRefused(() => layer.forward(x, { training: true }), RangeError, 'ERR_RNNKIT_VALUE', /^workspace: T=400, B=64.*workspaceLimitBytes/);
      });

      // Library bug: Recurrent.prepareForward draws the dropout seed from the layer's generator
      // (this.random.nextSafeInteger()) before the native call, and the native call then refuses the
      // shape (workspace limit), so the refused call still moves the generator: every later training
      // forward uses a different dropout mask than a layer that never saw the bad call. DESIGN.md:
      // errors are "thrown before any state changes".
      it('refuses a training forward above workspaceLimitBytes and keeps its dropout generator where it was', function () {
        runBadCase(cell, {
          name: 'workspace', options: limited,
          bad: (l) => l.forward(tooLong(), { training: true }),
          cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /workspaceLimitBytes/,
        });
      });
    });
  });
}

describe('stateDict of a GRU loaded into an LSTM', function () {
  it('is refused with a shape error naming weight_ih_l0 and both shapes, and the LSTM stays unchanged', function () {
    runBadCase(CELLS[3], {
      name: 'GRU into LSTM',
      bad: (l) => l.loadStateDict(new GRU({ ...BASE, seed: 5 }).stateDict()),
      cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^stateDict\['weight_ih_l0'\]: expected shape \[16, 3\].*got \[12, 3\]/,
    });
  });
});

// ---------------------------------------------------------------- the raw binding

describe('the raw native RecurrentStack refuses bad arguments instead of crashing', function () {
  const config: NativeStackConfig = {
    cell: NativeCell.Lstm, numLayers: 1, numDirections: 1, inputSize: I, hiddenSize: H, bias: true, dropout: 0,
    workspaceLimitBytes: 1 << 30,
  };
  const nT = 3, nB = 2;
  const state = nB * H;

  interface ForwardArgs {
    params: unknown; x: unknown; T: unknown; B: unknown; h0: unknown; c0: unknown; lengths: unknown;
    training: unknown; seed: unknown; output: unknown; hN: unknown; cN: unknown;
  }
  let stack: NativeRecurrentStack;
  let valid: () => ForwardArgs;
  const call = (s: NativeRecurrentStack, a: ForwardArgs, async = false) => {
    const args = [a.params, a.x, a.T, a.B, a.h0, a.c0, a.lengths, a.training, a.seed, a.output, a.hN, a.cN];
    const f = (async ? s.forwardAsync : s.forward) as (...args: unknown[]) => unknown;
    return f.apply(s, args);
  };

  beforeEach(function () {
    stack = new native.RecurrentStack(config);
    const params = randomArray(stack.paramCount(), 61, 0.5);
    valid = () => ({
      params, x: randomArray(nT * nB * I, 62), T: nT, B: nB, h0: null, c0: null, lengths: new Int32Array([nT, 1]),
      training: true, seed: 1, output: new Float32Array(nT * nB * H), hN: new Float32Array(state), cN: new Float32Array(state),
    });
  });

  afterEach(function () {
    stack.dispose();
  });

  /** A valid forward+backward on `s`, compared with one on a fresh stack. */
  function assertStillWorks(s: NativeRecurrentStack): void {
    const run = (t: NativeRecurrentStack) => {
      const a = valid();
      call(t, a);
      const grads = new Float32Array(t.paramCount());
      const dx = new Float32Array(nT * nB * I), dh0 = new Float32Array(state), dc0 = new Float32Array(state);
      t.backward(a.params as Float32Array, grads, randomArray(nT * nB * H, 63), null, null, dx, dh0, dc0);
      return { output: a.output, hN: a.hN, cN: a.cN, grads, dx, dh0, dc0 };
    };
    const fresh = new native.RecurrentStack(config);
    try {
      const got = run(s), want = run(fresh);
      assert.ok((want.output as Float32Array).some((v) => v !== 0));
      assert.deepEqual(got, want);
    } finally {
      fresh.dispose();
    }
  }

  const forwardCases: Array<{ name: string; edit: (a: ForwardArgs) => void; cls: ErrorClass; code: string; names: RegExp }> = [
    { name: 'a Float64Array as params', edit: (a) => { a.params = new Float64Array(stack.paramCount()); }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^params: expected a Float32Array, got Float64Array/ },
    { name: 'params one element short', edit: (a) => { a.params = new Float32Array(stack.paramCount() - 1); }, cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^params: expected \d+ elements/ },
    { name: 'a plain Array as x', edit: (a) => { a.x = Array.from(a.x as Float32Array); }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^x: .*Array/ },
    { name: 'x shorter than T*B*I', edit: (a) => { a.x = new Float32Array(nT * nB * I - 1); }, cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^x: expected 18 elements, got 17/ },
    { name: 'a string as T', edit: (a) => { a.T = '3'; }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^T: expected a positive integer, got string/ },
    { name: 'T = 0', edit: (a) => { a.T = 0; }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^T: / },
    { name: 'a fractional B', edit: (a) => { a.B = 1.5; }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^B: / },
    { name: 'B = NaN', edit: (a) => { a.B = NaN; }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^B: / },
    { name: 'T so large the output cannot be indexed', edit: (a) => { a.T = 2 ** 30; }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^x: .*elements exceed|^output: .*elements exceed/ },
    { name: 'a too-short output array', edit: (a) => { a.output = new Float32Array(nT * nB * H - 1); }, cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^output: expected 24 elements, got 23/ },
    { name: 'a Float64Array output', edit: (a) => { a.output = new Float64Array(nT * nB * H); }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^output: .*Float64Array/ },
    { name: 'a missing hN', edit: (a) => { a.hN = undefined; }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^hN: .*undefined/ },
    { name: 'a too-long cN', edit: (a) => { a.cN = new Float32Array(state + 1); }, cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^cN: / },
    { name: 'a misshaped h0', edit: (a) => { a.h0 = new Float32Array(state * 2); }, cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^h0: / },
    { name: 'a number as c0', edit: (a) => { a.c0 = 0; }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^c0: / },
    { name: 'lengths above T', edit: (a) => { a.lengths = new Int32Array([nT, nT + 1]); }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^lengths\[1\]: expected a length in \[1, 3\], got 4/ },
    { name: 'a length of 0', edit: (a) => { a.lengths = new Int32Array([0, 1]); }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^lengths\[0\]: / },
    { name: 'too few lengths', edit: (a) => { a.lengths = new Int32Array([1]); }, cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^lengths: expected 2 elements, got 1/ },
    { name: 'lengths as a plain Array', edit: (a) => { a.lengths = [1, 1]; }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^lengths: .*Array/ },
    { name: "training 'yes'", edit: (a) => { a.training = 'yes'; }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^training: / },
    { name: 'a negative dropout seed', edit: (a) => { a.seed = -1; }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^dropoutSeed: / },
    { name: 'a fractional dropout seed', edit: (a) => { a.seed = 0.5; }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^dropoutSeed: / },
  ];

  for (const c of forwardCases) {
    it(`forward refuses ${c.name} with a coded error, writes nothing and keeps working`, function () {
      const a = valid();
      c.edit(a);
      const sentinel = (v: unknown) => (v instanceof Float32Array ? v.fill(7) : v);
      sentinel(a.output); sentinel(a.hN); sentinel(a.cN);
      assertRefused(() => call(stack, a), c.cls, c.code, c.names);
      for (const out of [a.output, a.hN, a.cN]) {
        if (out instanceof Float32Array) assert.ok(out.every((v) => v === 7), 'an output array was written');
      }
      assertStillWorks(stack);
    });

    it(`forwardAsync refuses ${c.name} with a coded error and is not left busy`, async function () {
      const a = valid();
      c.edit(a);
      await assertRefusedMaybeAsync(() => call(stack, a, true), c.cls, c.code, c.names);
      assertStillWorks(stack);
    });
  }

  it('backward before any training forward is refused with ERR_RNNKIT_STATE', function () {
    const n = stack.paramCount();
    assertRefused(() => stack.backward(new Float32Array(n), new Float32Array(n), null, null, null,
      new Float32Array(nT * nB * I), new Float32Array(state), new Float32Array(state)), TypeError, 'ERR_RNNKIT_STATE', /^backward: /);
    // An inference forward records nothing for backward either.
    call(stack, { ...valid(), training: false });
    assertRefused(() => stack.backward(new Float32Array(n), new Float32Array(n), null, null, null,
      new Float32Array(nT * nB * I), new Float32Array(state), new Float32Array(state)), TypeError, 'ERR_RNNKIT_STATE', /^backward: /);
  });

  const backwardCases: Array<{ name: string; args: (n: number) => unknown[]; cls: ErrorClass; code: string; names: RegExp }> = [
    { name: 'a too-short grads array', args: (n) => [new Float32Array(n), new Float32Array(n - 1), null, null, null, new Float32Array(nT * nB * I), new Float32Array(state), new Float32Array(state)], cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^grads: / },
    { name: 'a Float64Array dOutput', args: (n) => [new Float32Array(n), new Float32Array(n), new Float64Array(nT * nB * H), null, null, new Float32Array(nT * nB * I), new Float32Array(state), new Float32Array(state)], cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^dOutput: .*Float64Array/ },
    { name: 'a dhN of the wrong size', args: (n) => [new Float32Array(n), new Float32Array(n), null, new Float32Array(state + 2), null, new Float32Array(nT * nB * I), new Float32Array(state), new Float32Array(state)], cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^dhN: / },
    { name: 'a too-short dx', args: (n) => [new Float32Array(n), new Float32Array(n), null, null, null, new Float32Array(nT * nB * I - 1), new Float32Array(state), new Float32Array(state)], cls: RangeError, code: 'ERR_RNNKIT_SHAPE', names: /^dx: / },
    { name: 'a missing dc0', args: (n) => [new Float32Array(n), new Float32Array(n), null, null, null, new Float32Array(nT * nB * I), new Float32Array(state)], cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^dc0: / },
    { name: 'no arguments at all', args: () => [], cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^params: .*undefined/ },
  ];

  for (const c of backwardCases) {
    it(`backward refuses ${c.name} with a coded error, leaves the gradients alone and keeps working`, async function () {
      call(stack, valid());
      const args = c.args(stack.paramCount());
      const grads = args[1];
      if (grads instanceof Float32Array) grads.fill(3);
      assertRefused(() => (stack.backward as (...a: unknown[]) => void)(...args), c.cls, c.code, c.names);
      if (grads instanceof Float32Array) assert.ok(grads.every((v) => v === 3), 'grads were written');
      await assertRefusedMaybeAsync(() => (stack.backwardAsync as (...a: unknown[]) => unknown)(...args), c.cls, c.code, c.names);
      assertStillWorks(stack);
    });
  }

  const configCases: Array<{ name: string; config: unknown; cls: ErrorClass; code: string; names: RegExp }> = [
    { name: 'no config', config: undefined, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^config: expected an object/ },
    { name: 'cell 0', config: { ...config, cell: 0 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^cell: / },
    { name: 'cell 6', config: { ...config, cell: 6 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^cell: / },  // 5: the reset-before GRU
    { name: 'a string cell', config: { ...config, cell: 'lstm' }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^cell: / },
    { name: 'numDirections 3', config: { ...config, numDirections: 3 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^numDirections: / },
    { name: 'a negative hiddenSize', config: { ...config, hiddenSize: -4 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^hiddenSize: / },
    { name: 'a missing inputSize', config: { ...config, inputSize: undefined }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^inputSize: / },
    { name: "bias 'yes'", config: { ...config, bias: 'yes' }, cls: TypeError, code: 'ERR_RNNKIT_TYPE', names: /^bias: / },
    { name: 'dropout 1', config: { ...config, dropout: 1 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^dropout: / },
    { name: 'workspaceLimitBytes NaN', config: { ...config, workspaceLimitBytes: NaN }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^workspaceLimitBytes: / },
    { name: 'weights too large to index', config: { ...config, inputSize: 2 ** 30, hiddenSize: 2 ** 20 }, cls: RangeError, code: 'ERR_RNNKIT_VALUE', names: /^weights: .*exceed/ },
  ];

  for (const c of configCases) {
    it(`the constructor refuses ${c.name} with a coded error`, function () {
      assertRefused(() => new native.RecurrentStack(c.config as NativeStackConfig), c.cls, c.code, c.names);
    });
  }

  it('workspaceBytes refuses a string T with a coded TypeError', function () {
    assertRefused(() => (stack.workspaceBytes as (...a: unknown[]) => number)('3', 2), TypeError, 'ERR_RNNKIT_TYPE', /^T: /);
  });

  it('every call after dispose() is refused with ERR_RNNKIT_DISPOSED', async function () {
    const s = new native.RecurrentStack(config);
    s.dispose();
    const n = s.paramCount();
    assertRefused(() => call(s, valid()), TypeError, 'ERR_RNNKIT_DISPOSED', /dispose/);
    await assertRefusedMaybeAsync(() => call(s, valid(), true), TypeError, 'ERR_RNNKIT_DISPOSED', /dispose/);
    assertRefused(() => s.backward(new Float32Array(n), new Float32Array(n), null, null, null,
      new Float32Array(nT * nB * I), new Float32Array(state), new Float32Array(state)), TypeError, 'ERR_RNNKIT_DISPOSED', /dispose/);
    assertRefused(() => s.dispose(), TypeError, 'ERR_RNNKIT_DISPOSED', /dispose/);
  });
});
