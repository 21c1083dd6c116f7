// exportOnnx / encodeOnnx: rnnkit layers and structures as ONNX models that
// onnxruntime runs with rnnkit's numbers. Which graphs a model kind has, and
// the refusal of what has no ONNX form, live here; the graphs are built by
// layer-graph.ts, sequence-graphs.ts and decoder-graphs.ts.

import * as path from 'node:path';
import { checkObject, describe } from '../../check';
import { RnnkitError, typeError, valueError } from '../../errors';
import { Recurrent } from '../../layers/recurrent';
import { EncoderDecoder } from '../../structures/encoder-decoder';
import { ManyToMany } from '../../structures/many-to-many';
import { ManyToOne } from '../../structures/many-to-one';
import { OneToMany } from '../../structures/one-to-many';
import { writeFileAtomically } from '../atomic-write';
import { decoderStepGraph, encoderGraph, oneToManyStartGraph, oneToManyStepGraph } from './decoder-graphs';
import type { GraphBuilder } from './graph-builder';
import { layerGraph } from './layer-graph';
import { checkExportable } from './recurrent-nodes';
import { manyToManyGraph, manyToManyStepGraph, manyToOneGraph } from './sequence-graphs';

/**
 * 'sequence': a whole (padded) batch of sequences (layers, ManyToOne, ManyToMany); 'step': one step
 * with the state in and out (ManyToMany streaming, OneToMany decoding); 'start': OneToMany's initial
 * decoder state; 'encoder' and 'decoder': EncoderDecoder's encoder and one decoder step.
 */
export type OnnxGraphName = 'sequence' | 'step' | 'start' | 'encoder' | 'decoder';

export interface OnnxExportOptions {
  /** Which graph (default: every graph of the model for exportOnnx, the first for encodeOnnx). */
  graph?: OnnxGraphName;
  /** Strings stored in the ONNX file's metadata_props (e.g. vocabularies). */
  metadata?: Record<string, string>;
}

export type Exportable = Recurrent | ManyToOne | ManyToMany | OneToMany | EncoderDecoder;

const EXPORTABLE = 'RNN, GRU, LSTM, ManyToOne, ManyToMany, OneToMany and EncoderDecoder';

/** The graphs `model` exports, in order (the first is encodeOnnx's default). */
export function onnxGraphs(model: Exportable): OnnxGraphName[] {
  return Object.keys(buildersOf(model)) as OnnxGraphName[];
}

/** One graph of `model` as the bytes of an ONNX file (opset 14), e.g. for InferenceSession.create(bytes). */
export function encodeOnnx(model: Exportable, options: OnnxExportOptions = {}): Uint8Array {
  const o = checkOptions(options);
  const builders = buildersOf(model);
  const graph = o.graph ?? (Object.keys(builders)[0] as OnnxGraphName);
  return encodeGraph(model, builders, graph, o.metadata);
}

/**
 * Writes `model` as ONNX, atomically. A model with one graph, or `options.graph`, goes to `filePath`;
 * otherwise each graph goes beside it as `<name>.<graph>.onnx` (model.onnx -> model.encoder.onnx,
 * model.decoder.onnx). Every graph is built before any file is written. Returns graph -> file.
 */
export function exportOnnx(model: Exportable, filePath: string, options: OnnxExportOptions = {}): Partial<Record<OnnxGraphName, string>> {
  if (typeof filePath !== 'string' || filePath === '') throw typeError(`path: expected a non-empty string, got ${describe(filePath)}`);
  const o = checkOptions(options);
  const builders = buildersOf(model);
  const graphs = o.graph ? [o.graph] : Object.keys(builders) as OnnxGraphName[];
  const files = graphs.map((graph) => ({
    graph,
    file: graphs.length === 1 ? filePath : siblingPath(filePath, graph),
    bytes: encodeGraph(model, builders, graph, o.metadata),
  }));
  for (const f of files) writeFileAtomically(f.file, f.bytes);
  return Object.fromEntries(files.map((f) => [f.graph, f.file]));
}

function siblingPath(filePath: string, graph: string): string {
  const ext = path.extname(filePath);
  const stem = ext === '.onnx' ? filePath.slice(0, -ext.length) : filePath;
  return `${stem}.${graph}.onnx`;
}

type Builders = Partial<Record<OnnxGraphName, () => GraphBuilder>>;

function buildersOf(model: Exportable): Builders {
  for (const [where, rnn] of recurrentStacks(model)) checkExportable(rnn, where);
  if (model instanceof Recurrent) return { sequence: () => layerGraph(model) };
  if (model instanceof ManyToOne) return { sequence: () => manyToOneGraph(model) };
  if (model instanceof ManyToMany) {
    // A bidirectional stack reads each sequence from both ends: it has no one-step form.
    return model.encoder.rnn.bidirectional
      ? { sequence: () => manyToManyGraph(model) }
      : { sequence: () => manyToManyGraph(model), step: () => manyToManyStepGraph(model) };
  }
  if (model instanceof OneToMany) return { start: () => oneToManyStartGraph(model), step: () => oneToManyStepGraph(model) };
  if (model instanceof EncoderDecoder) return { encoder: () => encoderGraph(model), decoder: () => decoderStepGraph(model) };
  if (typeof model !== 'object' || model === null) throw typeError(`model: expected an rnnkit layer or structure, got ${describe(model)}`);
  const name = (model as object).constructor?.name ?? 'this object';
  throw new RnnkitError(`model: ${name} cannot be exported to ONNX; exportable are ${EXPORTABLE} ` +
    '(a cell or a building block runs inside one of them)', 'ERR_RNNKIT_UNSUPPORTED');
}

/** The recurrent stacks of a model, with their places in it (a layer alone: ''). */
function recurrentStacks(model: Exportable): Array<[string, Recurrent<'float32' | 'float64'>]> {
  if (model instanceof Recurrent) return [['', model as Recurrent<'float32' | 'float64'>]];
  if (model instanceof ManyToOne || model instanceof ManyToMany) return [['encoder.rnn', model.encoder.rnn]];
  if (model instanceof OneToMany) return [['decoder.rnn', model.decoder.rnn]];
  if (model instanceof EncoderDecoder) {
    const decoder = (model.decoder as { rnn?: unknown }).rnn;
    return [['encoder.rnn', model.encoder.rnn], ...(decoder instanceof Recurrent ? [['decoder.rnn', decoder] as [string, Recurrent]] : [])];
  }
  return [];
}

function encodeGraph(model: Exportable, builders: Builders, graph: OnnxGraphName, metadata?: Record<string, string>): Uint8Array {
  const build = builders[graph];
  if (!build) {
    const kind = model.constructor.name;
    const why = graph === 'step' && model instanceof ManyToMany ? ' (a bidirectional model needs the whole sequence at once)' : '';
    throw new RnnkitError(`options.graph: ${kind} has no '${graph}' graph${why}; it has ${Object.keys(builders).map((k) => `'${k}'`).join(', ')}`,
      'ERR_RNNKIT_UNSUPPORTED');
  }
  const kind = model.constructor.name;
  return build().encode(`rnnkit ${kind}, graph '${graph}'`, { 'rnnkit.kind': kind, 'rnnkit.graph': graph, ...metadata });
}

const GRAPHS: readonly string[] = ['sequence', 'step', 'start', 'encoder', 'decoder'];

function checkOptions(options: OnnxExportOptions): OnnxExportOptions {
  const o = checkObject('options', options);
  if (o.graph !== undefined && !(typeof o.graph === 'string' && GRAPHS.includes(o.graph))) {
    throw valueError(`options.graph: expected one of ${GRAPHS.map((g) => `'${g}'`).join(', ')}, got ${describe(o.graph)}`);
  }
  if (o.metadata !== undefined) {
    const m = checkObject('options.metadata', o.metadata);
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') throw typeError(`options.metadata.${k}: expected a string, got ${describe(v)}`);
    }
  }
  return o as OnnxExportOptions;
}
