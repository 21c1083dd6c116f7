// The g2p-sized attention encoder-decoder of the benchmark: its rnnkit model,
// a seeded batch, and that batch in the padded layout the PyTorch twin reads.

import { EncoderDecoder, type EncoderDecoderExample } from '../lib';

export const SEQ2SEQ = { vin: 30, vout: 45, emb: 64, hidden: 256, attn: 256, B: 64, minLen: 8, maxLen: 10, start: 1, end: 2 };

export function seq2seqModel(): EncoderDecoder {
  const s = SEQ2SEQ;
  return new EncoderDecoder({
    input: { type: 'tokens', vocabSize: s.vin, embeddingSize: s.emb },
    encoder: { cell: 'gru', hiddenSize: s.hidden, bidirectional: true },
    decoder: { cell: 'gru', hiddenSize: s.hidden },
    output: { vocabSize: s.vout, embeddingSize: s.emb, startToken: s.start, endToken: s.end },
    attention: 'bahdanau', attentionSize: s.attn, seed: 5,
  });
}

/** B examples, source and target lengths uniform in [minLen, maxLen], tokens >= 3. */
export function makeSeq2SeqBatch(seed: number): EncoderDecoderExample[] {
  const next = lcg(seed);
  const s = SEQ2SEQ;
  const len = () => s.minLen + Math.floor(next() * (s.maxLen - s.minLen + 1));
  return Array.from({ length: s.B }, () => ({
    input: Array.from({ length: len() }, () => 3 + Math.floor(next() * (s.vin - 3))),
    target: Array.from({ length: len() }, () => 3 + Math.floor(next() * (s.vout - 3))),
  }));
}

/** Time-major padded arrays: src [N,B] (0 pad), tgt_in [M,B] = [start, y...], tgt_out [M,B] = [y..., end] (-1 pad). */
export function torchBatch(batch: EncoderDecoderExample[]) {
  const s = SEQ2SEQ, B = batch.length;
  const N = Math.max(...batch.map((e) => e.input.length));
  const M = Math.max(...batch.map((e) => e.target.length)) + 1;
  const src = new Array(N * B).fill(0), tgtIn = new Array(M * B).fill(0), tgtOut = new Array(M * B).fill(-1);
  batch.forEach((e, b) => {
    (e.input as number[]).forEach((tok, t) => { src[t * B + b] = tok; });
    [s.start, ...e.target].forEach((tok, t) => { tgtIn[t * B + b] = tok; });
    [...e.target, s.end].forEach((tok, t) => { tgtOut[t * B + b] = tok; });
  });
  return { ...s, B, src, src_len: batch.map((e) => e.input.length), tgt_in: tgtIn, tgt_out: tgtOut };
}

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
}

/** Token sequences, lengths uniform in [minLen, maxLen], tokens in [3, vocab). */
export function randomSources(count: number, minLen: number, maxLen: number, vocab: number, seed: number): number[][] {
  const next = lcg(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: minLen + Math.floor(next() * (maxLen - minLen + 1)) }, () => 3 + Math.floor(next() * (vocab - 3))));
}

/** The synthetic task: the source reversed (same token ids on the output side). */
export function reversal(sources: number[][]): EncoderDecoderExample[] {
  return sources.map((input) => ({ input, target: [...input].reverse() }));
}
