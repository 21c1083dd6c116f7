// Generating token sequences from a decoder: greedy, sampling (temperature,
// top-k, seeded) or beam search, for a batch of starting states.

import { checkObject, checkPositiveInteger, checkSeed, describe } from '../check';
import { valueError } from '../errors';
import { Random } from '../random';
import { beamSearch, sampleDecode, type Hypothesis, type StepDecoder } from './decoding';

export interface GenerateOptions {
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
  };
}

/** Most hypothesis tokens one beam search may keep per input (beamWidth x maxLength). */
export const MAX_BEAM_TOKENS = 1_000_000;

/** The best hypothesis for each of `batch` rows of `state`. */
export function generateTokens<S>(stepper: StepDecoder<S>, state: S, batch: number,
  tokens: { startToken: number; endToken: number }, options: Required<GenerateOptions>): Hypothesis[] {
  const search = { ...tokens, maxLength: options.maxLength };
  if (options.strategy === 'beam') {
    return Array.from({ length: batch }, (_, b) => beamSearch(stepper, stepper.select(state, Int32Array.of(b)), {
      ...search, width: options.beamWidth, lengthPenalty: options.lengthPenalty,
    })[0]);
  }
  const random = options.strategy === 'sample' ? new Random(options.seed) : undefined;
  return sampleDecode(stepper, state, batch, { ...search, temperature: options.temperature, topK: options.topK, random });
}
