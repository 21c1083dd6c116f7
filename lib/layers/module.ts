// Base of every layer with parameters: named tensors laid out in one flat
// Float32Array (and gradients in a second; Float64Arrays for a float64 layer,
// dtype.ts), PyTorch-style state dicts, and rebinding to views of a model-wide
// buffer so an optimizer step is one pass.

import { checkBoolean, checkFiniteArray, checkObject, checkTensor, describe, formatShape } from '../check';
import { RnnkitError, shapeError, typeError } from '../errors';
import type { DType, FloatArray, Tensor } from '../tensor';
import { checkParameterBudget } from './allocation';
import { batchFloat32 } from './batch-scratch';
import { allocateArray, arrayName, isArrayOf } from './dtype';
import { BusyGuard } from '../busy';
import type { ModelLock } from './model-lock';

export interface ParamSlot {
  offset: number;
  shape: number[];
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Lays out named tensors back to back, in the order given. */
export function layoutSlots(specs: Array<[string, number[]]>): { slots: Map<string, ParamSlot>; size: number } {
  const slots = new Map<string, ParamSlot>();
  let offset = 0;
  for (const [name, shape] of specs) {
    slots.set(name, { offset, shape });
    offset += elementCount(shape);
  }
  return { slots, size: offset };
}

/** A: the typed array of the module's dtype (Float32Array unless a float64 layer). */
export abstract class ParameterModule<A extends FloatArray = Float32Array> {
  private params: A;
  private grads_: A;
  /** The element type of parameters, gradients, inputs and outputs: 'float32', or 'float64' (RNN/GRU/LSTM). */
  readonly dtype: DType;
  protected readonly slots: Map<string, ParamSlot>;
  private owner: ModelLock | null = null;
  private readonly ownBusy: BusyGuard;

  protected constructor(specs: Array<[string, number[]]>, what = 'layer', dtype: DType = 'float32') {
    this.ownBusy = new BusyGuard(what);
    this.dtype = dtype;
    const { slots, size } = layoutSlots(specs);
    this.slots = slots;
    // Sizes come from the caller's options: refuse what cannot be held with a coded RangeError.
    checkParameterBudget(size);
    this.params = allocateArray(dtype, 'parameters', size) as A;
    this.grads_ = allocateArray(dtype, 'gradients', size) as A;
  }

  /** All parameters, flat, in stateDict order. */
  get parameters(): A {
    return this.params;
  }

  /** Gradients laid out like `parameters`; backward accumulates into it. */
  get gradients(): A {
    return this.grads_;
  }

  get numParameters(): number {
    return this.params.length;
  }

  /** Parameter names with their shapes, in layout order. */
  parameterShapes(): Array<[string, number[]]> {
    return [...this.slots].map(([name, slot]) => [name, [...slot.shape]]);
  }

  /**
   * Moves parameters and gradients into the given views (e.g. of a model-wide
   * buffer), copying the current values; the module uses them from now on.
   */
  bindStorage(parameters: A, gradients: A): void {
    this.assertIdle();
    if (!isArrayOf(this.dtype, parameters) || !isArrayOf(this.dtype, gradients)) {
      throw typeError(`bindStorage: expected ${arrayName(this.dtype)} views (this module's dtype is '${this.dtype}'), ` +
        `got ${describe(parameters)} and ${describe(gradients)}`);
    }
    if (parameters.length !== this.params.length || gradients.length !== this.params.length) {
      throw shapeError(`bindStorage: expected views of ${this.params.length} elements, ` +
        `got ${parameters.length} and ${gradients.length}`);
    }
    parameters.set(this.params);
    gradients.set(this.grads_);
    this.params = parameters;
    this.grads_ = gradients;
  }

  /** Copies of the parameters under their (PyTorch) names, as arrays of the module's dtype. */
  stateDict(): Record<string, Tensor<A>> {
    return this.namedCopies(this.params);
  }

  /** Copies of the accumulated gradients, named like stateDict. */
  grads(): Record<string, Tensor<A>> {
    return this.namedCopies(this.grads_);
  }

  /**
   * Loads every parameter; keys, shapes and finiteness are checked before anything changes. Values are
   * arrays of the module's dtype; a float64 module also takes Float32Arrays (widened exactly).
   */
  loadStateDict(dict: Record<string, Tensor<FloatArray>>, options: { strict?: boolean } = {}): void {
    this.assertIdle();
    const d = checkObject('stateDict', dict);
    const o = checkObject('options', options);
    const strict = o.strict === undefined ? true : checkBoolean('options.strict', o.strict);
    for (const [name, slot] of this.slots) {
      if (!(name in d)) throw shapeError(`stateDict: missing key '${name}' (expected shape ${formatShape(slot.shape)})`);
      const t = this.dtype === 'float64' ? checkTensor(`stateDict['${name}']`, d[name], slot.shape, '', 'any')
        : checkTensor(`stateDict['${name}']`, d[name], slot.shape);
      checkFiniteArray(`stateDict['${name}']`, t.data);
    }
    if (strict) {
      const unexpected = Object.keys(d).filter((k) => !this.slots.has(k));
      if (unexpected.length > 0) {
        throw shapeError(`stateDict: unexpected keys ${unexpected.map((k) => `'${k}'`).join(', ')} ` +
          `(expected ${[...this.slots.keys()].join(', ')})`);
      }
    }
    for (const [name, slot] of this.slots) this.params.set((d[name] as Tensor<FloatArray>).data, slot.offset);
    this.onParametersLoaded();
  }

  zeroGrad(): void {
    this.assertIdle();
    this.grads_.fill(0);
  }

  /** A view of one named parameter (no copy). */
  protected parameterView(name: string): A {
    const slot = this.slots.get(name);
    if (!slot) throw new RnnkitError(`internal: no parameter '${name}'`, 'ERR_RNNKIT_INTERNAL');
    return this.params.subarray(slot.offset, slot.offset + elementCount(slot.shape)) as A;
  }

  /** @internal The model this module belongs to: while it trains, only the training may use the module. */
  setOwner(lock: ModelLock): void {
    this.ownBusy.assertIdle();
    this.owner = lock;
  }

  /**
   * Tracks this module's async native calls. A module used alone has its own; the modules of a model
   * share the model's, so while any of them has a call in flight none of them can be used.
   */
  protected get busy(): BusyGuard {
    return this.owner?.busy ?? this.ownBusy;
  }

  /**
   * A buffer for what this call returns or keeps for its backward: batchFloat32 (from a batch's scratch while one
   * runs); a new Float64Array for a float64 module (no structure holds one, so no batch scratch serves it).
   */
  protected callBuffer(name: string, count: number, zero = true): A {
    if (this.dtype === 'float64') return allocateArray('float64', name, count) as A;
    return batchFloat32(name, count, zero) as A;
  }

  /** A copy of `values` in a callBuffer (what backward needs, safe from the caller changing it). */
  protected callCopy(name: string, values: A): A {
    const copy = this.callBuffer(name, values.length, false);
    copy.set(values);
    return copy;
  }

  /** Throws when the module cannot be used now (disposed, async work in flight, its model training); overrides call it. */
  protected assertIdle(): void {
    this.owner?.assertAccess();
    this.busy.assertIdle();
  }

  /** Called after loadStateDict replaced the values. */
  protected onParametersLoaded(): void {}

  private namedCopies(flat: A): Record<string, Tensor<A>> {
    this.assertIdle();
    const out: Record<string, Tensor<A>> = {};
    for (const [name, slot] of this.slots) {
      out[name] = { data: flat.slice(slot.offset, slot.offset + elementCount(slot.shape)) as A, shape: [...slot.shape] };
    }
    return out;
  }
}
