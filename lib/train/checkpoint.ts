// Checkpoints: model weights, optimizer state, the generators, the loop's
// counters and (early stopping with restoreBest) the best weights so far, in
// one safetensors file, written atomically, so training resumes
// bit-identically after a crash or a stop.

import { RnnkitFormatError } from '../errors';
import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import type { FloatArray, Tensor } from '../tensor';
import type { Optimizer } from '../blocks/optimizers';
import type { EpochReport } from './reports';
import type { Trainable } from './trainable';

export interface TrainerState {
  epoch: number;
  step: number;
  bestLoss: number | null;
  bestEpoch: number | null;
  badEpochs: number;
  history: EpochReport[];
  skippedBatches: number;
  dataRandom: number[];
  modelRandom: number[];
}

const FORMAT = 'rnnkit-checkpoint';
const BEST = 'best.parameters';  // the flat parameter vector of the best epoch so far
const AVERAGE = 'average.parameters';  // fit's moving average of the weights (averaging)

/** `best`: the weights early stopping will restore; `average`: fit's weight average (null: none kept). */
export function saveCheckpoint<E>(path: string, model: Trainable<E>, optimizer: Optimizer, state: TrainerState,
  best: Float32Array | null = null, average: Float32Array | null = null): void {
  const tensors: Record<string, Tensor<FloatArray>> = {};
  for (const [name, t] of Object.entries(model.stateDict())) tensors[`model.${name}`] = t;
  if (best) tensors[BEST] = { data: best, shape: [best.length] };
  if (average) tensors[AVERAGE] = { data: average, shape: [average.length] };
  const numbers: Record<string, number> = {};
  for (const [name, value] of Object.entries(optimizer.state())) {
    if (typeof value === 'number') numbers[name] = value;
    else tensors[`optimizer.${name}`] = value;
  }
  saveSafetensors(path, tensors, {
    format: FORMAT,
    kind: model.kind,
    config: JSON.stringify(model.config()),
    optimizer: JSON.stringify(numbers),
    trainer: JSON.stringify(state),
  });
}

/**
 * Loads weights and optimizer state into the given model and optimizer; returns
 * the loop's state, the best weights early stopping kept and the weight average (or nulls).
 */
export function loadCheckpoint<E>(path: string, model: Trainable<E>, optimizer: Optimizer, options: { averaging?: boolean } = {}):
  { state: TrainerState; best: Float32Array | null; average: Float32Array | null } {
  const { tensors, metadata } = loadSafetensors(path);
  if (metadata.format !== FORMAT) throw new RnnkitFormatError(`${path}: not an rnnkit checkpoint (format '${metadata.format}')`);
  if (metadata.kind !== model.kind) {
    throw new RnnkitFormatError(`${path}: a checkpoint of a ${metadata.kind}, not of this ${model.kind}`);
  }
  const weights: Record<string, Tensor> = {};
  const optimizerState: Record<string, Tensor<FloatArray> | number> = JSON.parse(metadata.optimizer ?? '{}');
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith('model.')) weights[name.slice(6)] = t;
    else if (name.startsWith('optimizer.')) optimizerState[name.slice(10)] = t;
  }
  const state = parseTrainerState(path, metadata.trainer);
  const best = tensors[BEST]?.data ?? null;
  const average = tensors[AVERAGE]?.data ?? null;
  if ((average !== null) !== (options.averaging ?? false)) {
    throw new RnnkitFormatError(`${path}: the checkpoint was written by a fit ${average ? 'with' : 'without'} ` +
      'averaging; resume with the averaging option it was written with');
  }
  for (const [what, values] of [['best weights', best], ['weight average', average]] as const) {
    if (values && values.length !== model.parameters.length) {
      throw new RnnkitFormatError(`${path}: the checkpoint's ${what} hold ${values.length} values, the model ` +
        `${model.parameters.length}`);
    }
  }
  // All or nothing: the weights go back if the optimizer refuses its state.
  const before = model.parameters.slice();
  model.loadStateDict(weights);
  try {
    optimizer.loadState(optimizerState);
  } catch (error) {
    model.parameters.set(before);
    throw error;
  }
  return { state, best: best ? Float32Array.from(best) : null, average: average ? Float32Array.from(average) : null };
}

/** The loop's counters and generator states, checked before anything is loaded. */
function parseTrainerState(path: string, text: string | undefined): TrainerState {
  let state: TrainerState | null;
  try {
    state = JSON.parse(text ?? 'null') as TrainerState | null;
  } catch (error) {
    throw new RnnkitFormatError(`${path}: the checkpoint's trainer state is not valid JSON`, { cause: error });
  }
  if (!state || typeof state !== 'object') throw new RnnkitFormatError(`${path}: the checkpoint has no trainer state`);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const words = (v: unknown) => Array.isArray(v) && v.length === 4 && v.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff);
  const bad = !count(state.epoch) ? 'epoch' : !count(state.step) ? 'step' : !count(state.skippedBatches) ? 'skippedBatches'
    : !count(state.badEpochs) ? 'badEpochs' : !Array.isArray(state.history) ? 'history'
      : !words(state.dataRandom) ? 'dataRandom' : !words(state.modelRandom) ? 'modelRandom' : null;
  if (bad) throw new RnnkitFormatError(`${path}: the checkpoint's trainer state has an invalid '${bad}'`);
  return state;
}
