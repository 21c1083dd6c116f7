// Saving a trained task model with what the CLI needs to use it again (task,
// settings, vocabularies, metrics, loss history) in the safetensors
// __metadata__, and loading it back with clear errors.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../io/model-file';
import type { SequenceModel } from '../structures/sequence-model';
import type { Settings } from './tasks/task';
import { UsageError } from './tasks/task';
import type { LossPoint } from './trainer';

export const MODEL_FILE = 'model.safetensors';

export interface TrainingInfo {
  seconds: number;
  sequences: number;
  steps: number;
  epochs: number;
  stoppedBy: string;
  threads: number;
  bestAt: { seconds: number; epochs: number; validation: number };
}

export interface SavedRun {
  task: string;
  settings: Settings;
  state: unknown;
  metrics: Record<string, number>;
  history: LossPoint[];
  training: TrainingInfo;
}

export function saveRun(path: string, model: SequenceModel<unknown>, run: SavedRun): void {
  model.save(path, {
    'rnnkit.task': run.task,
    'rnnkit.settings': JSON.stringify(run.settings),
    'rnnkit.vocab': JSON.stringify(run.state),
    'rnnkit.metrics': JSON.stringify(run.metrics),
    'rnnkit.history': JSON.stringify(run.history),
    'rnnkit.training': JSON.stringify(run.training),
  });
}

/** A model file, or a folder holding model.safetensors. */
export function resolveModelPath(given: string): string {
  if (!existsSync(given)) throw new UsageError(`no such model file or folder: ${given}`, 1);
  if (statSync(given).isDirectory()) {
    const inside = join(given, MODEL_FILE);
    if (!existsSync(inside)) throw new UsageError(`${given} is a folder without ${MODEL_FILE} (train one with 'rnnkit train <task> --out ${given}')`, 1);
    return inside;
  }
  return given;
}

export function loadRun(given: string): { path: string; model: SequenceModel<unknown>; run: SavedRun } {
  const path = resolveModelPath(given);
  let loaded;
  try {
    loaded = loadModel(path);
  } catch (error) {
    throw new UsageError(`cannot load ${path}: ${(error as Error).message}`, 1);
  }
  const m = loaded.metadata;
  if (!m['rnnkit.task']) {
    throw new UsageError(`${path} is an rnnkit ${loaded.metadata.kind} model, but not one trained by 'rnnkit train' (no task in its metadata)`, 1);
  }
  const parse = (key: string, fallback: unknown) => {
    if (m[key] === undefined) return fallback;
    try {
      return JSON.parse(m[key]);
    } catch {
      throw new UsageError(`${path}: metadata '${key}' is not valid JSON`, 1);
    }
  };
  return {
    path,
    model: loaded.model,
    run: {
      task: m['rnnkit.task'],
      settings: parse('rnnkit.settings', {}) as Settings,
      state: parse('rnnkit.vocab', {}),
      metrics: parse('rnnkit.metrics', {}) as Record<string, number>,
      history: parse('rnnkit.history', []) as LossPoint[],
      training: parse('rnnkit.training', null) as TrainingInfo,
    },
  };
}
