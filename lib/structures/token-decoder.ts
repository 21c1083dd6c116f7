// What the two decoders (with and without attention) share: the interface the
// structures train and decode through, and the teacher-forcing batch layout.

import type { ParameterModule } from '../layers/module';
import type { DropoutTape } from '../layers/dropout';
import type { BridgeTape } from './bridge';
import type { Random } from '../random';
import type { Tensor } from '../tensor';
import { padTokens, stepMask } from '../blocks/batching';
import type { StepDecoder } from './decoding';
import type { Inference } from './inference';
import { argmaxRows, classObjective } from './objectives';

/** What conditions a decoder: a context per sequence and, for attention, the encoder's memory. */
export interface DecoderSource {
  batch: number;
  /** [B, C]. */
  context: Float32Array;
  /** [N, B, E] encoder outputs (attention only). */
  memory?: Tensor;
  sourceLengths?: Int32Array;
}

/** Decoder inputs and targets for teacher forcing: [start, y...] -> [y..., end]. */
export interface TeacherBatch {
  inputs: Int32Array;   // [M, B]
  targets: Int32Array;  // [M, B], -1 at padding
  lengths: Int32Array;  // [B] = target length + 1
  steps: number;        // M
  batch: number;
}

export function teacherBatch(targets: ReadonlyArray<readonly number[]>, startToken: number, endToken: number): TeacherBatch {
  const inputs = padTokens(targets.map((t) => [startToken, ...t]));
  const outputs = padTokens(targets.map((t) => [...t, endToken]), -1);
  return { inputs: inputs.ids, targets: outputs.ids, lengths: inputs.lengths, steps: inputs.steps, batch: targets.length };
}

/**
 * What a decoder's backward needs from its training forward, besides what its layers keep (each layer
 * differentiates its own last training forward, as a PyTorch module's autograd context would).
 */
export interface DecoderTape {
  batch: number;
  bridge: BridgeTape | null;
  /** What the dropout on the target embeddings and on the head's input dropped. */
  dropout: { embedding: DropoutTape | null; headInput: DropoutTape | null };
}

/** The decoder's own dropout sites (see StructureDropout). */
export interface DecoderDropout {
  embedding: number;
  headInput: number;
}

export interface TokenDecoder<State> {
  readonly vocabSize: number;
  modules(prefix: string): Array<[string, ParameterModule]>;
  /** Teacher-forced pass: logits [M, B, V], and the tape backward consumes. */
  forward(source: DecoderSource, inputs: Int32Array, lengths: Int32Array, steps: number,
    options: { training: boolean; random?: Random }): Promise<{ logits: Tensor; tape: DecoderTape }>;
  /** Through the training forward that wrote `tape`: gradients for the source. */
  backward(tape: DecoderTape, dLogits: Tensor): Promise<{ dContext: Float32Array; dMemory?: Tensor }>;
  /** Decoding state before the first step. */
  start(source: DecoderSource): Inference<State>;
  readonly stepper: StepDecoder<State>;
}

/**
 * Teacher-forced loss of a decoder on target sequences, and (training) its
 * backward. With scheduledSampling r > 0, a first pass predicts every step and
 * each input after the first is replaced by the previous step's prediction with
 * probability r (parallel scheduled sampling: one extra forward, no per-step loop).
 */
export async function runDecoder<S>(decoder: TokenDecoder<S>, source: DecoderSource,
  targets: ReadonlyArray<readonly number[]>, spec: { startToken: number; endToken: number; labelSmoothing: number },
  options: { training: boolean; random?: Random; scheduledSampling?: number }): Promise<{
    loss: number; count: number; grads?: { dContext: Float32Array; dMemory?: Tensor };
  }> {
  const tb = teacherBatch(targets, spec.startToken, spec.endToken);
  let inputs = tb.inputs;
  const ratio = options.scheduledSampling ?? 0;
  if (options.training && ratio > 0 && options.random) {
    const first = await decoder.forward(source, inputs, tb.lengths, tb.steps, { training: false });
    inputs = mixPredictions(tb, argmaxRows(first.logits.data, decoder.vocabSize), ratio, options.random);
  }
  const { logits, tape } = await decoder.forward(source, inputs, tb.lengths, tb.steps, options);
  const mask = stepMask(tb.lengths, tb.steps);
  const count = tb.lengths.reduce((a, b) => a + b, 0);
  const objective = await classObjective(logits, tb.targets, mask, spec.labelSmoothing, count);
  const grads = options.training ? await decoder.backward(tape, objective.grad) : undefined;
  return { loss: objective.sum, count, grads };
}

function mixPredictions(tb: TeacherBatch, predictions: Int32Array, ratio: number, random: Random): Int32Array {
  const B = tb.batch, mixed = tb.inputs.slice();
  for (let t = 1; t < tb.steps; t++) {
    for (let b = 0; b < B; b++) {
      if (t < tb.lengths[b] && random.next() < ratio) mixed[t * B + b] = predictions[(t - 1) * B + b];
    }
  }
  return mixed;
}
