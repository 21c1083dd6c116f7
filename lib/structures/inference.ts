// Inference written once, run two ways. A structure's inference is a generator
// that yields each layer call it needs (a LayerCall knows its sync and its
// async form) and receives the call's result back; runSync drives it on the
// JS thread, runAsync on native worker threads. This is the JS twin of
// native/addon/kernel_function.h's prepare -> closure: the same code decides
// what to compute, the driver decides where.

import type { AttentionDecoder, AttentionDecoderOutput, DecoderState, AttentionStepOptions } from '../layers/attention-decoder';
import type { Embedding } from '../layers/embedding';
import type { Linear } from '../layers/linear';
import type { ForwardOptions, Recurrent, RecurrentOutput } from '../layers/recurrent';
import { logSoftmax, logSoftmaxAsync } from '../blocks/losses';
import type { Tensor } from '../tensor';

export interface LayerCall<T> {
  sync(): T;
  async(): Promise<T>;
  /**
   * Work of a few tens of microseconds at most (an embedding lookup, a small head): runAsync runs it on
   * the JS thread, since a hop to a worker thread and back costs more than the work. Same kernels, same bits.
   */
  light?: boolean;
}

// Below these sizes a call takes a few tens of microseconds on one core.
const LIGHT_MULTIPLY_ADDS = 1 << 21;
const LIGHT_ELEMENTS = 1 << 16;

/** A computation that yields layer calls and returns T. */
export type Inference<T> = Generator<LayerCall<unknown>, T, unknown>;

/** Yields one call and returns its result, typed: `const y = yield* run(linear(head, x))`. */
export function* run<T>(call: LayerCall<T>): Generator<LayerCall<unknown>, T, unknown> {
  return (yield call as LayerCall<unknown>) as T;
}

export function runSync<T>(work: Inference<T>): T {
  let step = work.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = step.value.sync();
    } catch (error) {
      step = work.throw(error);
      continue;
    }
    step = work.next(value);
  }
  return step.value;
}

export async function runAsync<T>(work: Inference<T>): Promise<T> {
  let step = work.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = step.value.light ? step.value.sync() : await step.value.async();
    } catch (error) {
      step = work.throw(error);
      continue;
    }
    step = work.next(value);
  }
  return step.value;
}

export const embed = (layer: Embedding, ids: Int32Array, shape: number[], training = false): LayerCall<Tensor> => ({
  sync: () => layer.forward(ids, shape, { training }),
  async: () => layer.forwardAsync(ids, shape, { training }),
  light: ids.length * layer.embeddingDim <= LIGHT_ELEMENTS,
});

export const linear = (layer: Linear, x: Tensor, training = false): LayerCall<Tensor> => ({
  sync: () => layer.forward(x, { training }),
  async: () => layer.forwardAsync(x, { training }),
  light: x.data.length * layer.outFeatures <= LIGHT_MULTIPLY_ADDS,
});

export const recurrent = (layer: Recurrent, x: Tensor, options: ForwardOptions = {}): LayerCall<RecurrentOutput> => ({
  sync: () => layer.forward(x, options),
  async: () => layer.forwardAsync(x, options),
});

export const attentionStep = (layer: AttentionDecoder, x: Tensor, memory: Tensor, state: DecoderState,
  options: AttentionStepOptions): LayerCall<AttentionDecoderOutput> => ({
  sync: () => layer.step(x, memory, state, options),
  async: () => layer.stepAsync(x, memory, state, options),
});

export const logProbabilities = (logits: Tensor): LayerCall<Tensor> => ({
  sync: () => logSoftmax(logits),
  async: () => logSoftmaxAsync(logits),
  light: logits.data.length <= LIGHT_ELEMENTS,
});
