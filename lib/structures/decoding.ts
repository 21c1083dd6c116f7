// Inference for models that feed their own outputs back (back projection):
// greedy, temperature / top-k sampling, and beam search with length
// normalisation, written once against a step-by-step decoder interface.

import type { Random } from '../random';

/** What a decoder must offer: log-probabilities of the next token given the previous ones. */
export interface StepDecoder<State> {
  /** Next-token log-probabilities [B, V] after feeding `tokens` [B], and the new state. */
  step(tokens: Int32Array, state: State): { logProbs: Float32Array; state: State };
  /** The state of rows `rows` (e.g. beams that survive), in that order. */
  select(state: State, rows: Int32Array): State;
  readonly vocabSize: number;
}

export interface Hypothesis {
  tokens: number[];
  /** Sum of log-probabilities of the tokens (and of the end token when it ended). */
  logProb: number;
}

export interface SearchOptions {
  startToken: number;
  endToken: number;
  maxLength: number;
}

/** Greedy or sampled decoding of B sequences at once. */
export function sampleDecode<S>(decoder: StepDecoder<S>, initial: S, batch: number, options: SearchOptions & {
  temperature?: number; topK?: number; random?: Random;
}): Hypothesis[] {
  const V = decoder.vocabSize;
  const greedy = options.random === undefined || options.temperature === 0;
  const out: Hypothesis[] = Array.from({ length: batch }, () => ({ tokens: [], logProb: 0 }));
  const done = new Array<boolean>(batch).fill(false);
  let tokens = new Int32Array(batch).fill(options.startToken);
  let state = initial;
  for (let t = 0; t < options.maxLength && done.includes(false); t++) {
    const stepped = decoder.step(tokens, state);
    state = stepped.state;
    tokens = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      const row = stepped.logProbs.subarray(b * V, (b + 1) * V);
      const token = greedy ? argmax(row) : sampleToken(row, options.temperature ?? 1, options.topK ?? 0, options.random!);
      tokens[b] = token;
      if (done[b]) continue;
      out[b].logProb += row[token];
      if (token === options.endToken) done[b] = true;
      else out[b].tokens.push(token);
    }
  }
  return out;
}

/**
 * Beam search for one sequence: keeps `width` hypotheses, ranks finished ones
 * by logProb / length^alpha (alpha = lengthPenalty; 0 = raw sum), returns them best first.
 */
export function beamSearch<S>(decoder: StepDecoder<S>, initial: S, options: SearchOptions & {
  width: number; lengthPenalty?: number;
}): Hypothesis[] {
  const V = decoder.vocabSize;
  const alpha = options.lengthPenalty ?? 1;
  const score = (h: Hypothesis, length: number) => h.logProb / Math.pow(Math.max(1, length), alpha);
  let beams: Hypothesis[] = [{ tokens: [], logProb: 0 }];
  let state = initial;
  const finished: Array<{ h: Hypothesis; score: number }> = [];
  for (let t = 0; t < options.maxLength && beams.length > 0; t++) {
    const last = Int32Array.from(beams, (h) => (h.tokens.length ? h.tokens[h.tokens.length - 1] : options.startToken));
    const stepped = decoder.step(last, state);
    const candidates: Array<{ beam: number; token: number; logProb: number }> = [];
    beams.forEach((h, i) => {
      const row = stepped.logProbs.subarray(i * V, (i + 1) * V);
      for (const token of topIndices(row, options.width)) candidates.push({ beam: i, token, logProb: h.logProb + row[token] });
    });
    candidates.sort((a, b) => b.logProb - a.logProb);
    const next: Hypothesis[] = [];
    const rows: number[] = [];
    // Finished hypotheses take beam slots too, so width 1 is exactly greedy decoding.
    for (const c of candidates.slice(0, options.width)) {
      const tokens = [...beams[c.beam].tokens];
      if (c.token === options.endToken) {
        const h = { tokens, logProb: c.logProb };
        finished.push({ h, score: score(h, tokens.length + 1) });
      } else {
        next.push({ tokens: [...tokens, c.token], logProb: c.logProb });
        rows.push(c.beam);
      }
    }
    beams = next;
    if (beams.length > 0) state = decoder.select(stepped.state, Int32Array.from(rows));
  }
  for (const h of beams) finished.push({ h, score: score(h, h.tokens.length) });  // cut at maxLength
  return finished.sort((a, b) => b.score - a.score).map((f) => f.h);
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

function topIndices(row: Float32Array, k: number): number[] {
  const idx = Array.from(row.keys());
  idx.sort((a, b) => row[b] - row[a]);
  return idx.slice(0, Math.min(k, row.length));
}

function sampleToken(logProbs: Float32Array, temperature: number, topK: number, random: Random): number {
  const candidates = topK > 0 ? topIndices(logProbs, topK) : Array.from(logProbs.keys());
  const scaled = candidates.map((v) => logProbs[v] / temperature);
  const max = Math.max(...scaled);
  const weights = scaled.map((s) => Math.exp(s - max));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = random.next() * total;
  for (let i = 0; i < candidates.length; i++) {
    u -= weights[i];
    if (u < 0) return candidates[i];
  }
  return candidates[candidates.length - 1];
}
