// The training loop every structure shares: seeded shuffling and bucketing,
// one optimizer step per batch (global-norm clipping, LR schedule), a guard
// against non-finite losses and gradients, validation, early stopping,
// per-batch and per-epoch reports, checkpoints and bit-identical resume; data-parallel
// over a process group (data-parallel.ts says what changes there).
// Heavy work runs in native worker threads, so the event loop stays free.

import { performance } from 'node:perf_hooks';
import { checkBoolean, checkObject, checkPositiveInteger, checkSeed, describe } from '../check';
import { RnnkitError, typeError, valueError } from '../errors';
import { native } from '../native';
import { Random } from '../random';
import { makeBatches } from '../blocks/batching';
import { loadCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint';
import { DataParallel } from './data-parallel';
import type { ProcessGroup } from './process-group';
import { Adam, AdamW, SGD, type Optimizer } from '../blocks/optimizers';
import type { Schedule } from '../blocks/schedules';
import type { BatchReport, EpochReport } from './reports';
import type { BatchResult, Trainable } from './trainable';
import { checkAveragingOptions, WeightAverage, type AveragingOptions } from './weight-average';

export type OptimizerSpec =
  | { type: 'sgd'; lr: number; momentum?: number; nesterov?: boolean; weightDecay?: number }
  | { type: 'adam' | 'adamw'; lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number };

export type { BatchReport, EpochReport } from './reports';
export type { AveragingOptions } from './weight-average';

export interface FitOptions<Example> {
  epochs?: number;
  batchSize?: number;
  /** An optimizer, or its spec (default Adam, lr 1e-3). */
  optimizer?: Optimizer | OptimizerSpec;
  /** Learning rate per optimizer step (overrides the optimizer's lr). */
  schedule?: Schedule;
  /**
   * Clip the global gradient norm to this value (clip_grad_norm_'s factor). The built-in optimizers apply the
   * factor as their step reads the gradients, so model.gradients keep the unclipped values; an optimizer of
   * your own without stepCheckedAsync gets them scaled in place.
   */
  clipNorm?: number;
  validation?: readonly Example[];
  earlyStopping?: { patience: number; minDelta?: number; restoreBest?: boolean };
  shuffle?: boolean;
  /** Seed of the data order (default 0). */
  seed?: number;
  /** Stop after this much wall time (checked between batches). */
  timeBudgetMs?: number;
  /**
   * Non-finite loss or gradient, or a step that would make a weight non-finite: throw (default)
   * or skip the batch (its step undone, optimizer state included). Weights never take NaN or Infinity.
   * SGD, Adam and AdamW also refuse a step that would make their state non-finite, and a refused step
   * leaves their state as it was in both modes.
   */
  onNonFinite?: 'throw' | 'skip';
  /**
   * Keep an exponential moving average of the weights (see AveragingOptions). Validation and early stopping
   * score the average, and fit ends with it in the model (restoreBest: the best epoch's average). The
   * callbacks see the training weights. Checkpoints hold it, so a resume needs the same option.
   */
  averaging?: AveragingOptions;
  /** Save a checkpoint (model, optimizer, generators, counters) after every complete epoch. */
  checkpointPath?: string;
  /** Continue from a checkpoint written by checkpointPath (same data and options). */
  resumeFrom?: string;
  onBatchEnd?: (report: BatchReport) => void | Promise<void>;
  onEpochEnd?: (report: EpochReport) => void | Promise<void>;
  /**
   * Train data-parallel in this group (distributed.init()): every worker passes the same data and options;
   * batchSize is per worker (a step sees batchSize x worldSize examples). Rank 0's weights start everywhere,
   * losses, validation and early stopping are the whole group's, and only rank 0 writes checkpointPath
   * and runs onBatchEnd/onEpochEnd. resumeFrom must be readable by every worker.
   */
  distributed?: ProcessGroup;
}

export interface FitHistory {
  epochs: EpochReport[];
  stoppedEarly: boolean;
  bestEpoch: number | null;
  skippedBatches: number;
}

export function makeOptimizer(spec: Optimizer | OptimizerSpec | undefined): Optimizer {
  if (spec === undefined) return new Adam({ lr: 1e-3 });
  if (typeof spec === 'object' && spec !== null && typeof (spec as Optimizer).step === 'function') return spec as Optimizer;
  const o = checkObject('optimizer', spec) as OptimizerSpec;
  switch (o.type) {
    case 'sgd': return new SGD(o);
    case 'adam': return new Adam(o);
    case 'adamw': return new AdamW(o);
    default: throw valueError(`optimizer.type: expected 'sgd', 'adam' or 'adamw', got ${describe((o as { type: unknown }).type)}`);
  }
}

export async function fit<Example>(model: Trainable<Example>, data: readonly Example[],
  options: FitOptions<Example> = {}): Promise<FitHistory> {
  const o = checkFitOptions(options);
  model.checkExamples(data, 'data');
  if (data.length === 0) throw valueError('data: expected at least one example');
  if (o.validation) model.checkExamples(o.validation, 'validation');
  const optimizer = makeOptimizer(o.optimizer);
  return model.exclusive(async () => {
    const dataRandom = new Random(o.seed);
    const state: TrainerState = {
      epoch: 0, step: 0, bestLoss: null, bestEpoch: null, badEpochs: 0, history: [], skippedBatches: 0,
      dataRandom: dataRandom.getState(), modelRandom: model.random.getState(),
    };
    let best: Float32Array | null = null;
    let savedAverage: Float32Array | null = null;
    if (o.resumeFrom) {
      const restored = loadCheckpoint(o.resumeFrom, model, optimizer, { averaging: o.averaging !== undefined });
      savedAverage = restored.average;
      Object.assign(state, restored.state);
      if (o.earlyStopping?.restoreBest) best = restored.best;
      dataRandom.setState(state.dataRandom);
      model.random.setState(state.modelRandom);
    }
    const dp = o.distributed;
    if (dp) {
      await dp.agree({
        examples: data.length, validationExamples: o.validation?.length ?? 0, parameters: model.parameters.length,
        batchSize: o.batchSize, epochs: o.epochs, seed: o.seed, resumedEpoch: state.epoch, resumedStep: state.step,
        averagingDecay: o.averaging?.decay ?? 0, averagingStartStep: o.averaging?.startStep ?? 0,
        averagingWarmup: o.averaging?.warmup ? 1 : 0,
      });
      await dp.broadcastWeights(model.parameters);
    }
    // After the broadcast: every rank's average starts from the same weights.
    const average = o.averaging ? new WeightAverage(model.parameters, o.averaging) : null;
    if (average && savedAverage) average.restore(savedAverage);
    const leads = !dp || dp.leads;
    const started = performance.now();
    const stepper = new Stepper(model, optimizer, o.onNonFinite);
    let stoppedEarly = false;
    let outOfTime = false;
    while (state.epoch < o.epochs && !stoppedEarly && !outOfTime) {
      const epoch = state.epoch + 1;
      const epochStart = performance.now();
      const batches = makeBatches(data, (e) => model.exampleLength(e), {
        batchSize: o.batchSize * (dp ? dp.group.worldSize : 1), random: o.shuffle ? dataRandom : null,
      });
      let lossSum = 0, countSum = 0, sequences = 0;
      for (let i = 0; i < batches.length; i++) {
        const late = o.timeBudgetMs !== undefined && performance.now() - started > o.timeBudgetMs;
        if (dp && (o.timeBudgetMs !== undefined || o.schedule)) {
          const root = await dp.fromRoot(late, o.schedule ? o.schedule(state.step) : optimizer.lr);
          if (root.late) { outOfTime = true; break; }
          optimizer.lr = root.lr;
        } else if (late) { outOfTime = true; break; }
        const batchStart = performance.now();
        if (model.zeroGradAsync) await model.zeroGradAsync();
        else model.zeroGrad();
        let result: BatchResult;
        if (dp) {
          const random = dp.stepRandom(model.random);
          const shard = dp.shard(batches[i]);
          const local = shard.length > 0 ? await model.trainBatch(shard, { random }) : { loss: 0, count: 0 };
          result = await dp.reduceGradients(model.gradients, local);
        } else {
          result = await model.trainBatch(batches[i], { random: model.random });
        }
        const gradNorm = await stepper.gradientNorm();
        let finite = Number.isFinite(result.loss) && Number.isFinite(gradNorm);
        let overflowed = 0;
        if (finite) {
          if (o.schedule && !dp) optimizer.lr = o.schedule(state.step);
          overflowed = await stepper.step(clipFactor(gradNorm, o.clipNorm));
          if (overflowed > 0) finite = false;
        }
        if (finite) {
          state.step++;
          await average?.update(state.step);
          lossSum += result.loss;
          countSum += result.count;
        } else if (o.onNonFinite === 'skip') {
          state.skippedBatches++;
        } else {
          const what = overflowed > 0 ? `weights after the optimizer step (${overflowed} would be NaN or Infinity, ` +
            `in the weights or the optimizer's state; learning rate ${optimizer.lr})`
            : `${Number.isFinite(result.loss) ? 'gradient' : 'loss'} (loss ${result.loss}, gradient norm ${gradNorm})`;
          throw new RnnkitError(`training stopped at epoch ${epoch}, batch ${i + 1}: non-finite ${what}; ` +
            'the weights were not updated. Lower the learning rate, set clipNorm, or pass onNonFinite: \'skip\'.',
          'ERR_RNNKIT_NONFINITE');
        }
        sequences += batches[i].length;
        if (leads) await o.onBatchEnd?.({
          epoch, batch: i + 1, batches: batches.length, loss: result.count > 0 ? result.loss / result.count : 0,
          sequences: batches[i].length, sequencesPerSecond: batches[i].length / ((performance.now() - batchStart) / 1000),
          gradNorm, lr: optimizer.lr, skipped: !finite,
          ...(average ? { withAverage: <T>(work: () => Promise<T>) => average.swappedIn(work) } : {}),
        });
      }
      if (outOfTime && sequences === 0) break;
      const report: EpochReport = {
        epoch, loss: countSum > 0 ? lossSum / countSum : NaN, seconds: (performance.now() - epochStart) / 1000,
        sequencesPerSecond: sequences / ((performance.now() - epochStart) / 1000),
      };
      if (o.validation) {
        const validation = o.validation;
        const score = () => evaluateLoss(model, validation, o.batchSize, dp);
        report.validationLoss = await (average ? average.swappedIn(score) : score());
      }
      state.history.push(report);
      state.epoch = epoch;
      if (o.earlyStopping && report.validationLoss !== undefined) {
        const minDelta = o.earlyStopping.minDelta ?? 0;
        if (state.bestLoss === null || report.validationLoss < state.bestLoss - minDelta) {
          state.bestLoss = report.validationLoss;
          state.bestEpoch = epoch;
          state.badEpochs = 0;
          if (o.earlyStopping.restoreBest) best = (average?.values ?? model.parameters).slice();
        } else if (++state.badEpochs >= o.earlyStopping.patience) {
          stoppedEarly = true;
        }
      }
      if (leads) await o.onEpochEnd?.(report);
      // Only a complete epoch is checkpointed: after a stop mid-epoch (timeBudgetMs), the last
      // checkpoint stays the previous epoch's, so resuming runs the interrupted epoch in full.
      if (o.checkpointPath && !outOfTime && leads) {
        state.dataRandom = dataRandom.getState();
        state.modelRandom = model.random.getState();
        saveCheckpoint(o.checkpointPath, model, optimizer, state, o.earlyStopping?.restoreBest ? best : null,
          average?.values ?? null);
      }
    }
    if (average) model.parameters.set(average.values);
    if (best && o.earlyStopping?.restoreBest) model.parameters.set(best);
    return { epochs: state.history, stoppedEarly, bestEpoch: state.bestEpoch, skippedBatches: state.skippedBatches };
  });
}

/** Mean loss over a data set, in batches (no gradients); with `dp`, each rank's share of the batches, summed. */
export async function evaluateLoss<Example>(model: Trainable<Example>, data: readonly Example[], batchSize = 64,
  dp: DataParallel | null = null): Promise<number> {
  let loss = 0, count = 0;
  const batches = makeBatches(data, (e) => model.exampleLength(e), { batchSize, random: null, bucket: false });
  for (const batch of dp ? dp.mine(batches) : batches) {
    const r = await model.evaluateBatch(batch);
    loss += r.loss;
    count += r.count;
  }
  if (dp) ({ loss, count } = await dp.reduceLoss({ loss, count }));
  return count > 0 ? loss / count : NaN;
}

/** clip_grad_norm_'s factor maxNorm / (norm + 1e-6) when below 1 (clipGradNorm's arithmetic), else 1. */
function clipFactor(norm: number, maxNorm: number | undefined): number {
  if (maxNorm === undefined) return 1;
  const factor = maxNorm / (norm + 1e-6);
  return factor < 1 ? factor : 1;
}

/**
 * One batch's optimizer step with its guards, all on native worker threads (the event loop only waits):
 * the gradient norm (sumSquaresAsync: the norm is finite exactly when every gradient is), then the step.
 * A step with finite gradients can still overflow (a huge learning rate); it must then leave the weights,
 * and with 'skip' the optimizer's state, as they were, so weights never take NaN or Infinity and training
 * goes on as if the batch were absent.
 * The built-in optimizers do that with stepCheckedAsync ("check before applying"): the whole update is
 * computed once without writing and counted, and written only if it stays finite; clipping's factor is
 * applied as it reads the gradients. That costs a second pass of the update's arithmetic on a worker
 * thread (g2p, 1.5M weights: 3.5 ms for the checked Adam step against 1.4 ms unchecked). The copy path kept
 * below for optimizers without it copies the weights and, with 'skip', state() (Adam: 12 MB of new arrays a
 * step, which also drives V8's garbage collection) before every step, for a rare refusal; on the event loop
 * that measured slower and blocked longer (bench/fit-event-loop.ts).
 */
class Stepper<Example> {
  private readonly sum = new Float64Array(1);
  private readonly count = new Float64Array(1);
  private weightsBefore: Float32Array | null = null;  // the copy path only

  constructor(private readonly model: Trainable<Example>, private readonly optimizer: Optimizer,
    private readonly onNonFinite: 'throw' | 'skip') {}

  async gradientNorm(): Promise<number> {
    await native.sumSquaresAsync(this.model.gradients, this.sum);
    return Math.sqrt(this.sum[0]);
  }

  /** Takes the step from finite gradients scaled by gradScale; 0 if it did, else how many values it refused. */
  async step(gradScale: number): Promise<number> {
    const { model, optimizer } = this;
    if (optimizer.stepCheckedAsync) {
      const r = await optimizer.stepCheckedAsync(model.parameters, model.gradients, { gradScale });
      return r.applied ? 0 : Math.max(1, r.nonFinite);
    }
    // An optimizer of one's own: scale in place, copy, step, count, and put back what overflowed. With
    // 'throw' training ends, and that optimizer keeps the refused step's moments.
    if (gradScale !== 1) await native.scaleAsync(model.gradients, gradScale);
    this.weightsBefore ??= new Float32Array(model.parameters.length);
    this.weightsBefore.set(model.parameters);
    const optimizerBefore = this.onNonFinite === 'skip' ? optimizer.state() : null;
    await optimizer.stepAsync(model.parameters, model.gradients);
    await native.countNonfiniteAsync(model.parameters, this.count);
    if (this.count[0] === 0) return 0;
    model.parameters.set(this.weightsBefore);
    if (optimizerBefore) optimizer.loadState(optimizerBefore);
    return this.count[0];
  }
}

function checkFitOptions<Example>(options: FitOptions<Example>) {
  const o = checkObject('options', options);
  const fn = (name: string) => {
    const f = o[name];
    if (f !== undefined && typeof f !== 'function') throw typeError(`${name}: expected a function, got ${describe(f)}`);
    return f;
  };
  const positive = (name: string) => {
    const v = o[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw valueError(`${name}: expected a positive number, got ${describe(v)}`);
    return v;
  };
  const nonFinite = o.onNonFinite ?? 'throw';
  if (nonFinite !== 'throw' && nonFinite !== 'skip') throw valueError(`onNonFinite: expected 'throw' or 'skip', got ${describe(nonFinite)}`);
  const early = o.earlyStopping === undefined ? undefined : checkObject('earlyStopping', o.earlyStopping);
  if (early) checkPositiveInteger('earlyStopping.patience', early.patience);
  if (early && !o.validation) throw valueError('earlyStopping: needs validation data');
  for (const name of ['checkpointPath', 'resumeFrom']) {
    if (o[name] !== undefined && typeof o[name] !== 'string') throw typeError(`${name}: expected a file path, got ${describe(o[name])}`);
  }
  return {
    epochs: o.epochs === undefined ? 10 : checkPositiveInteger('epochs', o.epochs, 1e6),
    batchSize: o.batchSize === undefined ? 32 : checkPositiveInteger('batchSize', o.batchSize, 1e6),
    optimizer: o.optimizer as Optimizer | OptimizerSpec | undefined,
    schedule: fn('schedule') as Schedule | undefined,
    clipNorm: positive('clipNorm'),
    validation: o.validation as readonly Example[] | undefined,
    earlyStopping: early as FitOptions<Example>['earlyStopping'],
    shuffle: o.shuffle === undefined ? true : checkBoolean('shuffle', o.shuffle),
    seed: o.seed === undefined ? 0 : checkSeed('seed', o.seed),
    timeBudgetMs: positive('timeBudgetMs'),
    onNonFinite: nonFinite as 'throw' | 'skip',
    averaging: checkAveragingOptions(o.averaging),
    checkpointPath: o.checkpointPath as string | undefined,
    resumeFrom: o.resumeFrom as string | undefined,
    onBatchEnd: fn('onBatchEnd') as FitOptions<Example>['onBatchEnd'],
    onEpochEnd: fn('onEpochEnd') as FitOptions<Example>['onEpochEnd'],
    distributed: DataParallel.from(o.distributed),
  };
}
