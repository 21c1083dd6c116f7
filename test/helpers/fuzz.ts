// Shared pieces of the fast-check fuzz tests (test/fuzz-*.test.ts): run
// counts, the "correct result or coded TypeError/RangeError" oracle, and
// arbitraries for junk values and typed arrays of every kind.
//
// RNNKIT_FUZZ_RUNS=N runs every property N times (default: each property's
// own small count, about 20 s for all fuzz files together). The suite uses a
// fixed seed so CI is repeatable; RNNKIT_FUZZ_SEED=N picks another (or replays a
// failure fast-check reported), RNNKIT_FUZZ_SEED=random draws one. The total is printed at the end.

import assert from 'node:assert/strict';
import fc from 'fast-check';

const RUNS = process.env.RNNKIT_FUZZ_RUNS ? Number(process.env.RNNKIT_FUZZ_RUNS) : null;
const SEED_SETTING = process.env.RNNKIT_FUZZ_SEED ?? '20261128';
const SEED = SEED_SETTING === 'random' ? undefined : Number(SEED_SETTING);
const tally = new Map<string, number>();

after(function () {
  if (tally.size === 0) return;
  const total = [...tally.values()].reduce((a, b) => a + b, 0);
  console.log(`      fuzz: ${total} cases in ${tally.size} properties` +
    `${RUNS === null ? ' (RNNKIT_FUZZ_RUNS=N for more)' : ` (RNNKIT_FUZZ_RUNS=${RUNS})`}`);
});

function parameters(name: string, runs: number, fixed = false): fc.Parameters<unknown> {
  const numRuns = fixed ? runs : RUNS ?? runs;
  tally.set(name, (tally.get(name) ?? 0) + numRuns);
  return { numRuns, seed: SEED, endOnFailure: true };
}

/** fc.assert for a synchronous property, counted under `name`; `fixed`: RNNKIT_FUZZ_RUNS does not apply (slow cases). */
export function check<T>(name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => void, runs: number, fixed = false): void {
  fc.assert(fc.property(arb, (v) => { predicate(v); }), parameters(name, runs, fixed) as fc.Parameters<[T]>);
}

/** fc.assert for an async property, counted under `name`. */
export async function checkAsync<T>(name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>,
  runs: number): Promise<void> {
  await fc.assert(fc.asyncProperty(arb, async (v) => { await predicate(v); }), parameters(name, runs) as fc.Parameters<[T]>);
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error & { code: string } };

/**
 * The oracle for bad input: the call returns, or throws a TypeError or RangeError
 * (or, for `states`, an RnnkitError) whose code is ERR_RNNKIT_*. Anything else —
 * a V8 error without a code, a plain Error, a non-Error — fails the property.
 */
export function classify(error: unknown, states: readonly string[] = []): Error & { code: string } {
  assert.ok(error instanceof Error, `threw a non-Error: ${String(error)}`);
  const code = (error as { code?: unknown }).code;
  assert.ok(typeof code === 'string' && code.startsWith('ERR_RNNKIT_'), `uncoded ${error.name}: ${error.message}`);
  const typed = error instanceof TypeError || error instanceof RangeError;
  assert.ok(typed || states.includes(code), `${code} should be a TypeError or RangeError: ${error.name}: ${error.message}`);
  return error as Error & { code: string };
}

export function attempt<T>(run: () => T, states: readonly string[] = []): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error: classify(error, states) };
  }
}

export async function attemptAsync<T>(run: () => Promise<T>, states: readonly string[] = []): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error: classify(error, states) };
  }
}

/** Bit-level equality, so NaN == NaN and -0 != 0. */
export function sameBits(a: Float32Array | Float64Array, b: Float32Array | Float64Array): boolean {
  if (a.length !== b.length || a.BYTES_PER_ELEMENT !== b.BYTES_PER_ELEMENT) return false;
  const words = a.length * (a.BYTES_PER_ELEMENT / 4);
  const x = new Uint32Array(a.buffer, a.byteOffset, words), y = new Uint32Array(b.buffer, b.byteOffset, words);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** Finite and of moderate size (|v| <= 1e4): values whose results cannot overflow float32 at fuzz sizes. */
export function moderate(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]) <= 1e4)) return false;
  return true;
}

// ------------------------------------------------------------ arbitraries

/** Values that are never a valid size, flag or tensor. */
export const junk: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  undefined, null, NaN, Infinity, -Infinity, -1, 0, 0.5, 1.5, -0, 2 ** 31, 2 ** 53, 1e300, '3', 'true', true, false,
  {}, [], [1, 2], () => 1, Symbol('s'), 10n, new Float64Array(2), new Int32Array(1));

/** Sizes a caller could pass: mostly small valid ones, some invalid, some huge. */
export function sizeArb(max: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 1, max }) },
    { weight: 2, arbitrary: junk },
    { weight: 1, arbitrary: fc.constantFrom(2 ** 30 + 1, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER) },
  );
}

/** Float values with occasional NaN and infinities. */
export const floatValue: fc.Arbitrary<number> = fc.oneof(
  { weight: 20, arbitrary: fc.float({ min: -3, max: 3, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 3e38, -3e38) },
);

/** Finite float values in [-2, 2]. */
export const finiteValue: fc.Arbitrary<number> = fc.float({ min: -2, max: 2, noNaN: true });

export function floats(length: number, values: fc.Arbitrary<number> = finiteValue): fc.Arbitrary<Float32Array> {
  return fc.array(values, { minLength: length, maxLength: length }).map((v) => Float32Array.from(v));
}

/** An array of `length` numbers as some array kind: Float32Array mostly, others sometimes. */
export function anyArrayKind(length: number, values: fc.Arbitrary<number> = finiteValue): fc.Arbitrary<unknown> {
  return fc.tuple(fc.array(values, { minLength: length, maxLength: length }),
    fc.constantFrom('f32', 'f32', 'f32', 'f32', 'f64', 'i32', 'u8', 'array', 'f32-short', 'f32-long'))
    .map(([v, kind]) => {
      switch (kind) {
        case 'f64': return Float64Array.from(v);
        case 'i32': return Int32Array.from(v, (x) => Math.trunc(x) | 0);
        case 'u8': return Uint8Array.from(v, (x) => Math.abs(Math.trunc(x)) & 255);
        case 'array': return v;
        case 'f32-short': return Float32Array.from(v.slice(1));
        case 'f32-long': return Float32Array.from([...v, 0]);
        default: return Float32Array.from(v);
      }
    });
}

/** A shape like `shape`, sometimes broken (a dim off by one, one missing or extra, negative, fractional, huge). */
export function shapeLike(shape: number[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant(shape) },
    { weight: 1, arbitrary: fc.nat({ max: Math.max(0, shape.length - 1) }).map((i) => shape.map((d, j) => (j === i ? d + 1 : d))) },
    { weight: 1, arbitrary: fc.constant(shape.slice(1)) },
    { weight: 1, arbitrary: fc.constant([...shape, 1]) },
    { weight: 1, arbitrary: fc.constant(shape.map((d, j) => (j === 0 ? -d : d))) },
    { weight: 1, arbitrary: fc.constant(shape.map((d, j) => (j === 0 ? d + 0.5 : d))) },
    { weight: 1, arbitrary: fc.constant(shape.map((d, j) => (j === 0 ? 2 ** 40 : d))) },
    { weight: 1, arbitrary: fc.constant(shape.map((d, j) => (j === 0 ? 0 : d))) },
    { weight: 1, arbitrary: junk },
  );
}

/** A tensor argument of `shape`: mostly valid, sometimes of a wrong kind, shape or value. */
export function tensorArb(shape: number[], values: fc.Arbitrary<number> = floatValue): fc.Arbitrary<unknown> {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.oneof(
    { weight: 10, arbitrary: fc.record({ data: anyArrayKind(n, values), shape: shapeLike(shape) }) },
    { weight: 1, arbitrary: junk },
    { weight: 1, arbitrary: floats(n, values) },  // a bare array instead of { data, shape }
  );
}
