// Checkpoints: model weights, optimizer state, the generators and the loop's
// counters in one safetensors file, written atomically, so training resumes
// bit-identically after a crash or a stop.

import { RnnkitFormatError } from '../errors';
import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import type { SequenceModel } from '../structures/sequence-model';
import type { Tensor } from '../tensor';
import type { EpochReport } from './fit';
import type { Optimizer } from './optimizers';

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

export function saveCheckpoint<E>(path: string, model: SequenceModel<E>, optimizer: Optimizer, state: TrainerState): void {
  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(model.stateDict())) tensors[`model.${name}`] = t;
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

/** Loads weights and optimizer state into the given model and optimizer; returns the loop's state. */
export function loadCheckpoint<E>(path: string, model: SequenceModel<E>, optimizer: Optimizer): TrainerState {
  const { tensors, metadata } = loadSafetensors(path);
  if (metadata.format !== FORMAT) throw new RnnkitFormatError(`${path}: not an rnnkit checkpoint (format '${metadata.format}')`);
  if (metadata.kind !== model.kind) {
    throw new RnnkitFormatError(`${path}: a checkpoint of a ${metadata.kind}, not of this ${model.kind}`);
  }
  const weights: Record<string, Tensor> = {};
  const optimizerState: Record<string, Tensor | number> = JSON.parse(metadata.optimizer ?? '{}');
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith('model.')) weights[name.slice(6)] = t;
    else if (name.startsWith('optimizer.')) optimizerState[name.slice(10)] = t;
  }
  const state = JSON.parse(metadata.trainer ?? 'null') as TrainerState | null;
  if (!state || typeof state.epoch !== 'number') throw new RnnkitFormatError(`${path}: the checkpoint has no trainer state`);
  model.loadStateDict(weights);
  optimizer.loadState(optimizerState);
  return state;
}
