// Generating token sequences from a decoder: greedy, sampling (temperature,
// top-k, seeded) or beam search, for a batch of starting states; and the
// options every predict / generate takes.

import { checkObject, checkPositiveInteger, checkSeed, describe } from '../check';
import { valueError } from '../errors';
import { Random } from '../random';
import { beamSearch, sampleDecode, type Hypothesis, type StepDecoder } from './decoding';
import type { Inference } from './inference';

export interface GenerateOptions extends BatchOptions {
  /** 'greedy' (default), 'sample' or 'beam'. */
  strategy?: 'greedy' | 'sample' | 'beam';
  /** Most tokens to produce, the end token excluded (default 50). */
  maxLength?: number;
  /** Sampling temperature (default 1). */
  temperature?: number;
  /** Sample among the k most likely tokens only (default 0: all). */
  topK?: number;
  /** Seed of sampling (default 0). */
  seed?: number;
  /** Beam width (default 5). */
  beamWidth?: number;
  /** Length normalisation exponent alpha: rank by logProb / length^alpha (default 1). */
  lengthPenalty?: number;
}

export function checkGenerateOptions(value: unknown): Required<GenerateOptions> {
  const o = checkObject('options', value ?? {});
  const strategy = o.strategy ?? 'greedy';
  if (strategy !== 'greedy' && strategy !== 'sample' && strategy !== 'beam') {
    throw valueError(`strategy: expected 'greedy', 'sample' or 'beam', got ${describe(strategy)}`);
  }
  const positiveNumber = (name: string, v: unknown, fallback: number) => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw valueError(`${name}: expected a positive number, got ${describe(v)}`);
    return v;
  };
  const lengthPenalty = o.lengthPenalty ?? 1;
  if (typeof lengthPenalty !== 'number' || !Number.isFinite(lengthPenalty) || lengthPenalty < 0) {
    throw valueError(`lengthPenalty: expected a number >= 0, got ${describe(lengthPenalty)}`);
  }
  const topK = o.topK ?? 0;
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 0) throw valueError(`topK: expected an integer >= 0, got ${describe(topK)}`);
  const maxLength = o.maxLength === undefined ? 50 : checkPositiveInteger('maxLength', o.maxLength, 100000);
  const beamWidth = o.beamWidth === undefined ? 5 : checkPositiveInteger('beamWidth', o.beamWidth, 1000);
  // Beam search keeps beamWidth token histories of up to maxLength tokens per input.
  if (strategy === 'beam' && beamWidth * maxLength > MAX_BEAM_TOKENS) {
    throw valueError(`beamWidth x maxLength: ${beamWidth} x ${maxLength} = ${beamWidth * maxLength} tokens of ` +
      `hypotheses per input, above the ${MAX_BEAM_TOKENS} allowed; lower beamWidth or maxLength`);
  }
  return {
    strategy,
    maxLength,
    temperature: positiveNumber('temperature', o.temperature, 1),
    topK,
    seed: o.seed === undefined ? 0 : checkSeed('seed', o.seed),
    beamWidth,
    lengthPenalty,
    batchSize: checkBatchOptions(o),
  };
}

const DEFAULT_BATCH = 64;

export interface BatchOptions {
  /** Inputs run together in one batch of native calls (default 64); results do not depend on it. */
  batchSize?: number;
}

export function checkBatchOptions(value: unknown): number {
  const o = checkObject('options', value ?? {});
  return o.batchSize === undefined ? DEFAULT_BATCH : checkPositiveInteger('batchSize', o.batchSize, 1e6);
}

/** Most hypothesis tokens one beam search may keep per input (beamWidth x maxLength). */
export const MAX_BEAM_TOKENS = 1_000_000;

/** Most decoder rows (inputs x beamWidth) one batch of beam search runs at once. */
const MAX_BEAM_ROWS = 4096;

/** Inputs per batch: batchSize, fewer for wide beams, so a batch's native calls stay a sane size. */
export function inputsPerBatch(options: Required<GenerateOptions>): number {
  if (options.strategy !== 'beam') return options.batchSize;
  return Math.max(1, Math.min(options.batchSize, Math.floor(MAX_BEAM_ROWS / options.beamWidth)));
}

/**
 * The best hypothesis for each of `batch` rows of `state`. `inputIndices[b]` (the row's place among
 * the caller's inputs) picks row b's sampling stream, so a sample does not depend on its batch.
 */
export function* generateTokens<S>(stepper: StepDecoder<S>, state: S, batch: number,
  tokens: { startToken: number; endToken: number }, options: Required<GenerateOptions> & { attention?: boolean },
  inputIndices: readonly number[]): Inference<Hypothesis[]> {
  const search = { ...tokens, maxLength: options.maxLength, attention: options.attention };
  if (options.strategy === 'beam') {
    const ranked = yield* beamSearch(stepper, state, batch, { ...search, width: options.beamWidth, lengthPenalty: options.lengthPenalty });
    return ranked.map((hypotheses) => hypotheses[0]);
  }
  const randoms = options.strategy === 'sample' ? inputIndices.map((i) => Random.stream(options.seed, i)) : undefined;
  return yield* sampleDecode(stepper, state, batch, { ...search, temperature: options.temperature, topK: options.topK, randoms });
}
