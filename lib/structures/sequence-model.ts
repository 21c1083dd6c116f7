// Base of the sequence structures: owns named submodules whose parameters are
// views of one flat buffer (gradients likewise), a seeded generator for
// everything random in training, and the fit / evaluate / save entry points.

import { checkObject, checkPositiveInteger } from '../check';
import { valueError } from '../errors';
import { ModelLock } from '../layers/model-lock';
import { native } from '../native';
import { elementCount, type ParameterModule } from '../layers/module';
import { writeModelFile } from '../io/model-format';
import { Random } from '../random';
import { runAsync, runSync, type Inference } from './inference';
import { evaluateLoss, fit, type FitHistory, type FitOptions } from '../train/fit';
import type { Tensor } from '../tensor';
import type { BatchResult, Trainable, TrainContext } from '../train/trainable';

export type { BatchResult, TrainContext } from '../train/trainable';

export abstract class SequenceModel<Example> implements Trainable<Example> {
  /** Every parameter of the model, flat; submodules hold views of it. */
  readonly parameters: Float32Array;
  /** Gradients laid out like `parameters`. */
  readonly gradients: Float32Array;
  /** Seeded generator for training-time randomness; saved in checkpoints. */
  readonly random: Random;
  private readonly modules: ReadonlyArray<readonly [string, ParameterModule]>;
  // fit/evaluate hold it; meanwhile other code may not use the model's layers (see ModelLock).
  private readonly lock = new ModelLock('model');

  protected constructor(modules: Array<[string, ParameterModule]>, seed: number) {
    this.modules = modules;
    const total = modules.reduce((n, [, m]) => n + m.numParameters, 0);
    this.parameters = new Float32Array(total);
    this.gradients = new Float32Array(total);
    let offset = 0;
    for (const [, m] of modules) {
      const end = offset + m.numParameters;
      m.bindStorage(this.parameters.subarray(offset, end), this.gradients.subarray(offset, end));
      m.setOwner(this.lock);
      offset = end;
    }
    this.random = new Random(seed ^ 0x5eed);
  }

  /** The structure's name in saved files, e.g. 'EncoderDecoder'. */
  abstract readonly kind: string;
  /** Everything needed to rebuild the model (JSON-serialisable). */
  abstract config(): Record<string, unknown>;
  /** Length used to bucket examples into batches. */
  abstract exampleLength(example: Example): number;
  /** Throws a TypeError/RangeError naming `name[i]` for the first bad example. */
  abstract checkExamples(data: readonly Example[], name: string): void;
  /** Forward (and with `training`, backward, accumulating gradients of the mean loss) on one batch. */
  protected abstract runBatch(batch: Example[], training: boolean, context: TrainContext | null): Promise<BatchResult>;

  /** Forward and backward on one batch; accumulates gradients of the mean loss. */
  trainBatch(batch: Example[], context: TrainContext): Promise<BatchResult> {
    return this.lock.batch(() => this.runBatch(batch, true, context));
  }

  /** Forward only: summed loss and count. */
  evaluateBatch(batch: Example[]): Promise<BatchResult> {
    return this.lock.batch(() => this.runBatch(batch, false, null));
  }

  /** Trains on `data` (see FitOptions); resolves with the per-epoch history. */
  fit(data: readonly Example[], options: FitOptions<Example> = {}): Promise<FitHistory> {
    return fit(this, data, options);
  }

  /** Mean loss over `data` (per token, sequence or value, as in training). */
  async evaluate(data: readonly Example[], options: { batchSize?: number } = {}): Promise<number> {
    const o = checkObject('options', options);
    const batchSize = o.batchSize === undefined ? 64 : checkPositiveInteger('batchSize', o.batchSize, 1e6);
    this.checkExamples(data, 'data');
    if (data.length === 0) throw valueError('data: expected at least one example');
    return this.exclusive(() => evaluateLoss(this, data, batchSize));
  }

  /** Saves config and weights in one safetensors file, atomically; `extra` metadata travels along. */
  save(path: string, extra: Record<string, string> = {}): void {
    writeModelFile(path, { kind: this.kind, config: this.config(), tensors: this.stateDict() }, extra);
  }

  get numParameters(): number {
    return this.parameters.length;
  }

  /**
   * Frees the native memory of its recurrent layers now rather than at garbage collection; every later
   * use of the model or of its layers throws ERR_RNNKIT_DISPOSED. Refused while it trains; harmless twice.
   */
  dispose(): void {
    if (this.lock.isDisposed) return;
    this.lock.assertAccess();
    for (const [, m] of this.modules) (m as ParameterModule & { dispose?: () => void }).dispose?.();
    this.lock.markDisposed();
  }

  zeroGrad(): void {
    this.lock.assertAccess();
    this.lock.busy.assertIdle();
    this.gradients.fill(0);
  }

  /** zeroGrad on a native worker thread; the model's layers are busy meanwhile. */
  async zeroGradAsync(): Promise<void> {
    this.lock.assertAccess();
    this.lock.busy.assertIdle();
    await this.lock.busy.track(native.zeroAsync(this.gradients));
  }

  /** All parameters under `module.name` keys (PyTorch-style dotted names). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [prefix, m] of this.modules) {
      for (const [name, t] of Object.entries(m.stateDict())) out[`${prefix}.${name}`] = t;
    }
    return out;
  }

  /** Loads all parameters; every key and shape is checked before anything changes. */
  loadStateDict(dict: Record<string, Tensor>): void {
    // Refuse before touching anything: while the model trains, the restore below would write a stale
    // copy over weights an optimizer thread is updating.
    this.lock.assertAccess();
    const d = checkObject('stateDict', dict);
    const parts = this.modules.map(([prefix, m]) => {
      const sub: Record<string, Tensor> = {};
      for (const [name] of m.parameterShapes()) {
        const key = `${prefix}.${name}`;
        if (key in d) sub[name] = d[key] as Tensor;
      }
      return [m, sub] as const;
    });
    const known = new Set(this.modules.flatMap(([prefix, m]) => m.parameterShapes().map(([n]) => `${prefix}.${n}`)));
    const unexpected = Object.keys(d).filter((k) => !known.has(k));
    if (unexpected.length > 0) {
      throw Object.assign(new RangeError(`stateDict: unexpected keys ${unexpected.slice(0, 5).join(', ')}`),
        { code: 'ERR_RNNKIT_SHAPE' });
    }
    // Validate every module's part first (loadStateDict checks before writing; a staging copy keeps it atomic).
    const staging = this.parameters.slice();
    try {
      for (const [m, sub] of parts) m.loadStateDict(sub);
    } catch (error) {
      this.parameters.set(staging);
      throw error;
    }
  }

  /** Named parameter shapes, for inspection. */
  parameterShapes(): Array<[string, number[]]> {
    return this.modules.flatMap(([prefix, m]) => m.parameterShapes().map(([n, s]) => [`${prefix}.${n}`, s] as [string, number[]]));
  }

  /** Number of parameters per submodule. */
  summary(): Array<{ module: string; parameters: number }> {
    return this.modules.map(([prefix, m]) => ({ module: prefix, parameters: m.parameterShapes().reduce((n, [, s]) => n + elementCount(s), 0) }));
  }

  /** Marks the model busy for one async operation (training, evaluation); overlapping calls are refused. */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.lock.run(work);
  }

  /** Runs an inference on the JS thread; refused while the model trains or an async inference runs. */
  protected infer<T>(work: Inference<T>): T {
    this.lock.assertAccess();
    return runSync(work);
  }

  /**
   * Runs an inference on native worker threads. A model's async inferences queue and run one after
   * another (their layers share step workspaces); one made while the model trains is refused, except
   * from inside the training's own callbacks.
   */
  protected inferAsync<T>(work: () => Inference<T>): Promise<T> {
    return this.lock.queue(() => runAsync(work()));
  }
}
