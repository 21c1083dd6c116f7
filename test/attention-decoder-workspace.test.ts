// AttentionDecoder reuses one training workspace across forwards (grown to the
// largest shape seen). A forward and backward on a buffer left dirty by a larger,
// differently padded batch must give the same bits as on a fresh decoder.

import * as assert from 'node:assert/strict';
import type { Tensor } from '../lib';
import { AttentionDecoder, type AttentionKind } from '../lib/layers/attention-decoder';

function noise(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

interface Batch { M: number; N: number; B: number; sourceLengths: Int32Array; targetLengths: Int32Array }

function trainStep(layer: AttentionDecoder, batch: Batch, seed: number, scale: number) {
  const { M, N, B } = batch;
  const x: Tensor = { data: noise(M * B * layer.inputSize, seed, scale), shape: [M, B, layer.inputSize] };
  const memory: Tensor = { data: noise(N * B * layer.memorySize, seed + 1, scale), shape: [N, B, layer.memorySize] };
  const out = layer.forward(x, memory, {
    training: true, sourceLengths: batch.sourceLengths, targetLengths: batch.targetLengths,
  });
  const dOutput: Tensor = { data: noise(out.output.data.length, seed + 2, 1), shape: out.output.shape };
  const grads = layer.backward({ dOutput, dhN: { data: noise(B * layer.hiddenSize, seed + 3, 1), shape: [1, B, layer.hiddenSize] } });
  return { out, grads, parameterGradients: layer.gradients.slice() };
}

const big: Batch = { M: 9, N: 11, B: 6, sourceLengths: Int32Array.of(11, 3, 7, 11, 1, 5), targetLengths: Int32Array.of(9, 2, 9, 4, 1, 6) };
const small: Batch = { M: 5, N: 6, B: 4, sourceLengths: Int32Array.of(6, 2, 4, 1), targetLengths: Int32Array.of(3, 5, 1, 5) };

describe('AttentionDecoder training workspace reuse', () => {
  const cases: Array<['rnn' | 'gru' | 'lstm', AttentionKind]> = [
    ['gru', 'bahdanau'], ['lstm', 'luong-general'], ['rnn', 'luong-dot'], ['gru', 'luong-dot'], ['lstm', 'bahdanau'],
  ];
  for (const [cell, attention] of cases) {
    it(`${cell} ${attention}: a batch after a larger one gives a fresh decoder's bits`, () => {
      const make = () => new AttentionDecoder({
        cell, attention, inputSize: 5, memorySize: 7, hiddenSize: 7, attentionSize: 6, seed: 3,
      });
      const reused = make();
      trainStep(reused, big, 11, 50);  // large values leave a dirty buffer behind
      reused.zeroGrad();
      const again = trainStep(reused, small, 21, 1);
      const fresh = trainStep(make(), small, 21, 1);
      assert.deepEqual(again.out.output.data, fresh.out.output.data, 'output');
      assert.deepEqual(again.out.weights.data, fresh.out.weights.data, 'attention weights');
      assert.deepEqual(again.out.hN.data, fresh.out.hN.data, 'hN');
      assert.deepEqual(again.grads.dx.data, fresh.grads.dx.data, 'dx');
      assert.deepEqual(again.grads.dMemory.data, fresh.grads.dMemory.data, 'dMemory');
      assert.deepEqual(again.grads.dh0.data, fresh.grads.dh0.data, 'dh0');
      assert.deepEqual(again.parameterGradients, fresh.parameterGradients, 'parameter gradients');
    });
  }
});
