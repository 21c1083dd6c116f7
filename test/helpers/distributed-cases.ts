// What the distributed tests train, shared by the mocha side (one process) and the workers
// started under mpirun (test/distributed.child.ts), so both build the same models, data and options.

import type { FitOptions, SequenceModel } from '../../lib';
import { schedules } from '../../lib';
import { MODEL_CASES, type ModelCase } from './structure-models';

export type CaseName = 'many-to-one' | 'encoder-decoder';

const CASE_PARTS: Record<CaseName, string> = {
  'many-to-one': 'ManyToOne (tokens -> classes, 2-layer bidirectional GRU)',
  'encoder-decoder': "EncoderDecoder (attention 'bahdanau')",
};

export function modelCase(name: CaseName): ModelCase {
  const c = MODEL_CASES.find((m) => m.name === CASE_PARTS[name]);
  if (!c) throw new Error(`no model case ${name}`);
  return c;
}

/** 38 examples: global batches of 6 x workers leave a short last batch, so shards are uneven. */
export function trainingData(name: CaseName): unknown[] {
  return modelCase(name).data(7, 38);
}

export function validationData(name: CaseName): unknown[] {
  return modelCase(name).data(8, 21);
}

export const PER_WORKER_BATCH = 6;

/**
 * The options every run shares; `batchSize` is the per-worker size. Clipping at 0.5 is active on most
 * steps here, so it matters that gradients are combined before it.
 */
export function baseOptions(batchSize: number): FitOptions<unknown> {
  return {
    batchSize, optimizer: { type: 'adam', lr: 1e-2 }, clipNorm: 0.5, seed: 3,
    schedule: schedules.linearWarmup(schedules.cosine({ lr: 1e-2, totalSteps: 40 }), { warmupSteps: 2 }),
  };
}

export function makeModel(name: CaseName, seed?: number): SequenceModel<unknown> {
  const model = modelCase(name).make();
  if (seed === undefined) return model;
  // Another start, for the broadcast test: every weight drawn again from `seed`.
  let s = seed >>> 0;
  const p = model.parameters;
  for (let i = 0; i < p.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    p[i] = (s / 2 ** 32 - 0.5) * 0.4;
  }
  return model;
}
