// Whole models in one safetensors file: weights under dotted names, the
// structure's kind and config in __metadata__, so loadModel rebuilds it.

import { RnnkitFormatError } from '../errors';
import { EncoderDecoder } from '../structures/encoder-decoder';
import { ManyToMany } from '../structures/many-to-many';
import { ManyToOne } from '../structures/many-to-one';
import { OneToMany } from '../structures/one-to-many';
import type { SequenceModel } from '../structures/sequence-model';
import { withParameterBudget } from '../layers/allocation';
import { MODEL_FORMAT } from './model-format';
import { loadSafetensors } from './safetensors';


// eslint-disable-next-line @typescript-eslint/no-explicit-any
const KINDS: Record<string, (config: any) => SequenceModel<unknown>> = {
  ManyToMany: (c) => new ManyToMany(c) as SequenceModel<unknown>,
  ManyToOne: (c) => new ManyToOne(c) as SequenceModel<unknown>,
  OneToMany: (c) => new OneToMany(c) as SequenceModel<unknown>,
  EncoderDecoder: (c) => new EncoderDecoder(c) as SequenceModel<unknown>,
};

/** Rebuilds a model saved by model.save(); returns it with the file's metadata. */
export function loadModel<M extends SequenceModel<unknown> = SequenceModel<unknown>>(pathOrBuffer: string | Uint8Array): {
  model: M; metadata: Record<string, string>;
} {
  const { tensors, metadata } = loadSafetensors(pathOrBuffer);
  const where = typeof pathOrBuffer === 'string' ? pathOrBuffer : 'buffer';
  if (metadata.format !== MODEL_FORMAT) throw new RnnkitFormatError(`${where}: not an rnnkit model (format '${metadata.format}')`);
  // Own keys only: a kind of 'constructor' or '__proto__' must not reach Object's members.
  const make = Object.hasOwn(KINDS, metadata.kind) ? KINDS[metadata.kind] : undefined;
  if (!make) throw new RnnkitFormatError(`${where}: unknown model kind '${metadata.kind}'`);
  let config: unknown;
  try {
    config = JSON.parse(metadata.config);
  } catch (error) {
    throw new RnnkitFormatError(`${where}: the model config is not valid JSON`, { cause: error });
  }
  // Each module may hold at most what the file holds: a hostile config cannot allocate more.
  const fileElements = Object.values(tensors).reduce((n, t) => n + t.data.length, 0);
  const model = withParameterBudget(fileElements, () => make(config));
  model.loadStateDict(tensors);
  return { model: model as M, metadata };
}
