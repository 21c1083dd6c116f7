// A decoding's step calls reuse what the previous call made from the same memory and parameters: the
// attention keys and the packed per-step weights (reuseKeys), and, after the decoding keeps some rows of
// its memory (carryKeys), those rows' keys. Reusing runs the same products on the same numbers, so it
// must give the same bits as making them again.

import * as assert from 'node:assert/strict';
import type { Tensor } from '../lib';
import { AttentionDecoder, type AttentionKind } from '../lib/layers/attention-decoder';
import type { DecoderState } from '../lib/layers/attention-decoder';
import { selectBatch } from '../lib/structures/tensor-ops';

function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

const X = 5, E = 12, H = 12, N = 6;
// B = 12 rows, 9 after the selection: both at least 8, so the native step packs its weights.
const B = 12, ROWS = Int32Array.of(11, 3, 3, 0, 7, 9, 2, 5, 8);

function make(cell: 'rnn' | 'gru' | 'lstm', attention: AttentionKind) {
  return new AttentionDecoder({ cell, attention, inputSize: X, memorySize: E, hiddenSize: H, attentionSize: 7, seed: 4 });
}

function input(rows: number, seed: number): Tensor {
  return { data: noise(rows * X, seed), shape: [1, rows, X] };
}

function same(a: ReturnType<AttentionDecoder['step']>, b: ReturnType<AttentionDecoder['step']>, what: string) {
  assert.deepEqual(a.output.data, b.output.data, `${what}: output`);
  assert.deepEqual(a.weights.data, b.weights.data, `${what}: attention weights`);
  assert.deepEqual(a.hN.data, b.hN.data, `${what}: hN`);
  assert.deepEqual(a.cN?.data, b.cN?.data, `${what}: cN`);
}

describe('AttentionDecoder step reuse', () => {
  const cases: Array<['rnn' | 'gru' | 'lstm', AttentionKind]> = [
    ['gru', 'bahdanau'], ['lstm', 'luong-general'], ['rnn', 'luong-dot'], ['lstm', 'bahdanau'], ['gru', 'luong-general'],
  ];
  for (const [cell, attention] of cases) {
    const sourceLengths = Int32Array.from({ length: B }, (_, b) => 1 + (b % N));
    const memory: Tensor = { data: noise(N * B * E, 9), shape: [N, B, E] };

    it(`${cell} ${attention}: steps with reuseKeys give the bits of steps that make keys and packed weights again`, () => {
      const reusing = make(cell, attention), fresh = make(cell, attention);
      let a: DecoderState | undefined, b: DecoderState | undefined;
      for (let t = 0; t < 4; t++) {
        const x = input(B, 20 + t);
        const ra = reusing.step(x, memory, a, { sourceLengths, reuseKeys: t > 0 });
        const rb = fresh.step(x, memory, b, { sourceLengths });
        same(ra, rb, `step ${t}`);
        a = { h: ra.hN, c: ra.cN };
        b = { h: rb.hN, c: rb.cN };
      }
    });

    it(`${cell} ${attention}: keys carried to selected rows give the bits of keys made from those rows`, () => {
      const layer = make(cell, attention);
      const first = layer.step(input(B, 30), memory, undefined, { sourceLengths });
      const kept = selectBatch(memory, ROWS);
      layer.carryKeys(memory, kept, ROWS);
      // Dot attention's keys are the memory itself: nothing to carry.
      assert.equal(layer.hasKeysFor(kept), attention !== 'luong-dot');
      const state = { h: selectBatch(first.hN, ROWS), c: first.cN && selectBatch(first.cN, ROWS) };
      const keptLengths = Int32Array.from(ROWS, (r) => sourceLengths[r]);
      const x = input(ROWS.length, 31);
      const carried = layer.step(x, kept, state, { sourceLengths: keptLengths, reuseKeys: layer.hasKeysFor(kept) });
      const made = make(cell, attention).step(x, kept, state, { sourceLengths: keptLengths });
      same(carried, made, 'after the selection');
      // The carried workspace holds packed weights from then on.
      const again = layer.step(x, kept, { h: carried.hN, c: carried.cN }, { sourceLengths: keptLengths, reuseKeys: true });
      const madeAgain = make(cell, attention).step(x, kept, { h: made.hN, c: made.cN }, { sourceLengths: keptLengths });
      same(again, madeAgain, 'the step after');
    });
  }

  it('carries nothing from a memory whose keys the workspace does not hold', () => {
    const layer = make('gru', 'bahdanau');
    const memory: Tensor = { data: noise(N * B * E, 9), shape: [N, B, E] };
    const other: Tensor = { data: noise(N * B * E, 10), shape: [N, B, E] };
    layer.step(input(B, 40), memory, undefined);
    const kept = selectBatch(other, ROWS);
    layer.carryKeys(other, kept, ROWS);
    assert.equal(layer.hasKeysFor(kept), false);
    assert.equal(layer.hasKeysFor(memory), true, 'the workspace still holds the first memory\'s keys');
  });

  it('loading parameters drops what steps would reuse', () => {
    const layer = make('gru', 'bahdanau');
    const memory: Tensor = { data: noise(N * B * E, 9), shape: [N, B, E] };
    const out = layer.step(input(B, 50), memory, undefined);
    layer.loadStateDict(make('gru', 'bahdanau').stateDict());
    assert.equal(layer.hasKeysFor(memory), false);
    assert.throws(() => layer.step(input(B, 51), memory, { h: out.hN }, { reuseKeys: true }), /reuseKeys needs a previous step call/);
  });
});
