// The element types a layer computes in, written once: 'float32' (every layer; the default) and
// 'float64' (RNN, GRU and LSTM, on the kernels' double instantiation: gradient checks from JS, and
// users who need the precision). Their typed arrays, allocation and the option's check. Not here:
// the structures, Linear, Embedding, the cells and the attention decoder, which are float32 only.

import { describe } from '../check';
import { typeError, valueError } from '../errors';
import type { ArrayOf, DType, FloatArray } from '../tensor';
import { allocateFloat32, allocateFloat64 } from './allocation';

export type { ArrayOf, DType, FloatArray } from '../tensor';

export const DTYPES: readonly DType[] = ['float32', 'float64'];

/** The dtype option: absent is 'float32'. */
export function checkDType(name: string, value: unknown): DType {
  if (value === undefined) return 'float32';
  if (typeof value !== 'string') throw typeError(`${name}: expected 'float32' or 'float64', got ${describe(value)}`);
  if (!(DTYPES as readonly string[]).includes(value)) {
    throw valueError(`${name}: expected 'float32' or 'float64', got ${describe(value)}`);
  }
  return value as DType;
}

/** The dtype whose array `data` is. */
export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

/** The name of a dtype's typed array, for messages. */
export function arrayName(dtype: DType): 'Float32Array' | 'Float64Array' {
  return dtype === 'float64' ? 'Float64Array' : 'Float32Array';
}

/** Whether `value` is the typed array of `dtype`. */
export function isArrayOf<D extends DType>(dtype: D, value: unknown): value is ArrayOf<D> {
  return dtype === 'float64' ? value instanceof Float64Array : value instanceof Float32Array;
}

/** A zeroed array of `count` elements of `dtype`, or a coded RangeError naming `name`. */
export function allocateArray<D extends DType>(dtype: D, name: string, count: number): ArrayOf<D> {
  return (dtype === 'float64' ? allocateFloat64(name, count) : allocateFloat32(name, count)) as ArrayOf<D>;
}

/** `values` as an array of `dtype`: itself when it already is one, else a converted copy. */
export function asArrayOf<D extends DType>(dtype: D, values: FloatArray): ArrayOf<D> {
  if (isArrayOf(dtype, values)) return values;
  return (dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values)) as ArrayOf<D>;
}
