// Helpers for the structure tests: finite-difference gradient checks through
// the public training entry points, small deterministic data sets, bit-level
// comparisons and temporary files. Nothing here knows a structure's internals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SequenceModel } from '../../lib';
import { Random } from '../../lib/random';

// ------------------------------------------------------------ randomness

/** A generator for test data, independent of the one the models train with. */
export function testRandom(seed: number): Random {
  return new Random(seed * 7919 + 13);
}

export function randomTokens(random: Random, length: number, low: number, high: number): number[] {
  return Array.from({ length }, () => low + random.nextInt(high - low));
}

export function randomVectors(random: Random, length: number, size: number, scale = 1): number[][] {
  return Array.from({ length }, () => Array.from({ length: size }, () => random.uniform(-scale, scale)));
}

// ------------------------------------------------------------ gradient checks

export interface GradientSample {
  name: string;
  index: number;
  analytic: number;
  numeric: number;
}

/** Named parameter ranges of a model's flat buffer, in layout order. */
export function parameterRanges(model: SequenceModel<unknown>): Array<{ name: string; offset: number; size: number }> {
  let offset = 0;
  return model.parameterShapes().map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const range = { name, offset, size };
    offset += size;
    return range;
  });
}

/**
 * Compares the gradient trainBatch accumulates (of the mean loss, sum / count)
 * with central differences of evaluateBatch's summed loss, divided by count.
 * Probes `perTensor` random elements of every named tensor plus the element of
 * each tensor with the largest analytic gradient (where a scaling error shows
 * most), in float32: the perturbation used in the quotient is the one float32
 * actually applied, (p + eps) - (p - eps) after rounding.
 */
export async function gradientSamples<E>(model: SequenceModel<E>, batch: E[], options: {
  eps?: number; perTensor?: number; seed?: number;
  /**
   * Differentiate the training loss itself: every evaluation is a trainBatch with the same generator
   * state, so dropout draws the same masks each time (the function is then smooth in the weights).
   */
  trainingLoss?: boolean;
} = {}): Promise<{ samples: GradientSample[]; lossSum: number; count: number }> {
  const eps = options.eps ?? 1e-2;
  const random = testRandom(options.seed ?? 1);
  model.zeroGrad();
  const trained = await model.trainBatch(batch, { random: new Random(99) });
  const analytic = model.gradients.slice();
  const lossOf = options.trainingLoss
    ? () => model.trainBatch(batch, { random: new Random(99) })
    : () => model.evaluateBatch(batch);
  const base = await lossOf();
  if (!options.trainingLoss) {
    // Training and evaluation must compute the same function (dropout 0, no scheduled sampling).
    assert.equal(trained.count, base.count, 'trainBatch and evaluateBatch count the same terms');
    assert.ok(Math.abs(trained.loss - base.loss) <= 1e-5 * Math.abs(base.loss), `trainBatch loss ${trained.loss} vs evaluateBatch ${base.loss}`);
  }
  const p = model.parameters;
  const samples: GradientSample[] = [];
  for (const range of parameterRanges(model as SequenceModel<unknown>)) {
    const picks = new Set<number>();
    for (let k = 0; k < (options.perTensor ?? 2); k++) picks.add(range.offset + random.nextInt(range.size));
    let largest = range.offset;
    for (let i = range.offset; i < range.offset + range.size; i++) if (Math.abs(analytic[i]) > Math.abs(analytic[largest])) largest = i;
    picks.add(largest);
    for (const i of picks) {
      const original = p[i];
      p[i] = original + eps;
      const up = p[i];
      const plus = (await lossOf()).loss;
      p[i] = original - eps;
      const down = p[i];
      const minus = (await lossOf()).loss;
      p[i] = original;
      samples.push({ name: range.name, index: i - range.offset, analytic: analytic[i], numeric: (plus - minus) / (up - down) / base.count });
    }
  }
  assert.ok(model.parameters.every((v, i) => v === p[i]));
  return { samples, lossSum: base.loss, count: base.count };
}

/**
 * Asserts every sample agrees within what float32 central differences allow:
 * |analytic - numeric| <= rtol * max(|analytic|, |numeric|) + atol, where
 *  - atol is the rounding noise of the quotient: the summed loss carries a
 *    relative error of about 1e-6 (a few float32 ulps, 2^-23 = 1.2e-7, grown over
 *    the kernels' sums), so each side's error ~1e-6 |L| lands in the quotient as
 *    1e-6 |L| / (2 eps) / count; twice that for the two evaluations;
 *  - rtol = 2e-2 covers the truncation error of central differences, eps^2/6
 *    times the third derivative: about 2e-5 times a curvature of order one,
 *    with a wide margin for tanh/sigmoid/softmax compositions.
 * A wrong factor, sign, transposition or a missing term is far outside it.
 */
export function assertGradientsAgree(result: { samples: GradientSample[]; lossSum: number; count: number }, what: string,
  eps = 1e-2): void {
  const atol = 2 * 1e-6 * Math.max(1, Math.abs(result.lossSum)) / (2 * eps) / result.count;
  const rtol = 2e-2;
  const bad = result.samples.filter((s) => !(Math.abs(s.analytic - s.numeric) <= rtol * Math.max(Math.abs(s.analytic), Math.abs(s.numeric)) + atol));
  assert.ok(bad.length === 0, `${what}: ${bad.length} of ${result.samples.length} gradients disagree (atol ${atol.toExponential(1)}):\n` +
    bad.slice(0, 8).map((s) => `  ${s.name}[${s.index}]: analytic ${s.analytic.toExponential(4)}, numeric ${s.numeric.toExponential(4)}`).join('\n'));
  // Not a vacuous check: a good share of the probed gradients are clearly non-zero.
  const nonzero = result.samples.filter((s) => Math.abs(s.numeric) > 10 * atol).length;
  assert.ok(nonzero >= result.samples.length / 3, `${what}: only ${nonzero} of ${result.samples.length} probed gradients are non-zero`);
}

// ------------------------------------------------------------ comparisons

export function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.fail(`${what}[${i}]: ${actual[i]} !== ${expected[i]}`);
  }
}

export function hasNonFinite(values: Float32Array): boolean {
  return values.some((v) => !Number.isFinite(v));
}

// ------------------------------------------------------------ files

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; file(name: string): string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rnnkit-${prefix}-`));
  return { dir, file: (name) => path.join(dir, name), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
