// A decoding's step calls reuse what the previous call made from the same memory and parameters (reuseKeys):
// the attention keys, also after rows left the batch, and the packed per-step weights while the batch
// stays. Rows may read their memory through sourceRows instead of a copy. Each runs the same products on
// the same numbers, so it must give the same bits as making them again from a copied memory.

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

    it(`${cell} ${attention}: rows that read the memory through sourceRows, keys reused, give the bits of a copied memory`, () => {
      const layer = make(cell, attention);
      const first = layer.step(input(B, 30), memory, undefined, { sourceLengths });
      const state = { h: selectBatch(first.hN, ROWS), c: first.cN && selectBatch(first.cN, ROWS) };
      const keptLengths = Int32Array.from(ROWS, (r) => sourceLengths[r]);
      const x = input(ROWS.length, 31);
      // Another batch size, the same memory: the keys come along.
      const mapped = layer.step(x, memory, state, { sourceLengths: keptLengths, sourceRows: ROWS, reuseKeys: true });
      const copied = make(cell, attention).step(x, selectBatch(memory, ROWS), state, { sourceLengths: keptLengths });
      same(mapped, copied, 'after the selection');
      // The new batch's packed weights, made by that step, are reused by the next.
      const again = layer.step(x, memory, { h: mapped.hN, c: mapped.cN }, { sourceLengths: keptLengths, sourceRows: ROWS, reuseKeys: true });
      const copiedAgain = make(cell, attention).step(x, selectBatch(memory, ROWS), { h: copied.hN, c: copied.cN }, { sourceLengths: keptLengths });
      same(again, copiedAgain, 'the step after');
    });
  }

  it('refuses reuseKeys for a memory whose keys the workspace does not hold, and sourceRows out of range', () => {
    const layer = make('gru', 'bahdanau');
    const memory: Tensor = { data: noise(N * B * E, 9), shape: [N, B, E] };
    const other: Tensor = { data: noise(N * B * E, 10), shape: [N, B, E] };
    const out = layer.step(input(B, 40), memory, undefined);
    assert.throws(() => layer.step(input(B, 41), other, { h: out.hN }, { reuseKeys: true }),
      (e: Error & { code?: string }) => e.code === 'ERR_RNNKIT_STATE' && /reuseKeys/.test(e.message));
    assert.throws(() => layer.step(input(2, 42), memory, undefined, { sourceRows: Int32Array.of(0, B) }),
      (e: Error & { code?: string }) => e.code === 'ERR_RNNKIT_VALUE' && /sourceRows\[1\]/.test(e.message));
    assert.throws(() => layer.step(input(2, 42), memory, undefined, { sourceRows: Int32Array.of(0) }),
      (e: Error & { code?: string }) => e.code === 'ERR_RNNKIT_SHAPE' && /sourceRows/.test(e.message));
    assert.equal(layer.hasKeysFor(memory), true, 'refused calls leave the keys where they were');
    const fine = layer.step(input(B, 43), memory, { h: out.hN }, { reuseKeys: true });
    same(fine, make('gru', 'bahdanau').step(input(B, 43), memory, { h: out.hN }), 'after the refusals');
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
