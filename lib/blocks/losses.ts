// Losses with their gradients in one native pass: softmax cross-entropy
// (PyTorch's CrossEntropyLoss with label smoothing; per-row weights mask
// padded steps), MSE, and log-softmax for inference.

import { checkObject, checkTensor, describe } from '../check';
import { shapeError, typeError, valueError } from '../errors';
import { native } from '../native';
import { checkRows } from '../rows';
import type { Tensor } from '../tensor';

export type Reduction = 'mean' | 'sum';

export interface CrossEntropyOptions {
  /** One weight per row, finite and >= 0 (default all 1). A row of weight 0 is masked: its target is not read. */
  weights?: Float32Array;
  /** PyTorch's label_smoothing, in [0, 1] (default 0). */
  labelSmoothing?: number;
  /** 'mean' (default) divides by the weight total; 'sum' does not. */
  reduction?: Reduction;
}

export interface CrossEntropyResult {
  loss: number;
  /** Gradient of `loss` with respect to the logits; zeros on masked rows. */
  dLogits: Tensor;
  /** The weight total (with 0/1 weights: the rows that count). */
  count: number;
}

export interface MseOptions {
  /** One weight per row [..., F] -> N rows, finite and >= 0 (default all 1); weight 0 masks a row. */
  weights?: Float32Array;
  /** 'mean' (default) divides by F times the weight total, as MSELoss divides by the element count. */
  reduction?: Reduction;
}

export interface MseResult {
  loss: number;
  dPred: Tensor;
}

/** Cross-entropy of logits [..., V] against class targets (one per row, in [0, V) unless masked). */
export function softmaxCrossEntropy(logits: Tensor, targets: Int32Array, options: CrossEntropyOptions = {}): CrossEntropyResult {
  const call = prepareCrossEntropy(logits, targets, options);
  native.softmaxCrossEntropy(...call.args);
  return call.finish();
}

/** Same as softmaxCrossEntropy, computed on a native worker thread. */
export async function softmaxCrossEntropyAsync(logits: Tensor, targets: Int32Array,
  options: CrossEntropyOptions = {}): Promise<CrossEntropyResult> {
  const call = prepareCrossEntropy(logits, targets, options);
  await native.softmaxCrossEntropyAsync(...call.args);
  return call.finish();
}

/** log(softmax(logits)) over the last dim, e.g. to sample or beam-search at inference. */
export function logSoftmax(logits: Tensor): Tensor {
  const l = checkRows('logits', logits, null, '[..., numClasses]');
  const out = new Float32Array(l.data.length);
  native.logSoftmax(l.data, l.rows, l.width, out);
  return { data: out, shape: [...l.shape] };
}

export async function logSoftmaxAsync(logits: Tensor): Promise<Tensor> {
  const l = checkRows('logits', logits, null, '[..., numClasses]');
  const out = new Float32Array(l.data.length);
  await native.logSoftmaxAsync(l.data, l.rows, l.width, out);
  return { data: out, shape: [...l.shape] };
}

/** Mean squared error of pred [..., F] against target of the same shape. */
export function mseLoss(pred: Tensor, target: Tensor, options: MseOptions = {}): MseResult {
  const call = prepareMse(pred, target, options);
  native.mseLoss(...call.args);
  return call.finish();
}

export async function mseLossAsync(pred: Tensor, target: Tensor, options: MseOptions = {}): Promise<MseResult> {
  const call = prepareMse(pred, target, options);
  await native.mseLossAsync(...call.args);
  return call.finish();
}

function prepareCrossEntropy(logits: Tensor, targets: Int32Array, options: CrossEntropyOptions) {
  const o = checkObject('options', options);
  const l = checkRows('logits', logits, null, '[..., numClasses]');
  const N = l.rows, V = l.width;
  const weights = checkRowWeights(o.weights, N, 'one per row of logits');
  const eps = o.labelSmoothing ?? 0;
  if (typeof eps !== 'number') throw typeError(`labelSmoothing: expected a number in [0, 1], got ${describe(eps)}`);
  if (!(eps >= 0 && eps <= 1)) throw valueError(`labelSmoothing: expected a number in [0, 1], got ${describe(eps)}`);
  const reduction = checkReduction(o.reduction);
  if (!(targets instanceof Int32Array)) throw typeError(`targets: expected an Int32Array, got ${describe(targets)}`);
  if (targets.length !== N) throw shapeError(`targets: expected ${N} (one per row of logits), got ${targets.length}`);
  for (let n = 0; n < N; n++) {
    if (weights && weights[n] === 0) continue;
    if (!(targets[n] >= 0 && targets[n] < V)) {
      throw valueError(`targets[${n}]: expected a class in [0, ${V - 1}] (or a row weight of 0), got ${targets[n]}`);
    }
  }
  const total = weights ? sum(weights) : N;
  const scale = reduction === 'sum' ? 1 : total > 0 ? 1 / total : 0;
  const result = new Float64Array(2);
  const dLogits = new Float32Array(l.data.length);
  const args = [l.data, targets, weights, eps, scale, N, V, result, dLogits] as const;
  const finish = (): CrossEntropyResult => ({
    loss: result[0] * scale, dLogits: { data: dLogits, shape: [...l.shape] }, count: result[1],
  });
  return { args, finish };
}

function prepareMse(pred: Tensor, target: Tensor, options: MseOptions) {
  const o = checkObject('options', options);
  const p = checkRows('pred', pred, null, '[..., features]');
  const t = checkTensor('target', target, p.shape, 'the shape of pred');
  const weights = checkRowWeights(o.weights, p.rows, 'one per row of pred');
  const reduction = checkReduction(o.reduction);
  const total = (weights ? sum(weights) : p.rows) * p.width;
  const scale = reduction === 'sum' ? 1 : total > 0 ? 1 / total : 0;
  const result = new Float64Array(2);
  const dPred = new Float32Array(p.data.length);
  const args = [p.data, t.data, weights, scale, p.rows, p.width, result, dPred] as const;
  const finish = (): MseResult => ({ loss: result[0] * scale, dPred: { data: dPred, shape: [...p.shape] } });
  return { args, finish };
}

function checkRowWeights(value: unknown, rows: number, note: string): Float32Array | null {
  if (value === undefined) return null;
  if (!(value instanceof Float32Array)) throw typeError(`weights: expected a Float32Array, got ${describe(value)}`);
  if (value.length !== rows) throw shapeError(`weights: expected ${rows} (${note}), got ${value.length}`);
  for (let n = 0; n < rows; n++) {
    if (!(Number.isFinite(value[n]) && value[n] >= 0)) {
      throw valueError(`weights[${n}]: expected a finite weight >= 0, got ${value[n]}`);
    }
  }
  return value;
}

function checkReduction(value: unknown): Reduction {
  if (value === undefined) return 'mean';
  if (typeof value !== 'string') throw typeError(`reduction: expected 'mean' or 'sum', got ${describe(value)}`);
  if (value !== 'mean' && value !== 'sum') throw valueError(`reduction: expected 'mean' or 'sum', got ${describe(value)}`);
  return value;
}

function sum(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}
