// Learning-rate schedules as pure functions of the step (0-based: the rate of
// the step about to be taken), with torch.optim.lr_scheduler's formulas:
// `optimizer.lr = schedule(optimizer.stepCount)` before each step.

import { checkObject, describe } from '../check';
import { typeError, valueError } from '../errors';

export type Schedule = (step: number) => number;

/** The same rate at every step. */
export function constant(lr: number): Schedule {
  const rate = checkRate('lr', lr);
  return (step) => {
    checkStep(step);
    return rate;
  };
}

/** StepLR: lr * gamma^floor(step / stepSize) (gamma default 0.1). */
export function stepDecay(options: { lr: number; stepSize: number; gamma?: number }): Schedule {
  const o = checkObject('stepDecay options', options);
  const lr = checkRate('lr', o.lr);
  const stepSize = checkSteps('stepSize', o.stepSize, 1);
  const gamma = o.gamma === undefined ? 0.1 : checkRate('gamma', o.gamma);
  return (step) => lr * gamma ** Math.floor(checkStep(step) / stepSize);
}

/**
 * CosineAnnealingLR's closed form: minLr + (lr - minLr) * (1 + cos(pi * step / totalSteps)) / 2,
 * held at minLr after totalSteps (PyTorch's would climb back: its cosine is periodic).
 */
export function cosine(options: { lr: number; totalSteps: number; minLr?: number }): Schedule {
  const o = checkObject('cosine options', options);
  const lr = checkRate('lr', o.lr);
  const totalSteps = checkSteps('totalSteps', o.totalSteps, 1);
  const minLr = o.minLr === undefined ? 0 : checkRate('minLr', o.minLr);
  return (step) => {
    const t = Math.min(checkStep(step), totalSteps);
    return minLr + (lr - minLr) * (1 + Math.cos(Math.PI * t / totalSteps)) / 2;
  };
}

/**
 * Linear warm-up before `schedule`, as SequentialLR([LinearLR, schedule], [warmupSteps]):
 * step s < warmupSteps runs at schedule(0) * (startFactor + (1 - startFactor) * s / warmupSteps),
 * later steps at schedule(s - warmupSteps). startFactor in [0, 1], default LinearLR's 1/3.
 */
export function linearWarmup(schedule: Schedule, options: { warmupSteps: number; startFactor?: number }): Schedule {
  if (typeof schedule !== 'function') throw typeError(`schedule: expected a function, got ${describe(schedule)}`);
  const o = checkObject('linearWarmup options', options);
  const warmupSteps = checkSteps('warmupSteps', o.warmupSteps, 0);
  const startFactor = o.startFactor === undefined ? 1 / 3 : checkRate('startFactor', o.startFactor);
  if (startFactor > 1) throw valueError(`startFactor: expected a number in [0, 1], got ${describe(startFactor)}`);
  return (step) => {
    const s = checkStep(step);
    if (s >= warmupSteps) return schedule(s - warmupSteps);
    return schedule(0) * (startFactor + (1 - startFactor) * s / warmupSteps);
  };
}

function checkStep(step: unknown): number {
  if (typeof step !== 'number') throw typeError(`step: expected a non-negative integer, got ${describe(step)}`);
  if (!Number.isSafeInteger(step) || step < 0) throw valueError(`step: expected a non-negative integer, got ${describe(step)}`);
  return step;
}

function checkSteps(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number') throw typeError(`${name}: expected an integer >= ${min}, got ${describe(value)}`);
  if (!Number.isSafeInteger(value) || value < min) throw valueError(`${name}: expected an integer >= ${min}, got ${describe(value)}`);
  return value;
}

function checkRate(name: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(`${name}: expected a number >= 0, got ${describe(value)}`);
  if (!(Number.isFinite(value) && value >= 0)) throw valueError(`${name}: expected a finite number >= 0, got ${describe(value)}`);
  return value;
}
