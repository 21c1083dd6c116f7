// The `rnnkit` command line: list the built-in tasks, train one on real data
// shipped in npm packages, evaluate a saved model (same metrics, exactly),
// predict and generate with it. Argument parsing is commander's; every error
// ends as one line on stderr and a non-zero exit, never a stack trace
// (RNNKIT_DEBUG=1 prints it).

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { getNumThreads, setNumThreads } from '../threads';
import { formatDuration, parseDuration } from './duration';
import { formatMetric, metricValues, type Metric } from './metrics';
import { exportCommand, type ExportCliOptions } from './export-command';
import { loadRun, MODEL_FILE, saveRun, type SavedRun } from './model-store';
import { lossCurveSvg, writePicture } from './pictures';
import { Progress } from './progress';
import { TASKS, findTask } from './tasks';
import { UsageError, type AnyTask, type GenerateOptions, type Output, type Prepared, type Settings, type TaskOption } from './tasks/task';
import { trainModel } from './trainer';
import { joinWorkers, perWorkerBatch, threadsPerWorker } from './workers';
import { evaluateLoss } from '../train/fit';
import type { SequenceModel } from '../structures/sequence-model';

// ---------------------------------------------------------------------------
// Option parsers: each throws InvalidArgumentError, which commander prints as
// "error: option '--x <n>' argument 'v' is invalid. <why>".

function positiveInt(max = 1e9) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`expected an integer from 1 to ${max}.`);
    }
    return n;
  };
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected an integer >= 0.');
  return n;
}

function numberIn(low: number, high: number, openLow = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n > high || (openLow ? n <= low : n < low)) {
      throw new InvalidArgumentError(`expected a number ${openLow ? '>' : '>='} ${low} and <= ${high}.`);
    }
    return n;
  };
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === null || !(ms > 0)) throw new InvalidArgumentError('expected a duration such as 90s, 3m, 1m30s or 1h.');
  return ms;
}

// ---------------------------------------------------------------------------
// Output helpers.

interface CommonOptions {
  json?: boolean;
  quiet?: boolean;
  threads?: number;
}

/** Human text goes to stdout; with --json it goes to stderr so stdout holds only the JSON. */
function sayer(o: CommonOptions): (line?: string) => void {
  return (line = '') => {
    if (o.quiet) return;
    if (o.json) process.stderr.write(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  };
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function metricsTable(metrics: readonly Metric[]): string[] {
  const w = Math.max(6, ...metrics.map((m) => m.label.length));
  const lines = [`${'metric'.padEnd(w)}  value`, `${'-'.repeat(w)}  ${'-'.repeat(10)}`];
  for (const m of metrics) lines.push(`${m.label.padEnd(w)}  ${formatMetric(m)}`);
  return lines;
}

function applyThreads(threads: number | undefined): void {
  if (threads !== undefined) setNumThreads(threads);
}

function taskOrThrow(name: string): AnyTask {
  const task = findTask(name);
  if (!task) {
    throw new UsageError(`unknown task '${name}'. Available tasks: ${TASKS.map((t) => t.name).join(', ')} (see 'rnnkit tasks')`);
  }
  return task;
}

// ---------------------------------------------------------------------------
// Commands.

function defaultsOf(t: AnyTask): Settings {
  return { ...t.defaults, ...(t.defaultsFor?.(t.defaults.budgetMs, t.defaults.epochs) ?? {}) };
}

function listTasks(o: CommonOptions): void {
  if (o.json) {
    printJson(TASKS.map((t) => ({
      name: t.name, summary: t.summary, structure: t.structure, data: t.data, licence: t.licence, metrics: t.metricsInfo,
      defaults: defaultsOf(t),
    })));
    return;
  }
  const w = Math.max(...TASKS.map((t) => t.name.length));
  for (const t of TASKS) {
    const d = defaultsOf(t);
    const limits = [d.budgetMs !== undefined ? `budget ${formatDuration(d.budgetMs)}` : '', d.epochs !== undefined ? `${d.epochs} epochs` : '']
      .filter(Boolean).join(' or ');
    console.log(`${t.name.padEnd(w)}  ${t.summary}`);
    console.log(`${''.padEnd(w)}  model:   ${t.structure}; default ${d.cell.toUpperCase()} ${d.hidden}, ${limits}`);
    console.log(`${''.padEnd(w)}  data:    ${t.data} (${t.licence})`);
    console.log(`${''.padEnd(w)}  metrics: ${t.metricsInfo}`);
    console.log('');
  }
  console.log("Train one with 'rnnkit train <task>' (see 'rnnkit train --help').");
}

interface TrainOptions extends CommonOptions {
  epochs?: number;
  budget?: number;
  hidden?: number;
  cell?: Settings['cell'];
  attention?: Settings['attention'];
  conditioning?: Settings['conditioning'];
  embedding?: number;
  layers?: number;
  dropout?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  out?: string;
  evalSize?: number;
  evalBeam?: number;
  embeddingDropout?: number;
  encoderOutputDropout?: number;
  headDropout?: number;
  labelSmoothing?: number;
  weightDecay?: number;
  average?: number;
  segment?: number;
  pictures?: boolean;
}

function resolveSettings(task: AnyTask, o: TrainOptions): Settings {
  const applies = (flag: string, key: TaskOption, value: unknown) => {
    if (value !== undefined && !task.options.includes(key)) {
      const users = TASKS.filter((t) => t.options.includes(key)).map((t) => t.name).join(', ');
      throw new UsageError(`${flag} does not apply to task '${task.name}' (it applies to: ${users})`);
    }
  };
  applies('--attention', 'attention', o.attention);
  applies('--conditioning', 'conditioning', o.conditioning);
  applies('--eval-size', 'evalSize', o.evalSize);
  applies('--segment', 'segment', o.segment);
  applies('--eval-beam', 'evalBeam', o.evalBeam);
  applies('--embedding-dropout', 'structureDropout', o.embeddingDropout);
  applies('--encoder-output-dropout', 'structureDropout', o.encoderOutputDropout);
  applies('--head-dropout', 'structureDropout', o.headDropout);
  applies('--label-smoothing', 'labelSmoothing', o.labelSmoothing);
  const budget = o.budget ?? (o.epochs === undefined ? task.defaults.budgetMs : undefined);
  const epochs = o.epochs ?? (o.budget === undefined ? task.defaults.epochs : undefined);
  const d: Settings = { ...task.defaults, ...(task.defaultsFor?.(budget, epochs) ?? {}) };
  const s: Settings = {
    ...d,
    hidden: o.hidden ?? d.hidden,
    cell: o.cell ?? d.cell,
    embedding: o.embedding ?? d.embedding,
    layers: o.layers ?? d.layers,
    dropout: o.dropout ?? d.dropout,
    batchSize: o.batchSize ?? d.batchSize,
    lr: o.lr ?? d.lr,
    seed: o.seed ?? d.seed,
    attention: o.attention ?? d.attention,
    conditioning: o.conditioning ?? d.conditioning,
    evalSize: o.evalSize ?? d.evalSize,
    evalBeam: o.evalBeam ?? d.evalBeam,
    segment: o.segment ?? d.segment,
    weightDecay: o.weightDecay ?? d.weightDecay,
    labelSmoothing: o.labelSmoothing ?? d.labelSmoothing,
    average: o.average ?? d.average,
  };
  const structureDropout = {
    ...d.structureDropout,
    ...(o.embeddingDropout !== undefined ? { embedding: o.embeddingDropout } : {}),
    ...(o.encoderOutputDropout !== undefined ? { encoderOutput: o.encoderOutputDropout } : {}),
    ...(o.headDropout !== undefined ? { headInput: o.headDropout } : {}),
  };
  if (Object.values(structureDropout).some((p) => p > 0)) s.structureDropout = structureDropout;
  else delete s.structureDropout;
  if (o.dropout !== undefined && o.dropout > 0 && s.layers < 2) {
    throw new UsageError('--dropout acts between stacked layers: use it with --layers 2 or more');
  }
  if (s.layers < 2) s.dropout = 0;  // a default dropout means nothing for one layer
  // Stopping: what the user gave; the task's defaults when neither was given.
  if (o.epochs !== undefined || o.budget !== undefined) {
    s.epochs = o.epochs;
    s.budgetMs = o.budget;
  }
  if (s.epochs === undefined) delete s.epochs;
  if (s.budgetMs === undefined) delete s.budgetMs;
  for (const k of Object.keys(s) as Array<keyof Settings>) if (s[k] === undefined) delete s[k];
  return s;
}

async function train(taskName: string, o: TrainOptions): Promise<void> {
  const task = taskOrThrow(taskName);
  const settings = resolveSettings(task, o);
  // Under mpirun -np N: data-parallel, rank 0 reports, evaluates and saves; the others only train.
  const group = await joinWorkers();
  const leads = !group || group.rank === 0;
  if (group) perWorkerBatch(settings.batchSize, group.worldSize);
  applyThreads(o.threads ?? (group ? threadsPerWorker() : undefined));
  const say = leads ? sayer(o) : () => undefined;
  const out = resolve(o.out ?? join('runs', task.name));
  const modelPath = join(out, MODEL_FILE);

  const prepared = task.prepare(settings) as Prepared<unknown, unknown>;  // loads the data (it may be missing)
  mkdirSync(out, { recursive: true });
  let model: SequenceModel<unknown>;
  try {
    model = task.build(prepared, settings);
  } catch (error) {
    throw new UsageError(`cannot build the model: ${(error as Error).message}`);
  }
  const stop = [settings.budgetMs !== undefined ? `budget ${formatDuration(settings.budgetMs)}` : '',
    settings.epochs !== undefined ? `${settings.epochs} epochs` : ''].filter(Boolean).join(' or ');
  say(`task ${task.name}: ${task.summary}`);
  for (const line of prepared.summary) say(`  ${line}`);
  say(`model: ${task.structure}`);
  say(`  ${settings.cell.toUpperCase()} hidden ${settings.hidden}` +
    (task.options.includes('attention') ? `, attention ${settings.attention}` : '') +
    (task.options.includes('conditioning') ? `, conditioning ${settings.conditioning}` : '') +
    `, ${model.numParameters} parameters; ${settings.weightDecay ? `AdamW (weight decay ${settings.weightDecay})` : 'Adam'} lr ${settings.lr}` +
    (settings.average ? `, weight average decay ${settings.average}` : '') +
    (settings.structureDropout ? `, dropout ${Object.entries(settings.structureDropout).map(([k, p]) => `${k} ${p}`).join(' ')}` : '') +
    `, batch ${settings.batchSize}, seed ${settings.seed}, ` +
    `${getNumThreads()} BLAS threads; stops at ${stop}`);
  if (group) say(`  data-parallel: ${group.worldSize} workers (mpirun), batch ${settings.batchSize / group.worldSize} each`);

  const progress = new Progress(Progress.modeFor(!!o.json, !!o.quiet || !leads), `train ${task.name}`);
  const result = await trainModel(model, prepared.train, {
    epochs: settings.epochs, budgetMs: settings.budgetMs, batchSize: settings.batchSize, lr: settings.lr,
    minLrFraction: 0.05, warmupSteps: 50, clipNorm: settings.clipNorm, seed: settings.seed, validationPoints: 12,
    weightDecay: settings.weightDecay, averageDecay: settings.average, distributed: group ?? undefined,
  }, () => evaluateLoss(model, prepared.validation, 64), progress);
  if (!leads) {
    await group!.close();
    return;
  }
  say(`trained ${formatDuration(result.seconds * 1000)}: ${result.sequences} sequences (${result.epochs.toFixed(2)} epochs, ` +
    `${result.steps} steps, ${(result.sequences / result.seconds).toFixed(0)} seq/s), stopped by ${result.stoppedBy}; ` +
    `kept the weights of the best validation loss ${result.best.validation.toFixed(4)} (at ${formatDuration(result.best.seconds * 1000)})`);

  say('evaluating on the held-out test split...');
  const evalStart = Date.now();
  const metrics = await task.evaluate(model, prepared, settings);
  const run: SavedRun = {
    task: task.name, settings, state: prepared.state, metrics: metricValues(metrics), history: result.history,
    training: {
      seconds: result.seconds, sequences: result.sequences, steps: result.steps, epochs: result.epochs,
      stoppedBy: result.stoppedBy, threads: getNumThreads(),
      bestAt: { seconds: result.best.seconds, epochs: result.best.epochs, validation: result.best.validation },
    },
  };
  saveRun(modelPath, model, run);
  await group?.close();
  const examples = (await task.showcase?.(model, prepared, settings)) ?? [];
  const pictures = o.pictures === false ? [] : await writePictures(task, model, prepared, settings, run, out);

  if (o.json) {
    printJson({ task: task.name, model: modelPath, settings, training: run.training, metrics: run.metrics, examples, pictures });
    return;
  }
  say(`evaluated in ${formatDuration(Date.now() - evalStart)}`);
  say();
  for (const line of metricsTable(metrics)) say(line);
  if (examples.length) {
    say();
    say('examples:');
    for (const line of examples) say(`  ${line}`);
  }
  say();
  say(`model saved to ${modelPath}`);
  if (pictures.length) say(`pictures: ${pictures.join(', ')}`);
  say(`evaluate it again with: rnnkit eval ${modelPath}`);
}

async function writePictures(task: AnyTask, model: SequenceModel<unknown>, prepared: Prepared<unknown, unknown>,
  settings: Settings, run: SavedRun, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files = run.history.length > 0
    ? writePicture(join(dir, 'loss.svg'), lossCurveSvg(run.history, { title: `${task.name}: training and validation loss`, yLabel: task.lossLabel }))
    : [];
  return [...files, ...((await task.pictures?.(model, prepared, settings, dir)) ?? [])];
}

interface EvalOptions extends CommonOptions {
  out?: string;
}

async function evaluate(modelArg: string, o: EvalOptions): Promise<void> {
  const { path, model, run } = loadRun(modelArg);
  const task = taskOrThrow(run.task);
  applyThreads(o.threads ?? run.training?.threads);
  const say = sayer(o);
  say(`model ${path}: task ${task.name}, ${model.kind}, ${model.numParameters} parameters`);
  const prepared = task.prepare(run.settings, run.state) as Prepared<unknown, unknown>;
  const metrics = await task.evaluate(model, prepared, run.settings);
  const now = metricValues(metrics);
  const differing = Object.keys(now).filter((k) => run.metrics[k] !== now[k]);
  const matches = differing.length === 0 && Object.keys(run.metrics).length === Object.keys(now).length;
  const examples = (await task.showcase?.(model, prepared, run.settings)) ?? [];
  const pictures = o.out ? await writePictures(task, model, prepared, run.settings, run, resolve(o.out)) : [];
  if (o.json) {
    printJson({ task: task.name, model: path, metrics: now, savedMetrics: run.metrics, matchesSaved: matches, examples, pictures });
    return;
  }
  say();
  for (const line of metricsTable(metrics)) say(line);
  say();
  say(matches ? 'identical to the metrics saved at training time'
    : `differs from the metrics saved at training time in: ${differing.join(', ') || 'the set of metrics'}`);
  if (examples.length) {
    say();
    say('examples:');
    for (const line of examples) say(`  ${line}`);
  }
  if (pictures.length) say(`pictures: ${pictures.join(', ')}`);
}

interface PredictCliOptions extends CommonOptions {
  beam?: number;
  pictures?: string;
}

function printOutputs(outputs: Output[], o: CommonOptions, extra: Record<string, unknown>): void {
  if (o.json) printJson({ ...extra, outputs: outputs.map((x) => x.json) });
  else for (const x of outputs) console.log(x.text);
}

async function predict(modelArg: string, inputs: string[], o: PredictCliOptions): Promise<void> {
  const { model, run } = loadRun(modelArg);
  const task = taskOrThrow(run.task);
  if (!task.predict) throw new UsageError(`task '${task.name}' has no predict; try 'rnnkit generate ${modelArg}'`);
  applyThreads(o.threads ?? run.training?.threads);
  if (o.beam !== undefined && task.name !== 'g2p') throw new UsageError('--beam applies to g2p models only');
  if (o.pictures !== undefined && task.name !== 'g2p') throw new UsageError('--pictures applies to g2p models only (attention heatmaps)');
  if (o.pictures) mkdirSync(resolve(o.pictures), { recursive: true });
  const outputs = await task.predict(model, run.state, run.settings, inputs, { beam: o.beam, picturesDir: o.pictures && resolve(o.pictures) });
  printOutputs(outputs, o, { task: task.name });
}

/** `generate`'s flags: the common ones and what a task's generate() takes. */
interface GenerateCliOptions extends CommonOptions, GenerateOptions {}

async function generate(modelArg: string, o: GenerateCliOptions): Promise<void> {
  const { model, run } = loadRun(modelArg);
  const task = taskOrThrow(run.task);
  if (!task.generate) {
    const which = TASKS.filter((t) => t.generate).map((t) => t.name).join(' and ');
    throw new UsageError(`task '${task.name}' does not generate (${which} models do); try 'rnnkit predict ${modelArg} <${task.predictInput ?? 'input'}…>'`);
  }
  if (o.gender !== undefined && task.name !== 'names-generate') throw new UsageError('--gender applies to names-generate models only');
  if (o.prompt !== undefined && task.name !== 'moby') throw new UsageError('--prompt applies to moby models only');
  applyThreads(o.threads ?? run.training?.threads);
  const outputs = task.generate(model, run.state, run.settings, {
    count: o.count, temperature: o.temperature, seed: o.seed, length: o.length, prompt: o.prompt, gender: o.gender,
  });
  printOutputs(outputs, o, { task: task.name });
}

// ---------------------------------------------------------------------------
// The program.

function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print machine-readable JSON on stdout (progress as plain lines on stderr)')
    .option('--threads <n>', 'BLAS threads (setNumThreads); default: the library default for train, the training count otherwise', positiveInt(256));
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('rnnkit')
    .description('Train and run recurrent networks (rnnkit) on built-in tasks with real data shipped in npm packages.')
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.startsWith('error:') ? `rnnkit: ${text}` : text) });
  program.addHelpText('after', `
Examples:
  rnnkit tasks
  rnnkit train g2p --budget 3m              spelling -> phonemes, ~3 minutes
  rnnkit eval runs/g2p                      reload, recompute the held-out metrics
  rnnkit predict runs/g2p rnnkit recurrent
  rnnkit train names-generate --conditioning first-step
  rnnkit generate runs/names-generate --gender female --count 10
  rnnkit export runs/g2p g2p.onnx           ONNX graphs for onnxruntime: g2p.encoder.onnx, g2p.decoder.onnx`);

  common(program.command('tasks').description('list the built-in tasks, their data and licences'))
    .action((o: CommonOptions) => listTasks(o));

  const cells = ['rnn', 'gru', 'lstm'];
  common(program.command('train').argument('<task>', `one of: ${TASKS.map((t) => t.name).join(', ')}`)
    .description('train a task\'s model, evaluate it on held-out data, save it and write pictures'))
    .option('--epochs <n>', 'passes over the training data (with --budget: whichever ends first)', positiveInt(1e6))
    .option('--budget <time>', 'training time budget, e.g. 90s, 3m, 1h (with --epochs: whichever ends first)', duration)
    .option('--hidden <n>', 'hidden size of the recurrent layers', positiveInt(8192))
    .addOption(new Option('--cell <cell>', 'recurrent cell').choices(cells))
    .addOption(new Option('--attention <kind>', 'g2p: attention of the decoder').choices(['bahdanau', 'luong-dot', 'luong-general', 'none']))
    .addOption(new Option('--conditioning <mode>', 'names-generate: how the gender enters').choices(['every-step', 'first-step']))
    .option('--embedding <n>', 'embedding size of tokens', positiveInt(4096))
    .option('--layers <n>', 'stacked recurrent layers', positiveInt(16))
    .option('--dropout <p>', 'dropout between stacked layers, in [0, 1)', numberIn(0, 0.95))
    .option('--batch-size <n>', 'sequences per batch', positiveInt(65536))
    .option('--lr <rate>', 'peak learning rate of Adam (cosine decay to 5%)', numberIn(0, 1, true))
    .option('--seed <n>', 'seed of initialisation and data order', nonNegativeInt)
    .option('--eval-size <n>', 'g2p: held-out words scored (a fixed sample of the test split; default all of it)', positiveInt(1e6))
    .option('--eval-beam <width>', 'g2p: also score beam search of this width (1: greedy only; default 5)', positiveInt(100))
    .option('--embedding-dropout <p>', 'g2p: dropout on the token embeddings, in [0, 1)', numberIn(0, 0.95))
    .option('--encoder-output-dropout <p>', 'g2p: dropout on the encoder outputs (attention memory and context), in [0, 1)', numberIn(0, 0.95))
    .option('--head-dropout <p>', "g2p: dropout on the output head's input, in [0, 1)", numberIn(0, 0.95))
    .option('--label-smoothing <e>', 'g2p: label smoothing of the cross-entropy, in [0, 1) (default 0.1)', numberIn(0, 0.95))
    .option('--weight-decay <w>', 'AdamW with this decoupled weight decay (default 0: Adam)', numberIn(0, 1))
    .option('--average <decay>', 'keep a moving average of the weights with this decay (e.g. 0.999) and use it', numberIn(0, 0.99999, true))
    .option('--segment <n>', 'moby: characters per training sequence', positiveInt(100000))
    .option('--out <dir>', 'output folder for the model and pictures (default: ./runs/<task>)')
    .option('--no-pictures', 'do not write the loss curve and heatmaps')
    .option('--quiet', 'print nothing but errors (and --json output)')
    .addHelpText('after', `
Defaults per task: see 'rnnkit tasks'. Without --epochs and --budget, the task's default limits apply.
The budget counts training (with its periodic validation), not data loading or the final evaluation.
Ctrl-C stops training early; the model is still evaluated and saved.`)
    .action((task: string, o: TrainOptions) => train(task, o));

  common(program.command('eval').argument('<model>', `a model file or a folder with ${MODEL_FILE}`)
    .description('reload a trained model and recompute its held-out metrics (they match the saved ones exactly)'))
    .option('--out <dir>', 'also write the pictures (loss curve, attention heatmaps) into this folder')
    .action((model: string, o: EvalOptions) => evaluate(model, o));

  common(program.command('predict').argument('<model>', `a model file or a folder with ${MODEL_FILE}`)
    .argument('<input...>', 'g2p: words; names-gender: names; births: dates YYYY-MM-DD; moby: text to continue')
    .description('run a trained model on inputs given on the command line'))
    .option('--beam <width>', 'g2p: beam search of this width instead of greedy decoding', positiveInt(100))
    .option('--pictures <dir>', 'g2p: write attention heatmaps of the inputs into this folder')
    .action((model: string, inputs: string[], o: PredictCliOptions) => predict(model, inputs, o));

  common(program.command('generate').argument('<model>', `a model file or a folder with ${MODEL_FILE}`)
    .description('sample from a generative model: names-generate (names) or moby (text)'))
    .option('--count <n>', 'how many samples (per gender for names)', positiveInt(10000), 5)
    .option('--temperature <t>', 'sampling temperature (lower: safer, higher: wilder)', numberIn(0, 10, true), 0.8)
    .option('--seed <n>', 'seed of sampling', nonNegativeInt, 1)
    .option('--length <n>', 'most symbols per sample', positiveInt(100000))
    .option('--prompt <text>', 'moby: text to start from')
    .option('--gender <gender>', 'names-generate: female or male (default both)')
    .action((model: string, o: GenerateCliOptions) => generate(model, o));

  program.command('export').argument('<model>', `a model file or a folder with ${MODEL_FILE}`)
    .argument('<output>', 'the ONNX file; a model with several graphs writes <output stem>.<graph>.onnx for each')
    .description('write the model as ONNX (opset 14) for onnxruntime: one graph, or an encoder/start graph and one decoder step')
    .addOption(new Option('--graph <name>', 'write only this graph, to <output>').choices(['sequence', 'step', 'start', 'encoder', 'decoder']))
    .option('--json', 'print the files written as JSON on stdout')
    .option('--quiet', 'print nothing but errors (and --json output)')
    .action((model: string, output: string, o: ExportCliOptions) => exportCommand(model, output, o, sayer(o), printJson));

  return program;
}

/** Runs the CLI; resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; parse errors were already printed by commander.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`rnnkit: error: ${error.message}\n`);
      return error.exitCode;
    }
    const e = error as Error & { code?: string };
    process.stderr.write(`rnnkit: error: ${e?.message ?? String(error)}${e?.code ? ` (${e.code})` : ''}\n`);
    if (process.env.RNNKIT_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return 1;
  }
}

if (require.main === module) {
  run(process.argv).then((code) => { process.exitCode = code; });
}
