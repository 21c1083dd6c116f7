// An exponential moving average of the weights while fit trains (Polyak
// averaging; timm's ModelEma, Keras's use_ema): after every applied step,
// average <- average + (1 - decay) * (weights - average). An average of the
// last few thousand steps usually generalises better than the last step's
// weights, at the cost of one pass over the weights per step, which runs on a
// native thread. Validation (and so early stopping) scores the average, and it
// is what fit leaves in the model.

import { checkBoolean, checkInteger, checkObject, describe } from '../check';
import { valueError } from '../errors';
import { native } from '../native';

export interface AveragingOptions {
  /** Weight of the old average at each step, in (0, 1): 0.999 averages roughly the last 1000 steps. */
  decay: number;
  /** Steps before the average starts (default 0: from the initial weights); it starts as the weights after this step. */
  startStep?: number;
  /**
   * Ramp the decay up as timm's ModelEma does: the n-th update after the start uses
   * min(decay, (1 + n) / (10 + n)), so early weights (the random initialisation above all) fade out fast
   * and a run whose length is unknown (a time budget) needs no startStep. Default false.
   */
  warmup?: boolean;
}

export function checkAveragingOptions(value: unknown): Required<AveragingOptions> | undefined {
  if (value === undefined) return undefined;
  const o = checkObject('averaging', value);
  const decay = o.decay;
  if (typeof decay !== 'number' || !(decay > 0 && decay < 1)) {
    throw valueError(`averaging.decay: expected a number in (0, 1), got ${describe(decay)}`);
  }
  const startStep = o.startStep === undefined ? 0 : checkInteger('averaging.startStep', o.startStep);
  if (startStep < 0) throw valueError(`averaging.startStep: expected a non-negative integer, got ${startStep}`);
  const warmup = o.warmup === undefined ? false : checkBoolean('averaging.warmup', o.warmup);
  return { decay, startStep, warmup };
}

export class WeightAverage {
  /** The averaged weights, laid out like the model's parameters. */
  readonly values: Float32Array;

  constructor(private readonly weights: Float32Array, private readonly options: Required<AveragingOptions>) {
    this.values = weights.slice();
  }

  /** Takes in the weights after optimizer step number `step` (from 1). */
  async update(step: number): Promise<void> {
    if (step < this.options.startStep) return;
    if (step === this.options.startStep) this.values.set(this.weights);
    else await native.movingAverageAsync(this.values, this.weights, this.decayAt(step - this.options.startStep));
  }

  /** The decay of the n-th update after the start. */
  decayAt(n: number): number {
    return this.options.warmup ? Math.min(this.options.decay, (1 + n) / (10 + n)) : this.options.decay;
  }

  /** Runs `work` with the average in the model's weights, then puts the training weights back. */
  async swappedIn<T>(work: () => Promise<T>): Promise<T> {
    const training = this.weights.slice();
    this.weights.set(this.values);
    try {
      return await work();
    } finally {
      this.weights.set(training);
    }
  }

  /** Continues from a checkpoint's average. */
  restore(values: Float32Array): void {
    this.values.set(values);
  }
}
