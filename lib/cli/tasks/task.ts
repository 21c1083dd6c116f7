// What a built-in task of the CLI provides: its data (loaded at run time from
// an npm package, split reproducibly), a model built from settings, metrics on
// the held-out split, and optional predict / generate / pictures.

import type { CellName } from '../../layers/cell-kind';
import type { StructureDropout } from '../../layers/dropout';
import type { SequenceModel } from '../../structures/sequence-model';
import type { Metric } from '../metrics';

export type AttentionName = 'bahdanau' | 'luong-dot' | 'luong-general' | 'none';
export type Conditioning = 'first-step' | 'every-step';

/** Everything that defines a run; saved in the model file so `eval` rebuilds the same data. */
/** Settings that only some tasks take (the CLI refuses their flags elsewhere). */
export type TaskOption = 'attention' | 'conditioning' | 'evalSize' | 'evalBeam' | 'structureDropout' | 'labelSmoothing' | 'segment';

export interface Settings {
  hidden: number;
  cell: CellName;
  embedding: number;
  layers: number;
  dropout: number;
  batchSize: number;
  lr: number;
  clipNorm: number;
  seed: number;
  epochs?: number;
  budgetMs?: number;
  attention?: AttentionName;
  conditioning?: Conditioning;
  /** g2p: test words scored (a fixed sample of the test split; default all of it). */
  evalSize?: number;
  /** g2p: beam width of the second evaluation, beside greedy decoding (1: greedy only). */
  evalBeam?: number;
  /** g2p: label smoothing of the decoder's cross-entropy. */
  labelSmoothing?: number;
  /** g2p: dropout outside the recurrent stacks (EncoderDecoderOptions.dropout). */
  structureDropout?: StructureDropout;
  /** AdamW's decoupled weight decay (0 or absent: Adam). */
  weightDecay?: number;
  /** fit's moving average of the weights with this decay (with warmup); validation and the saved model use it. */
  average?: number;
  /** moby: characters per training sequence and truncated-BPTT chunk. */
  segment?: number;
  truncation?: number;
}

/** Loaded data: training and validation examples, plus what must travel with the model (vocabularies). */
export interface Prepared<E, S> {
  train: E[];
  validation: E[];
  state: S;
  /** Lines that describe the data and its split. */
  summary: string[];
}

export interface PredictOptions {
  beam?: number;
  picturesDir?: string;
}

export interface GenerateOptions {
  count: number;
  temperature: number;
  seed: number;
  length?: number;
  prompt?: string;
  gender?: string;
}

/** One line of prediction output, and its machine-readable form. */
export interface Output {
  text: string;
  json: Record<string, unknown>;
}

export interface Task<M extends SequenceModel<E>, E, S> {
  name: string;
  summary: string;
  structure: string;
  /** npm package(s) the data comes from, and their licences. */
  data: string;
  licence: string;
  /** What the metrics are (for `tasks` and help). */
  metricsInfo: string;
  /** Unit of the loss, for the curve's axis. */
  lossLabel: string;
  defaults: Settings;
  /** Defaults that depend on how long training may run (e.g. a larger model for a longer budget). */
  defaultsFor?(budgetMs: number | undefined, epochs: number | undefined): Partial<Settings>;
  /** Which CLI options apply (others are refused with a message). */
  options: ReadonlyArray<TaskOption>;
  prepare(settings: Settings, saved?: S): Prepared<E, S>;
  build(prepared: Prepared<E, S>, settings: Settings): M;
  /** Metrics on the held-out test split. */
  evaluate(model: M, prepared: Prepared<E, S>, settings: Settings): Promise<Metric[]>;
  /** A few example predictions to print after the metrics. */
  showcase?(model: M, prepared: Prepared<E, S>, settings: Settings): string[] | Promise<string[]>;
  /** Task-specific pictures (e.g. attention heatmaps) written into `dir`; returns the files. */
  pictures?(model: M, prepared: Prepared<E, S>, settings: Settings, dir: string): string[] | Promise<string[]>;
  predict?(model: M, state: S, settings: Settings, inputs: string[], options: PredictOptions): Output[] | Promise<Output[]>;
  /** What `predict` takes, for help and errors. */
  predictInput?: string;
  generate?(model: M, state: S, settings: Settings, options: GenerateOptions): Output[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTask = Task<any, any, any>;

/** A CLI-level error: printed as one line, no stack trace. */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}
