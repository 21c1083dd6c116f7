// What fit reports after each batch and epoch (and keeps in checkpoints).

export interface BatchReport {
  epoch: number;
  batch: number;
  batches: number;
  /** Mean loss of this batch (per token, sequence or value, as the model counts). */
  loss: number;
  sequences: number;
  sequencesPerSecond: number;
  gradNorm: number;
  lr: number;
  skipped: boolean;
  /**
   * With fit's averaging: runs `work` (e.g. a validation) with the moving average in the model's
   * weights, then puts the training weights back.
   */
  withAverage?<T>(work: () => Promise<T>): Promise<T>;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  validationLoss?: number;
  seconds: number;
  sequencesPerSecond: number;
}
