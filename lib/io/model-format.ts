// The layout of whole-model files: a safetensors file whose weights sit under
// dotted names and whose __metadata__ holds the format tag, the structure's
// kind and its config (JSON). Models write themselves through writeModelFile
// without importing any structure; model-file.ts reads the kind and rebuilds.

import { RnnkitFormatError } from '../errors';
import type { Tensor } from '../tensor';
import { loadSafetensors, saveSafetensors } from './safetensors';

export const MODEL_FORMAT = 'rnnkit-model';

export interface ModelFileContents {
  kind: string;
  config: unknown;
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Writes atomically; `extra` metadata travels along (its format, kind and config keys are overwritten). */
export function writeModelFile(path: string, model: { kind: string; config: Record<string, unknown>; tensors: Record<string, Tensor> },
  extra: Record<string, string> = {}): void {
  saveSafetensors(path, model.tensors, { ...extra, format: MODEL_FORMAT, kind: model.kind, config: JSON.stringify(model.config) });
}

/** Reads and checks the format tag and the config's JSON; the kind is checked by the caller. */
export function readModelFile(pathOrBuffer: string | Uint8Array): ModelFileContents {
  const { tensors, metadata } = loadSafetensors(pathOrBuffer);
  const where = typeof pathOrBuffer === 'string' ? pathOrBuffer : 'buffer';
  if (metadata.format !== MODEL_FORMAT) throw new RnnkitFormatError(`${where}: not an rnnkit model (format '${metadata.format}')`);
  let config: unknown;
  try {
    config = JSON.parse(metadata.config);
  } catch (error) {
    throw new RnnkitFormatError(`${where}: the model config is not valid JSON`, { cause: error });
  }
  return { kind: metadata.kind, config, tensors, metadata };
}
