// Argument checks for the public API: friendly messages that name the
// argument, what was expected and what came. The addon checks again.

import { shapeError, typeError, valueError } from './errors';
import type { ArrayOf, DType, FloatArray, Tensor } from './tensor';

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float32Array).length})`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function checkPositiveInteger(name: string, value: unknown, max = 2 ** 30): number {
  if (typeof value !== 'number') throw typeError(`${name}: expected a positive integer, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw valueError(`${name}: expected a positive integer up to ${max}, got ${describe(value)}`);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError(`${name}: expected a boolean, got ${describe(value)}`);
  return value;
}

export function checkInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw typeError(`${name}: expected an integer, got ${describe(value)}`);
  }
  return value;
}

/** A seed: any safe integer (a number that is not an integer is a RangeError). */
export function checkSeed(name: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(`${name}: expected an integer, got ${describe(value)}`);
  if (!Number.isSafeInteger(value)) throw valueError(`${name}: expected a safe integer, got ${describe(value)}`);
  return value;
}

/** A number in [low, high) (e.g. a dropout probability). */
export function checkNumberInRange(name: string, value: unknown, low: number, high: number): number {
  if (typeof value !== 'number') throw typeError(`${name}: expected a number in [${low}, ${high}), got ${describe(value)}`);
  if (!(value >= low && value < high)) throw valueError(`${name}: expected a number in [${low}, ${high}), got ${describe(value)}`);
  return value;
}

export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeError(`${name}: expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * A Tensor whose data is a Float32Array (a Float64Array for dtype 'float64'; 'any': either);
 * `expected` dims of -1 match anything.
 */
export function checkTensor(name: string, value: unknown, expected: readonly number[], note?: string): Tensor;
export function checkTensor<D extends DType>(name: string, value: unknown, expected: readonly number[], note: string,
  dtype: D): Tensor<ArrayOf<D>>;
export function checkTensor(name: string, value: unknown, expected: readonly number[], note: string,
  dtype: 'any'): Tensor<FloatArray>;
export function checkTensor(name: string, value: unknown, expected: readonly number[], note = '',
  dtype: DType | 'any' = 'float32'): Tensor<FloatArray> {
  const t = checkObject(name, value);
  const data = t.data;
  const ok = dtype === 'float32' ? data instanceof Float32Array : dtype === 'float64' ? data instanceof Float64Array
    : data instanceof Float32Array || data instanceof Float64Array;
  if (!ok || !(data instanceof Float32Array || data instanceof Float64Array)) {
    const want = dtype === 'float32' ? 'a Float32Array' : dtype === 'float64' ? "a Float64Array (a dtype 'float64' layer's)"
      : 'a Float32Array or a Float64Array';
    throw typeError(`${name}.data: expected ${want}, got ${describe(t.data)}`);
  }
  const shape = t.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw typeError(`${name}.shape: expected an array of non-negative integers, got ${describe(shape)}`);
  }
  const suffix = note ? ` (${note})` : '';
  const matches = shape.length === expected.length && expected.every((d, i) => d < 0 || d === shape[i]);
  if (!matches) {
    const want = expected.map((d) => (d < 0 ? '*' : String(d))).join(', ');
    throw shapeError(`${name}: expected shape [${want}]${suffix}, got ${formatShape(shape)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw shapeError(`${name}: shape ${formatShape(shape)} needs ${count} elements, data has ${data.length}`);
  }
  return t as unknown as Tensor<FloatArray>;
}

/** Per-sequence lengths: an Int32Array of `batch` values in [1, steps]. */
export function checkLengths(name: string, value: unknown, batch: number, steps: number): Int32Array {
  if (!(value instanceof Int32Array)) throw typeError(`${name}: expected an Int32Array, got ${describe(value)}`);
  if (value.length !== batch) {
    throw shapeError(`${name}: expected ${batch} lengths (one per sequence in the batch), got ${value.length}`);
  }
  for (let b = 0; b < batch; b++) {
    if (value[b] < 1 || value[b] > steps) {
      throw valueError(`${name}[${b}]: expected a length in [1, ${steps}] (T = ${steps}), got ${value[b]}`);
    }
  }
  return value;
}

export function checkFiniteArray(name: string, data: FloatArray): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw valueError(`${name}: expected finite values, got ${data[i]} at index ${i}`);
  }
}
