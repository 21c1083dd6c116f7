// Base of every layer with parameters: named tensors laid out in one flat
// Float32Array (and gradients in a second), PyTorch-style state dicts, and
// rebinding to views of a model-wide buffer so an optimizer step is one pass.

import { checkBoolean, checkFiniteArray, checkObject, checkTensor, formatShape } from '../check';
import { RnnkitError, shapeError } from '../errors';
import type { Tensor } from '../tensor';
import { allocateFloat32, checkParameterBudget } from './allocation';
import { batchFloat32 } from './batch-scratch';
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

export abstract class ParameterModule {
  private params: Float32Array;
  private grads_: Float32Array;
  protected readonly slots: Map<string, ParamSlot>;
  private owner: ModelLock | null = null;
  private readonly ownBusy: BusyGuard;

  protected constructor(specs: Array<[string, number[]]>, what = 'layer') {
    this.ownBusy = new BusyGuard(what);
    const { slots, size } = layoutSlots(specs);
    this.slots = slots;
    // Sizes come from the caller's options: refuse what cannot be held with a coded RangeError.
    checkParameterBudget(size);
    this.params = allocateFloat32('parameters', size);
    this.grads_ = allocateFloat32('gradients', size);
  }

  /** All parameters, flat, in stateDict order. */
  get parameters(): Float32Array {
    return this.params;
  }

  /** Gradients laid out like `parameters`; backward accumulates into it. */
  get gradients(): Float32Array {
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
  bindStorage(parameters: Float32Array, gradients: Float32Array): void {
    this.assertIdle();
    if (parameters.length !== this.params.length || gradients.length !== this.params.length) {
      throw shapeError(`bindStorage: expected views of ${this.params.length} elements, ` +
        `got ${parameters.length} and ${gradients.length}`);
    }
    parameters.set(this.params);
    gradients.set(this.grads_);
    this.params = parameters;
    this.grads_ = gradients;
  }

  /** Copies of the parameters under their (PyTorch) names. */
  stateDict(): Record<string, Tensor> {
    return this.namedCopies(this.params);
  }

  /** Copies of the accumulated gradients, named like stateDict. */
  grads(): Record<string, Tensor> {
    return this.namedCopies(this.grads_);
  }

  /** Loads every parameter; keys, shapes and finiteness are checked before anything changes. */
  loadStateDict(dict: Record<string, Tensor>, options: { strict?: boolean } = {}): void {
    this.assertIdle();
    const d = checkObject('stateDict', dict);
    const o = checkObject('options', options);
    const strict = o.strict === undefined ? true : checkBoolean('options.strict', o.strict);
    for (const [name, slot] of this.slots) {
      if (!(name in d)) throw shapeError(`stateDict: missing key '${name}' (expected shape ${formatShape(slot.shape)})`);
      const t = checkTensor(`stateDict['${name}']`, d[name], slot.shape);
      checkFiniteArray(`stateDict['${name}']`, t.data);
    }
    if (strict) {
      const unexpected = Object.keys(d).filter((k) => !this.slots.has(k));
      if (unexpected.length > 0) {
        throw shapeError(`stateDict: unexpected keys ${unexpected.map((k) => `'${k}'`).join(', ')} ` +
          `(expected ${[...this.slots.keys()].join(', ')})`);
      }
    }
    for (const [name, slot] of this.slots) this.params.set((d[name] as Tensor).data, slot.offset);
    this.onParametersLoaded();
  }

  zeroGrad(): void {
    this.assertIdle();
    this.grads_.fill(0);
  }

  /** A view of one named parameter (no copy). */
  protected parameterView(name: string): Float32Array {
    const slot = this.slots.get(name);
    if (!slot) throw new RnnkitError(`internal: no parameter '${name}'`, 'ERR_RNNKIT_INTERNAL');
    return this.params.subarray(slot.offset, slot.offset + elementCount(slot.shape));
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

  /** A buffer for what this call returns or keeps for its backward: batchFloat32 (from a batch's scratch while one runs). */
  protected callBuffer(name: string, count: number, zero = true): Float32Array {
    return batchFloat32(name, count, zero);
  }

  /** A copy of `values` in a callBuffer (what backward needs, safe from the caller changing it). */
  protected callCopy(name: string, values: Float32Array): Float32Array {
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

  private namedCopies(flat: Float32Array): Record<string, Tensor> {
    this.assertIdle();
    const out: Record<string, Tensor> = {};
    for (const [name, slot] of this.slots) {
      out[name] = { data: flat.slice(slot.offset, slot.offset + elementCount(slot.shape)), shape: [...slot.shape] };
    }
    return out;
  }
}
