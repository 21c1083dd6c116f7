// The CLI's training run around model.fit: a time budget and/or epochs, Adam
// with warm-up and cosine decay over whichever of the two ends first, loss
// points for the curve (validation at regular intervals, not only at epoch
// ends: a budget may end inside the first epoch), keeping the weights with the
// best validation score, a progress display, and Ctrl-C to stop early.

import { performance } from 'node:perf_hooks';
import { Adam, AdamW } from '../blocks/optimizers';
import type { SequenceModel } from '../structures/sequence-model';
import type { ProcessGroup } from '../train/process-group';
import type { Progress } from './progress';

export interface TrainPlan {
  epochs?: number;
  budgetMs?: number;
  batchSize: number;
  lr: number;
  /** The rate decays (cosine) to lr * minLrFraction at the end. */
  minLrFraction: number;
  warmupSteps: number;
  clipNorm: number;
  seed: number;
  /** About how many validation points to take (the curve's resolution). */
  validationPoints: number;
  /** AdamW's decoupled weight decay; 0 or absent: Adam. */
  weightDecay?: number;
  /**
   * Keep fit's moving average of the weights with this decay (warmup on): the curve's validation
   * points score the average, and the kept (best) weights are an average.
   */
  averageDecay?: number;
  /**
   * Data-parallel over this group: batchSize is the whole step's, split over the workers; only rank 0
   * runs the progress, the curve's validation points and the best-weights bookkeeping (fit's callbacks).
   */
  distributed?: ProcessGroup;
}

/** One point of the loss curve. */
export interface LossPoint {
  seconds: number;
  sequences: number;
  /** Epochs done, fractional. */
  epochs: number;
  /** Mean training loss since the previous point. */
  train: number;
  validation: number;
}

export interface TrainResult {
  history: LossPoint[];
  seconds: number;
  sequences: number;
  steps: number;
  epochs: number;
  stoppedBy: 'budget' | 'epochs' | 'interrupt';
  /** The point whose weights were kept (best validation score). */
  best: LossPoint;
}

class Interrupted extends Error {}

/**
 * Trains `model` on `train`. `validate` scores the model on validation data
 * (lower is better; a loss or an error) and is called at each curve point.
 */
export async function trainModel<E>(model: SequenceModel<E>, train: readonly E[], plan: TrainPlan,
  validate: () => Promise<number>, progress: Progress): Promise<TrainResult> {
  if (plan.epochs === undefined && plan.budgetMs === undefined) throw new Error('training needs epochs or a time budget');
  const batchesPerEpoch = Math.ceil(train.length / plan.batchSize);
  const totalSteps = plan.epochs !== undefined ? plan.epochs * batchesPerEpoch : undefined;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const fraction = (step: number) => Math.min(1, Math.max(
    plan.budgetMs !== undefined ? elapsed() / plan.budgetMs : 0,
    totalSteps !== undefined ? step / totalSteps : 0));

  const schedule = (step: number) => {
    if (step < plan.warmupSteps) return plan.lr * (step + 1) / plan.warmupSteps;
    const p = fraction(step);
    return plan.lr * (plan.minLrFraction + (1 - plan.minLrFraction) * 0.5 * (1 + Math.cos(Math.PI * p)));
  };

  // Validation: by step count when epochs are set (so those runs are reproducible, even with a
  // budget as a cap), by time under a budget alone.
  const timeBased = plan.epochs === undefined;
  const everyMs = timeBased ? plan.budgetMs! / plan.validationPoints : Infinity;
  const everySteps = !timeBased ? Math.max(1, Math.ceil(totalSteps! / plan.validationPoints)) : Infinity;

  const history: LossPoint[] = [];
  let steps = 0, sequences = 0, lossSum = 0, lossSeqs = 0, lastPointMs = 0;
  let best: { point: LossPoint; parameters: Float32Array } | null = null;
  const window: Array<{ sequences: number; ms: number }> = [];
  let lastValidation: number | undefined;

  // Scores the weights in the model now (inside withAverage: the average), and keeps them if best.
  const addPoint = async () => {
    const validation = await validate();
    const point: LossPoint = {
      seconds: elapsed() / 1000, sequences, epochs: sequences / train.length,
      train: lossSeqs > 0 ? lossSum / lossSeqs : NaN, validation,
    };
    history.push(point);
    lossSum = 0; lossSeqs = 0; lastPointMs = elapsed();
    lastValidation = validation;
    if (Number.isFinite(validation) && (best === null || validation < best.point.validation)) {
      best = { point, parameters: model.parameters.slice() };
    }
  };

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress.note('interrupted: stopping after this batch, then evaluating and saving (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  progress.start();
  let stoppedBy: TrainResult['stoppedBy'] = plan.budgetMs !== undefined ? 'budget' : 'epochs';
  try {
    const history0 = await model.fit(train, {
      epochs: plan.epochs ?? 1e6,
      batchSize: plan.distributed ? plan.batchSize / plan.distributed.worldSize : plan.batchSize,
      distributed: plan.distributed,
      optimizer: plan.weightDecay ? new AdamW({ lr: plan.lr, weightDecay: plan.weightDecay }) : new Adam({ lr: plan.lr }),
      averaging: plan.averageDecay ? { decay: plan.averageDecay, warmup: true } : undefined,
      schedule,
      clipNorm: plan.clipNorm,
      seed: plan.seed,
      shuffle: true,
      timeBudgetMs: plan.budgetMs,
      onNonFinite: 'skip',
      onBatchEnd: async (report) => {
        steps++;
        sequences += report.sequences;
        if (Number.isFinite(report.loss)) { lossSum += report.loss * report.sequences; lossSeqs += report.sequences; }
        window.push({ sequences: report.sequences, ms: report.sequences / report.sequencesPerSecond * 1000 });
        if (window.length > 30) window.shift();
        const rate = window.reduce((n, w) => n + w.sequences, 0) / (window.reduce((n, w) => n + w.ms, 0) / 1000);
        if ((timeBased && elapsed() - lastPointMs >= everyMs) || (!timeBased && steps % everySteps === 0)) {
          await (report.withAverage ? report.withAverage(addPoint) : addPoint());
        }
        const done = fraction(steps);
        const etaBySteps = totalSteps !== undefined ? (totalSteps - steps) * (elapsed() / steps) : Infinity;
        const etaByBudget = plan.budgetMs !== undefined ? plan.budgetMs - elapsed() : Infinity;
        progress.update({
          fraction: done, epoch: report.epoch, loss: lossSeqs > 0 ? lossSum / lossSeqs : report.loss,
          validationLoss: lastValidation, sequencesPerSecond: rate, etaMs: Math.max(0, Math.min(etaBySteps, etaByBudget)),
        });
        if (interrupted) throw new Interrupted();
      },
    });
    if (plan.epochs !== undefined && history0.epochs.length >= plan.epochs) stoppedBy = 'epochs';
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    stoppedBy = 'interrupt';
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
  }
  const seconds = elapsed() / 1000;
  const leads = !plan.distributed || plan.distributed.rank === 0;  // the others kept no curve
  if (leads && (lossSeqs > 0 || history.length === 0)) await addPoint();
  const b = best as { point: LossPoint; parameters: Float32Array } | null;
  if (b && b.point !== history[history.length - 1]) model.parameters.set(b.parameters);
  return {
    history, seconds, sequences, steps, epochs: sequences / train.length, stoppedBy,
    best: b ? b.point : history[history.length - 1],
  };
}
