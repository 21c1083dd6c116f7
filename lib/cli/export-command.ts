// `rnnkit export MODEL OUT.onnx`: a saved model (a run folder or any rnnkit
// model file) as ONNX graphs for onnxruntime, with the run's task, settings
// and vocabularies copied into each file's metadata_props.

import { resolve } from 'node:path';
import { exportOnnx, onnxGraphs, type Exportable, type OnnxGraphName } from '../io/onnx/export';
import { loadModel } from '../io/model-file';
import { resolveModelPath } from './model-store';
import { UsageError } from './tasks/task';

export interface ExportCliOptions {
  graph?: OnnxGraphName;
  json?: boolean;
  quiet?: boolean;
}

/** What a host needs besides the graphs: how tokens map to ids, and what the task was. */
const CARRIED_METADATA = ['rnnkit.task', 'rnnkit.settings', 'rnnkit.vocab'];

export function exportCommand(modelArg: string, outArg: string, o: ExportCliOptions,
  say: (line?: string) => void, printJson: (value: unknown) => void): void {
  const path = resolveModelPath(modelArg);
  let loaded;
  try {
    loaded = loadModel(path);
  } catch (error) {
    throw new UsageError(`cannot load ${path}: ${(error as Error).message}`, 1);
  }
  const model = loaded.model as unknown as Exportable;
  const graphs = onnxGraphs(model);
  if (o.graph !== undefined && !graphs.includes(o.graph)) {
    throw new UsageError(`--graph ${o.graph}: a ${loaded.model.kind} model has the graphs ${graphs.join(', ')}`);
  }
  const metadata = Object.fromEntries(CARRIED_METADATA.filter((k) => loaded.metadata[k] !== undefined).map((k) => [k, loaded.metadata[k]]));
  const files = exportOnnx(model, resolve(outArg), { graph: o.graph, metadata });
  if (o.json) {
    printJson({ model: path, kind: loaded.model.kind, files });
    return;
  }
  say(`model ${path}: ${loaded.model.kind}, ${loaded.model.numParameters} parameters`);
  for (const [graph, file] of Object.entries(files)) say(`wrote ${file} (graph '${graph}')`);
}
