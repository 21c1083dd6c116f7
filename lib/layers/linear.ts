// Fully connected layer, PyTorch's nn.Linear: y = x W^T + b over any leading
// dims ([..., in] -> [..., out]), one native GEMM per pass.

import { checkBoolean, checkObject, checkPositiveInteger, checkSeed, checkTensor } from '../check';
import { RnnkitError } from '../errors';
import { native } from '../native';
import { Random } from '../random';
import { checkRows } from '../rows';
import type { Tensor } from '../tensor';
import { elementCount, ParameterModule } from './module';

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** Learn an additive bias (default true). */
  bias?: boolean;
  /** Seed of initialisation (default 0). */
  seed?: number;
}

export interface LinearForwardOptions {
  /** Keep a copy of the input for backward (default false). */
  training?: boolean;
}

export class Linear extends ParameterModule {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;

  private readonly random: Random;
  // The last training input, copied: callers may reuse their buffer before backward.
  private saved = new Float32Array(0);
  private recorded: { shape: number[]; rows: number } | null = null;

  constructor(options: LinearOptions) {
    const o = checkObject('Linear options', options);
    const inFeatures = checkPositiveInteger('inFeatures', o.inFeatures);
    const outFeatures = checkPositiveInteger('outFeatures', o.outFeatures);
    const bias = o.bias === undefined ? true : checkBoolean('bias', o.bias);
    const seed = o.seed === undefined ? 0 : checkSeed('seed', o.seed);
    const specs: Array<[string, number[]]> = [['weight', [outFeatures, inFeatures]]];
    if (bias) specs.push(['bias', [outFeatures]]);
    super(specs);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.bias = bias;
    this.random = new Random(seed);
    this.resetParameters();
  }

  /** PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight and U(-k, k) for the bias, k = 1/sqrt(in). */
  resetParameters(): void {
    this.assertIdle();
    const k = 1 / Math.sqrt(this.inFeatures);
    const p = this.parameters;
    for (let i = 0; i < p.length; i++) p[i] = this.random.uniform(-k, k);
  }

  /** y [..., out] for x [..., in]. */
  forward(x: Tensor, options: LinearForwardOptions = {}): Tensor {
    const call = this.prepareForward(x, options);
    native.linearForward(...call.args);
    this.recorded = call.record;
    return call.result;
  }

  /** Same as forward, computed on a native worker thread. */
  async forwardAsync(x: Tensor, options: LinearForwardOptions = {}): Promise<Tensor> {
    const call = this.prepareForward(x, options);
    await this.busy.track(native.linearForwardAsync(...call.args));
    this.recorded = call.record;
    return call.result;
  }

  /** Through the last training forward: accumulates weight (and bias) gradients, returns dx [..., in]. */
  backward(dy: Tensor): Tensor {
    const call = this.prepareBackward(dy);
    native.linearBackward(...call.args);
    return call.result;
  }

  async backwardAsync(dy: Tensor): Promise<Tensor> {
    const call = this.prepareBackward(dy);
    await this.busy.track(native.linearBackwardAsync(...call.args));
    return call.result;
  }

  protected override onParametersLoaded(): void {
    this.recorded = null;  // backward must use the weights of its forward
  }

  private prepareForward(x: Tensor, options: LinearForwardOptions) {
    this.assertIdle();
    const o = checkObject('options', options);
    const training = o.training === undefined ? false : checkBoolean('training', o.training);
    const I = this.inFeatures, O = this.outFeatures;
    const input = checkRows('x', x, I, `[..., inFeatures=${I}]`);
    const shape = [...input.shape.slice(0, -1), O];
    const y = this.callBuffer(`output of [${input.rows}, outFeatures=${O}]`, input.rows * O);
    let record = this.recorded;
    if (training) {
      // Grown with room to spare, as the batch scratch is: each growth is external memory V8 may answer with a full GC.
      if (this.saved.length < input.data.length) this.saved = new Float32Array(Math.ceil(input.data.length * 1.25));
      this.saved.set(input.data);
      record = { shape: input.shape, rows: input.rows };
      this.recorded = null;  // the saved copy no longer matches an older record
    }
    const bias = this.bias ? this.parameterView('bias') : null;
    const args = [input.data, this.parameterView('weight'), bias, input.rows, I, O, y] as const;
    return { args, record, result: { data: y, shape } };
  }

  private prepareBackward(dy: Tensor) {
    this.assertIdle();
    if (!this.recorded) {
      throw new RnnkitError('backward: no training forward to differentiate; call forward(x, { training: true }) first',
        'ERR_RNNKIT_STATE');
    }
    const { shape, rows } = this.recorded;
    const I = this.inFeatures, O = this.outFeatures;
    const d = checkTensor('dy', dy, [...shape.slice(0, -1), O], 'the shape of the last output');
    const dx = this.callBuffer('dx', rows * I);
    const dBias = this.bias ? this.gradientView('bias') : null;
    const args = [d.data, this.saved.subarray(0, rows * I), this.parameterView('weight'), rows, I, O,
      this.gradientView('weight'), dBias, dx, false] as const;
    return { args, result: { data: dx, shape: [...shape] } };
  }

  private gradientView(name: string): Float32Array {
    const slot = this.slots.get(name)!;
    return this.gradients.subarray(slot.offset, slot.offset + elementCount(slot.shape));
  }
}
