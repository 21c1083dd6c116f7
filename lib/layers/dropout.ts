// Inverted dropout on activations between a structure's layers (embeddings,
// encoder outputs, the head's input), where the recurrent stacks' own dropout
// (between their stacked layers) does not reach. The mask is recomputed
// natively from a seed, not stored: backward applies the same call to the
// gradient, and a batch keeps only (seed, stream) per site on its tape.

import { checkNumberInRange, checkObject, describe } from '../check';
import { valueError } from '../errors';
import { native } from '../native';
import type { Random } from '../random';
import { batchFloat32 } from './batch-scratch';

/** What one training forward dropped at one site: enough to drop the same elements of the gradient. */
export interface DropoutTape {
  p: number;
  seed: number;
  stream: number;
}

/**
 * x with a fresh mask applied (a new batch buffer; x is left as it is, since the layer that wrote it may
 * read it in its backward), and the tape for backward. Outside training, with p = 0 or without a random
 * source, x itself and a null tape.
 */
export async function dropoutForward(name: string, x: Float32Array, p: number, stream: number,
  options: { training: boolean; random?: Random }): Promise<{ y: Float32Array; tape: DropoutTape | null }> {
  if (!options.training || p === 0 || !options.random) return { y: x, tape: null };
  const tape = { p, seed: options.random.nextSafeInteger(), stream };
  const y = batchFloat32(name, x.length, false);
  await native.dropoutAsync(y, x, p, tape.seed, tape.stream);
  return { y, tape };
}

/** dy times the forward's mask, in place (dy is the caller's own gradient buffer); dy itself for a null tape. */
export async function dropoutBackward(dy: Float32Array, tape: DropoutTape | null): Promise<Float32Array> {
  if (tape) await native.dropoutAsync(dy, dy, tape.p, tape.seed, tape.stream);
  return dy;
}

/** Keeps the masks of a structure's dropout sites apart (each also draws its own seed per batch). */
export const DropoutStream = { sourceEmbedding: 1, targetEmbedding: 2, memory: 3, context: 4, headInput: 5 } as const;

/** Dropout of a sequence structure outside its recurrent stacks; each rate in [0, 1), default 0. */
export interface StructureDropout {
  /** On the token embeddings (the encoder's and the decoder's inputs). */
  embedding?: number;
  /** On the encoder's outputs: the memory attention reads, and the context that starts or conditions the decoder. */
  encoderOutput?: number;
  /** On the decoder's (or the stack's) output, where the output head reads it. */
  headInput?: number;
}

const SITES = ['embedding', 'encoderOutput', 'headInput'] as const;

/** The rates with their defaults; refuses an unknown site or a rate outside [0, 1). */
export function checkStructureDropout(name: string, value: unknown,
  sites: ReadonlyArray<keyof StructureDropout> = SITES): Required<StructureDropout> {
  const o = checkObject(name, value ?? {});
  for (const key of Object.keys(o)) {
    if (!sites.includes(key as keyof StructureDropout)) {
      throw valueError(`${name}.${key}: expected one of ${sites.join(', ')} (dropout between stacked layers is the ` +
        `recurrent spec's own dropout), got ${describe(key)}`);
    }
  }
  const rate = (key: keyof StructureDropout): number => {
    if (o[key] === undefined) return 0;
    const p = checkNumberInRange(`${name}.${key}`, o[key], 0, 1);
    if (p >= 1) throw valueError(`${name}.${key}: expected a rate in [0, 1), got ${describe(o[key])}`);
    return p;
  };
  return { embedding: rate('embedding'), encoderOutput: rate('encoderOutput'), headInput: rate('headInput') };
}

/** Only the rates that are set, so a config without dropout reads as before this option existed. */
export function dropoutConfig(d: Required<StructureDropout>): StructureDropout | undefined {
  const set = Object.fromEntries(Object.entries(d).filter(([, p]) => p > 0));
  return Object.keys(set).length > 0 ? set : undefined;
}
