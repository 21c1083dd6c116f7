// What the training loop and checkpoints need from a model, and nothing more:
// the structures implement it, and lib/train never imports them.

import type { Random } from '../random';
import type { Tensor } from '../tensor';

/** Summed loss over `count` terms (tokens, sequences or values) of one batch. */
export interface BatchResult {
  loss: number;
  count: number;
}

export interface TrainContext {
  /** The model's generator: dropout seeds, scheduled sampling. */
  random: Random;
}

export interface Trainable<Example> {
  /** The structure's name in saved files; a checkpoint of another kind is refused. */
  readonly kind: string;
  /** Every parameter, flat; the optimizer steps this buffer. */
  readonly parameters: Float32Array;
  /** Gradients laid out like `parameters`. */
  readonly gradients: Float32Array;
  /** Seeded generator for training-time randomness; saved in checkpoints. */
  readonly random: Random;
  config(): Record<string, unknown>;
  /** Length used to bucket examples into batches. */
  exampleLength(example: Example): number;
  /** Throws a TypeError/RangeError naming `name[i]` for the first bad example. */
  checkExamples(data: readonly Example[], name: string): void;
  /** Forward and backward on one batch; accumulates gradients of the mean loss. */
  trainBatch(batch: Example[], context: TrainContext): Promise<BatchResult>;
  /** Forward only: summed loss and count. */
  evaluateBatch(batch: Example[]): Promise<BatchResult>;
  zeroGrad(): void;
  /** zeroGrad on a native thread (fit uses it when present: the event loop stays free). */
  zeroGradAsync?(): Promise<void>;
  stateDict(): Record<string, Tensor>;
  /** Checks every key and shape before anything changes. */
  loadStateDict(dict: Record<string, Tensor>): void;
  /** Runs `work` as the model's one long operation; other uses are refused meanwhile. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
}
