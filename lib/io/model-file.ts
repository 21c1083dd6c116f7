// Loading whole models: the file's kind picks the structure, its config
// rebuilds it, its weights fill it (the file layout is in model-format.ts).
// This sits above the structures; they save through model-format.ts alone.

import { RnnkitFormatError } from '../errors';
import { EncoderDecoder } from '../structures/encoder-decoder';
import { ManyToMany } from '../structures/many-to-many';
import { ManyToOne } from '../structures/many-to-one';
import { OneToMany } from '../structures/one-to-many';
import type { SequenceModel } from '../structures/sequence-model';
import { withParameterBudget } from '../layers/allocation';
import { readModelFile } from './model-format';

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
  const { kind, config, tensors, metadata } = readModelFile(pathOrBuffer);
  const where = typeof pathOrBuffer === 'string' ? pathOrBuffer : 'buffer';
  // Own keys only: a kind of 'constructor' or '__proto__' must not reach Object's members.
  const make = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
  if (!make) throw new RnnkitFormatError(`${where}: unknown model kind '${kind}'`);
  // Each module may hold at most what the file holds: a hostile config cannot allocate more.
  const fileElements = Object.values(tensors).reduce((n, t) => n + t.data.length, 0);
  const model = withParameterBudget(fileElements, () => make(config));
  model.loadStateDict(tensors);
  return { model: model as M, metadata };
}
