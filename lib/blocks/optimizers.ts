// Optimizers over one flat parameter buffer and its gradient buffer, with
// torch.optim.SGD / Adam / AdamW's update rules (PyTorch 1.13) in one native
// pass per step (a checked step: two, writing only a finite result); and
// clip_grad_norm_. State saves and restores bit-identically. Buffers are
// Float32Arrays, or Float64Arrays (a float64 layer's): the state then is too.

import { BusyGuard } from '../busy';
import { checkBoolean, checkFiniteArray, checkObject, checkTensor, describe } from '../check';
import { shapeError, typeError, valueError } from '../errors';
import { native } from '../native';
import type { FloatArray, Tensor } from '../tensor';

/** The step count and the per-parameter buffers, under PyTorch's names (of the parameters' element type). */
export type OptimizerState = Record<string, Tensor<FloatArray> | number>;

export interface CheckedStepOptions {
  /**
   * Multiplies every gradient as the step reads it (clip_grad_norm_'s factor), in float32: the same bits as
   * scaling grads in place first, but grads keep their values. Default 1.
   */
  gradScale?: number;
}

/** What a checked step did. */
export interface CheckedStepResult {
  /** true: weights and state took the step. false: nothing changed, stepCount included. */
  applied: boolean;
  /** Elements whose new weight or state value would have been NaN or infinite (0 when applied). */
  nonFinite: number;
}

export interface Optimizer {
  /** Learning rate of the next step (e.g. set from a schedule each step). */
  lr: number;
  /** Steps taken so far. */
  readonly stepCount: number;
  /**
   * Updates params in place from grads (same length and type every step: Float32Arrays, or Float64Arrays of a
   * float64 layer). Throws, changing nothing, on non-finite grads.
   */
  step(params: FloatArray, grads: FloatArray): void;
  /** Same as step, on a native worker thread; do not touch params or grads until it settles. */
  stepAsync(params: FloatArray, grads: FloatArray): Promise<void>;
  /** Copies of `step` and the buffers (SGD: momentum_buffer; Adam: exp_avg, exp_avg_sq). */
  state(): OptimizerState;
  /** Restores what state() returned; checked entirely before anything changes. */
  loadState(state: OptimizerState): void;
  /**
   * Optional (SGD, Adam and AdamW have it): stepAsync checked before it is applied. The whole update is
   * computed first without writing; if any new weight or state value would be NaN or infinite (a non-finite
   * gradient always makes one), nothing changes at all and the result says how many; else it is applied,
   * bit for bit as stepAsync would after grads *= gradScale. fit uses it when present, so a refused step needs
   * no copy of the weights and state to undo from.
   */
  stepCheckedAsync?(params: FloatArray, grads: FloatArray, options?: CheckedStepOptions): Promise<CheckedStepResult>;
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
}

export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Decay rates of the moment estimates, each in [0, 1) (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay (default 1e-2). */
  weightDecay?: number;
}

interface KernelCall {
  sync(): void;
  async(): Promise<void>;
}

abstract class BufferedOptimizer implements Optimizer {
  private lr_: number;
  private steps = 0;
  private buffers: Map<string, FloatArray> | null = null;  // allocated at the first step, of the params' type
  private readonly busy = new BusyGuard('optimizer');
  private readonly count = new Float64Array(1);
  private readonly refused = new Float64Array(1);  // a checked step's count of would-be non-finite elements

  protected constructor(lr: unknown, private readonly bufferNames: readonly string[]) {
    this.lr_ = checkNonNegative('lr', lr);
  }

  get lr(): number {
    return this.lr_;
  }

  set lr(value: number) {
    this.lr_ = checkNonNegative('lr', value);
  }

  get stepCount(): number {
    return this.steps;
  }

  step(params: FloatArray, grads: FloatArray): void {
    this.prepareStep(params, grads).sync();
    this.steps++;
  }

  async stepAsync(params: FloatArray, grads: FloatArray): Promise<void> {
    await this.busy.track(this.prepareStep(params, grads).async());
    this.steps++;
  }

  /** The checked step (see Optimizer.stepCheckedAsync), on the JS thread. */
  stepChecked(params: FloatArray, grads: FloatArray, options?: CheckedStepOptions): CheckedStepResult {
    const { call, fresh } = this.prepareChecked(params, grads, options);
    try {
      call.sync();
    } catch (error) {
      this.dropFresh(fresh);
      throw error;
    }
    return this.settleChecked(fresh);
  }

  async stepCheckedAsync(params: FloatArray, grads: FloatArray, options?: CheckedStepOptions): Promise<CheckedStepResult> {
    const { call, fresh } = this.prepareChecked(params, grads, options);
    try {
      await this.busy.track(call.async());
    } catch (error) {
      this.dropFresh(fresh);
      throw error;
    }
    return this.settleChecked(fresh);
  }

  state(): OptimizerState {
    this.busy.assertIdle();
    const out: OptimizerState = { step: this.steps };
    for (const [name, buffer] of this.buffers ?? []) out[name] = { data: buffer.slice(), shape: [buffer.length] };
    return out;
  }

  loadState(state: OptimizerState): void {
    this.busy.assertIdle();
    const s = checkObject('state', state);
    const step = s.step;
    if (typeof step !== 'number') throw typeError(`state.step: expected a non-negative integer, got ${describe(step)}`);
    if (!Number.isSafeInteger(step) || step < 0) {
      throw valueError(`state.step: expected a non-negative integer, got ${describe(step)}`);
    }
    const unexpected = Object.keys(s).filter((k) => k !== 'step' && !(step > 0 && this.bufferNames.includes(k)));
    if (unexpected.length > 0) {
      const known = step > 0 ? ['step', ...this.bufferNames] : ['step'];
      throw shapeError(`state: unexpected keys ${unexpected.map((k) => `'${k}'`).join(', ')} ` +
        `(expected ${known.join(', ')} at step ${step})`);
    }
    const loaded = new Map<string, FloatArray>();
    let length = -1;
    let first: FloatArray | null = null;
    for (const name of step > 0 ? this.bufferNames : []) {
      if (!(name in s)) throw shapeError(`state: missing key '${name}' (a buffer after ${step} steps)`);
      const t = checkTensor(`state['${name}']`, s[name], [length], '', 'any');
      if (first && t.data.constructor !== first.constructor) {
        throw typeError(`state['${name}'].data: expected a ${first.constructor.name} like the other buffers, ` +
          `got ${describe(t.data)}`);
      }
      first = t.data;
      checkFiniteArray(`state['${name}']`, t.data);
      if (name === 'exp_avg_sq' && t.data.some((v) => v < 0)) {
        throw valueError(`state['exp_avg_sq']: expected values >= 0 (a running mean of squares)`);
      }
      length = t.data.length;
      loaded.set(name, t.data.slice());
    }
    this.buffers = loaded.size > 0 ? loaded : null;
    this.steps = step;
  }

  /** The kernel call for 1-based step `step`, over buffers sized like params. */
  protected abstract kernel(params: FloatArray, grads: FloatArray, buffers: Map<string, FloatArray>,
    step: number): KernelCall;

  /** The checked kernel call: the same step, grads scaled by gradScale, result[0] = would-be non-finite elements. */
  protected abstract checkedKernel(params: FloatArray, grads: FloatArray, buffers: Map<string, FloatArray>,
    step: number, gradScale: number, result: Float64Array): KernelCall;

  private prepareStep(params: FloatArray, grads: FloatArray): KernelCall {
    this.checkBuffers(params, grads);
    native.countNonfinite(grads, this.count);
    if (this.count[0] > 0) {
      throw valueError(`grads: ${this.count[0]} non-finite values (NaN or Infinity); no step taken`);
    }
    this.allocateBuffers(params);
    return this.kernel(params, grads, this.buffers ?? new Map(), this.steps + 1);
  }

  // No separate pass over grads: a non-finite gradient makes a non-finite update, which the kernel counts.
  private prepareChecked(params: FloatArray, grads: FloatArray, options: CheckedStepOptions | undefined) {
    this.checkBuffers(params, grads);
    const o = options === undefined ? {} : checkObject('options', options) as CheckedStepOptions;
    const gradScale = o.gradScale === undefined ? 1 : checkNonNegative('options.gradScale', o.gradScale);
    const fresh = this.allocateBuffers(params);
    const call = this.checkedKernel(params, grads, this.buffers ?? new Map(), this.steps + 1, gradScale, this.refused);
    return { call, fresh };
  }

  private settleChecked(fresh: boolean): CheckedStepResult {
    const nonFinite = this.refused[0];
    if (nonFinite > 0) {
      this.dropFresh(fresh);
      return { applied: false, nonFinite };
    }
    this.steps++;
    return { applied: true, nonFinite: 0 };
  }

  /** Buffers made for a first step that was not taken go again, so state() is { step: 0 } as before it. */
  private dropFresh(fresh: boolean): void {
    if (fresh) this.buffers = null;
  }

  /** Makes zeroed buffers like params (length and type) at the first step; true if it did. */
  private allocateBuffers(params: FloatArray): boolean {
    if (this.buffers || this.bufferNames.length === 0) return false;
    const make = (): FloatArray => (params instanceof Float64Array ? new Float64Array(params.length) : new Float32Array(params.length));
    this.buffers = new Map(this.bufferNames.map((name) => [name, make()]));
    return true;
  }

  private checkBuffers(params: FloatArray, grads: FloatArray): void {
    this.busy.assertIdle();
    const first = this.buffers?.values().next().value;
    if (!(params instanceof Float32Array || params instanceof Float64Array)) {
      throw typeError(`params: expected a Float32Array or a Float64Array, got ${describe(params)}`);
    }
    if (first && params.constructor !== first.constructor) {
      throw typeError(`params: expected a ${first.constructor.name} (the element type of this optimizer's state), ` +
        `got ${describe(params)}`);
    }
    if (!(grads instanceof params.constructor)) {
      throw typeError(`grads: expected a ${params.constructor.name} (the type of params), got ${describe(grads)}`);
    }
    if (grads.length !== params.length) {
      throw shapeError(`grads: expected ${params.length} elements (the length of params), got ${grads.length}`);
    }
    if (first && first.length !== params.length) {
      throw shapeError(`params: expected ${first.length} elements (the length this optimizer's state was built for), ` +
        `got ${params.length}`);
    }
  }
}

/** torch.optim.SGD: momentum (buffer starts as the first gradient), dampening, Nesterov, L2 weight decay. */
export class SGD extends BufferedOptimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(options: SGDOptions) {
    const o = checkObject('SGD options', options);
    const momentum = o.momentum === undefined ? 0 : checkNonNegative('momentum', o.momentum);
    super(o.lr, momentum !== 0 ? ['momentum_buffer'] : []);
    this.momentum = momentum;
    this.dampening = o.dampening === undefined ? 0 : checkFinite('dampening', o.dampening);
    this.nesterov = o.nesterov === undefined ? false : checkBoolean('nesterov', o.nesterov);
    this.weightDecay = o.weightDecay === undefined ? 0 : checkNonNegative('weightDecay', o.weightDecay);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw valueError(`nesterov: needs momentum > 0 and dampening = 0, got momentum ${this.momentum} ` +
        `and dampening ${this.dampening}`);
    }
  }

  protected kernel(params: FloatArray, grads: FloatArray, buffers: Map<string, FloatArray>, step: number) {
    const args = [params, grads, buffers.get('momentum_buffer') ?? null, this.lr, this.momentum, this.dampening,
      this.nesterov, this.weightDecay, step === 1] as const;
    return { sync: () => native.sgdStep(...args), async: () => native.sgdStepAsync(...args) };
  }

  protected checkedKernel(params: FloatArray, grads: FloatArray, buffers: Map<string, FloatArray>, step: number,
    gradScale: number, result: Float64Array) {
    const args = [params, grads, buffers.get('momentum_buffer') ?? null, this.lr, this.momentum, this.dampening,
      this.nesterov, this.weightDecay, step === 1, gradScale, result] as const;
    return { sync: () => native.sgdStepChecked(...args), async: () => native.sgdStepCheckedAsync(...args) };
  }
}

/** Adam and AdamW: bias-corrected moment estimates; they differ in how weight decay applies. */
abstract class AdamFamily extends BufferedOptimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  protected constructor(className: string, options: AdamOptions, private readonly decoupled: boolean,
    defaultWeightDecay: number) {
    const o = checkObject(`${className} options`, options);
    super(o.lr ?? 1e-3, ['exp_avg', 'exp_avg_sq']);
    const betas = o.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw typeError(`betas: expected an array of two numbers, got ${describe(betas)}`);
    }
    [this.beta1, this.beta2] = betas.map((b, i) => {
      const beta = checkNonNegative(`betas[${i}]`, b);
      if (beta >= 1) throw valueError(`betas[${i}]: expected a number in [0, 1), got ${describe(b)}`);
      return beta;
    });
    // eps > 0, not >= 0 as PyTorch allows: with eps = 0 a zero gradient entry gives 0/0 and a NaN weight.
    this.eps = o.eps === undefined ? 1e-8 : checkNonNegative('eps', o.eps);
    if (this.eps === 0) throw valueError('eps: expected a number > 0 (with 0, a zero gradient gives a NaN weight), got 0');
    this.weightDecay = o.weightDecay === undefined ? defaultWeightDecay : checkNonNegative('weightDecay', o.weightDecay);
  }

  protected kernel(params: FloatArray, grads: FloatArray, buffers: Map<string, FloatArray>, step: number) {
    const args = [params, grads, buffers.get('exp_avg')!, buffers.get('exp_avg_sq')!, this.lr, this.beta1, this.beta2,
      this.eps, this.weightDecay, this.decoupled, step] as const;
    return { sync: () => native.adamStep(...args), async: () => native.adamStepAsync(...args) };
  }

  protected checkedKernel(params: FloatArray, grads: FloatArray, buffers: Map<string, FloatArray>, step: number,
    gradScale: number, result: Float64Array) {
    const args = [params, grads, buffers.get('exp_avg')!, buffers.get('exp_avg_sq')!, this.lr, this.beta1, this.beta2,
      this.eps, this.weightDecay, this.decoupled, step, gradScale, result] as const;
    return { sync: () => native.adamStepChecked(...args), async: () => native.adamStepCheckedAsync(...args) };
  }
}

/** torch.optim.Adam: weight decay is added to the gradient (L2 penalty; default 0). */
export class Adam extends AdamFamily {
  constructor(options: AdamOptions = {}) {
    super('Adam', options, false, 0);
  }
}

/** torch.optim.AdamW: decoupled weight decay, params *= 1 - lr * weightDecay before the update (default 1e-2). */
export class AdamW extends AdamFamily {
  constructor(options: AdamOptions = {}) {
    super('AdamW', options, true, 1e-2);
  }
}

/**
 * torch.nn.utils.clip_grad_norm_ over one flat gradient buffer: scales grads in
 * place by maxNorm / (norm + 1e-6) when that is below 1; returns the norm before
 * clipping. A non-finite norm is returned as is and leaves grads untouched (PyTorch
 * would scale them by NaN); check it and skip the step.
 */
export function clipGradNorm(grads: FloatArray, maxNorm: number): number {
  if (!(grads instanceof Float32Array || grads instanceof Float64Array)) {
    throw typeError(`grads: expected a Float32Array or a Float64Array, got ${describe(grads)}`);
  }
  const max = checkNonNegative('maxNorm', maxNorm);
  const sumSquares = new Float64Array(1);
  native.sumSquares(grads, sumSquares);
  const norm = Math.sqrt(sumSquares[0]);
  if (!Number.isFinite(norm)) return norm;
  const factor = max / (norm + 1e-6);
  if (factor < 1) native.scale(grads, factor);
  return norm;
}

function checkFinite(name: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(`${name}: expected a number, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw valueError(`${name}: expected a finite number, got ${describe(value)}`);
  return value;
}

function checkNonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(`${name}: expected a number >= 0, got ${describe(value)}`);
  if (!(Number.isFinite(value) && value >= 0)) throw valueError(`${name}: expected a finite number >= 0, got ${describe(value)}`);
  return value;
}
