// Guarded allocation of Float32Arrays whose size comes from the caller's
// shapes: a size past what one tensor may hold is a coded RangeError before
// anything is allocated, and a failed allocation is one too (V8's own
// "Invalid typed array length" carries no code and names no argument).

import { valueError } from '../errors';

/** Largest element count of one tensor: what a single BLAS call can index (int), as the addon checks. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Throws (ERR_RNNKIT_VALUE) when `count` elements of `name` exceed MAX_TENSOR_ELEMENTS. */
export function checkElementCount(name: string, count: number): void {
  if (!(count <= MAX_TENSOR_ELEMENTS)) {
    throw valueError(`${name}: ${count} elements (${formatBytes(count * 4)} as float32) exceed the ` +
      `${MAX_TENSOR_ELEMENTS} (2^31-1) one tensor may hold; use smaller sizes`);
  }
}

/** A zeroed Float32Array of `count` elements, or a coded RangeError naming `name`. */
export function allocateFloat32(name: string, count: number): Float32Array {
  checkElementCount(name, count);
  try {
    return new Float32Array(count);
  } catch (error) {
    throw Object.assign(valueError(`${name}: could not allocate ${count} elements (${formatBytes(count * 4)}): ` +
      `${(error as Error).message}`), { cause: error });
  }
}

/** A zeroed Float64Array of `count` elements (float64 layers), or a coded RangeError naming `name`. */
export function allocateFloat64(name: string, count: number): Float64Array {
  checkElementCount(name, count);
  try {
    return new Float64Array(count);
  } catch (error) {
    throw Object.assign(valueError(`${name}: could not allocate ${count} elements (${formatBytes(count * 8)}): ` +
      `${(error as Error).message}`), { cause: error });
  }
}

// While a model is rebuilt from a file (loadModel), no module may need more parameters than the file
// holds in all: a hostile config cannot make the loader allocate (and initialise) gigabytes that the
// file's own weights could never fill. null: no budget (ordinary construction).
let parameterBudget: number | null = null;

/** Runs `build` (synchronous) with every ParameterModule limited to `maxElements` parameters. */
export function withParameterBudget<T>(maxElements: number, build: () => T): T {
  const outer = parameterBudget;
  parameterBudget = maxElements;
  try {
    return build();
  } finally {
    parameterBudget = outer;
  }
}

/** Throws (ERR_RNNKIT_VALUE) when a module of `count` parameters is built over the current budget. */
export function checkParameterBudget(count: number): void {
  if (parameterBudget !== null && count > parameterBudget) {
    throw valueError(`parameters: the config asks for a module of ${count} parameters, but the file being ` +
      `loaded holds ${parameterBudget} values in all; its config does not describe its weights`);
  }
}
