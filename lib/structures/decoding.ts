// Inference for models that feed their own outputs back (back projection):
// greedy, temperature / top-k sampling, and beam search with length
// normalisation, written once against a step-by-step decoder interface, for a
// batch of inputs at once. Each is an Inference (see inference.ts), so the
// same code runs on the JS thread or on native worker threads.

import type { Random } from '../random';
import type { Inference } from './inference';

/** What a step returns: log-probabilities of the next token given the previous ones. */
export interface Stepped<State> {
  /** [R, V] for the R rows of the state. */
  logProbs: Float32Array;
  state: State;
  /** Attention decoders: this step's weights over row r's valid source steps. */
  attentionOf?: (row: number) => number[];
}

/** What a decoder must offer. Rows are independent: a row's results do not depend on the others. */
export interface StepDecoder<State> {
  /** Feeds `tokens` [R], one per row of `state`. */
  step(tokens: Int32Array, state: State): Inference<Stepped<State>>;
  /** Rows `rows` of the state (sources included), in that order. */
  select(state: State, rows: Int32Array): State;
  /**
   * The recurrent state of rows `rows`, where row rows[i] reads the same source as row i (beams of one
   * input): the source part (context, memory) stays as it is, so nothing source-sized is copied.
   */
  reorder(state: State, rows: Int32Array): State;
  readonly vocabSize: number;
}

export interface Hypothesis {
  tokens: number[];
  /** Sum of log-probabilities of the tokens (and of the end token when it ended). */
  logProb: number;
  /** When asked and the decoder attends: weights per output step (end step included) over the source. */
  attention?: number[][];
}

export interface SearchOptions {
  startToken: number;
  endToken: number;
  maxLength: number;
  /** Keep each step's attention weights in the hypotheses (attention decoders only). */
  attention?: boolean;
}

/**
 * Greedy (no `randoms`) or sampled decoding of every row of `initial`. Row b samples from randoms[b]
 * alone, so its result does not depend on the other rows. Rows that have ended leave the state once
 * they are an eighth of it (decoder.select): the steps after that run on the live rows only, and since
 * rows are independent, every row's tokens and log-probabilities are the same as without leaving.
 */
export function* sampleDecode<S>(decoder: StepDecoder<S>, initial: S, batch: number, options: SearchOptions & {
  temperature?: number; topK?: number; randoms?: readonly Random[];
}): Inference<Hypothesis[]> {
  const V = decoder.vocabSize;
  const randoms = options.temperature === 0 ? undefined : options.randoms;
  const out: Hypothesis[] = Array.from({ length: batch }, () => (options.attention ? { tokens: [], logProb: 0, attention: [] } : { tokens: [], logProb: 0 }));
  const done = new Array<boolean>(batch).fill(false);
  // live[i]: the input whose decoding row i of the state carries.
  let live = Array.from({ length: batch }, (_, b) => b);
  let tokens = new Int32Array(batch).fill(options.startToken);
  let state = initial;
  for (let t = 0; t < options.maxLength && live.length > 0; t++) {
    const stepped = yield* decoder.step(tokens, state);
    state = stepped.state;
    tokens = new Int32Array(live.length);
    let ended = 0;
    for (let i = 0; i < live.length; i++) {
      const b = live[i];
      const row = stepped.logProbs.subarray(i * V, (i + 1) * V);
      const token = randoms ? sampleToken(row, options.temperature ?? 1, options.topK ?? 0, randoms[b]) : argmax(row);
      tokens[i] = token;
      if (done[b]) { ended++; continue; }
      out[b].logProb += row[token];
      if (options.attention && stepped.attentionOf) out[b].attention!.push(stepped.attentionOf(i));
      if (token === options.endToken) { done[b] = true; ended++; }
      else out[b].tokens.push(token);
    }
    if (ended > 0 && ended * 8 >= live.length) {
      const keep = Int32Array.from(live.keys()).filter((i) => !done[live[i]]);
      if (keep.length > 0) state = decoder.select(state, keep);
      tokens = tokens.filter((_, i) => !done[live[i]]);
      live = Array.from(keep, (i) => live[i]);
    }
  }
  return out;
}

interface Beam extends Hypothesis {
  /** Row of the decoder state holding this beam. */
  row: number;
}

/**
 * Beam search for every row of `initial` at once. The first step runs on `initial` itself, one row per
 * input (each input has one beam then); after it, each input still searching owns a block of `width`
 * rows of the decoder state, filled by its live beams (spare rows repeat a live one and their outputs
 * are ignored). Blocks of inputs that have stopped leave the state once they are an eighth of it
 * (decoder.select), as in sampleDecode; rows are independent, so results are the same as without
 * leaving. Per input: each live beam proposes its `width` best next tokens, the `width` best of all
 * proposals survive (finished hypotheses take beam slots too, so width 1 is exactly greedy decoding),
 * and finished ones are ranked by logProb / length^alpha (alpha = lengthPenalty; the end token counts in
 * the length). An input's search stops once no live beam can overtake its best finished hypothesis.
 * Returns each input's hypotheses, best first (the first is the search's answer; the rest are those
 * found before it stopped).
 */
export function* beamSearch<S>(decoder: StepDecoder<S>, initial: S, batch: number, options: SearchOptions & {
  width: number; lengthPenalty?: number;
}): Inference<Hypothesis[][]> {
  const V = decoder.vocabSize, W = options.width;
  const alpha = options.lengthPenalty ?? 1;
  const score = (h: Hypothesis, length: number) => h.logProb / Math.pow(Math.max(1, length), alpha);
  const start = (b: number): Beam => ({ tokens: [], logProb: 0, row: b, ...(options.attention ? { attention: [] } : {}) });
  let beams: Beam[][] = Array.from({ length: batch }, (_, b) => [start(b)]);
  const finished: Array<Array<{ h: Hypothesis; score: number }>> = Array.from({ length: batch }, () => []);
  // A live beam's logProb only falls and its score's divisor is at most maxLength^alpha, so once no live
  // beam could reach the best finished score even then, searching on cannot change the winner.
  const bound = Math.pow(Math.max(1, options.maxLength), alpha);
  const cannotBeatFinished = (live: readonly Beam[], done: ReadonlyArray<{ score: number }>) => done.length > 0 &&
    live.every((h) => h.logProb / bound <= Math.max(...done.map((d) => d.score)));
  // The state holds `blocks` blocks of `perBlock` rows; input b's beams sit in block blockOf[b] (-1 once it has left).
  let state = initial, perBlock = 1, blocks = batch;
  const blockOf = Int32Array.from({ length: batch }, (_, b) => b);
  for (let t = 0; t < options.maxLength && beams.some((live) => live.length > 0); t++) {
    const last = new Int32Array(blocks * perBlock).fill(options.startToken);
    for (const live of beams) for (const h of live) last[h.row] = h.tokens.length ? h.tokens[h.tokens.length - 1] : options.startToken;
    const stepped = yield* decoder.step(last, state);
    // Each input's next beams; their `row` is their parent's until the new layout below places them.
    beams = beams.map((live, b) => {
      if (live.length === 0) return live;
      const candidates: Array<{ beam: Beam; token: number; logProb: number }> = [];
      for (const h of live) {
        const row = stepped.logProbs.subarray(h.row * V, (h.row + 1) * V);
        for (const token of topIndices(row, W)) candidates.push({ beam: h, token, logProb: h.logProb + row[token] });
      }
      candidates.sort((x, y) => y.logProb - x.logProb);
      const next: Beam[] = [];
      for (const c of candidates.slice(0, W)) {
        const attention = options.attention && stepped.attentionOf
          ? [...c.beam.attention!, stepped.attentionOf(c.beam.row)] : c.beam.attention;
        if (c.token === options.endToken) {
          const h: Hypothesis = { tokens: c.beam.tokens, logProb: c.logProb, ...(attention ? { attention } : {}) };
          finished[b].push({ h, score: score(h, h.tokens.length + 1) });
        } else {
          next.push({ tokens: [...c.beam.tokens, c.token], logProb: c.logProb, row: c.beam.row, ...(attention ? { attention } : {}) });
        }
      }
      return cannotBeatFinished(next, finished[b]) ? [] : next;
    });
    const searching = beams.filter((live) => live.length > 0).length;
    if (searching === 0 || t + 1 === options.maxLength) break;  // no step reads the state again
    const stopped = blocks - beams.filter((live, b) => live.length > 0 && blockOf[b] >= 0).length;
    const relayout = perBlock !== W || (stopped > 0 && stopped * 8 >= blocks);
    if (relayout) {
      let k = 0;
      for (let b = 0; b < batch; b++) blockOf[b] = beams[b].length > 0 ? k++ : -1;
      perBlock = W;
      blocks = searching;
    }
    // parents[r]: the row of the old state that row r of the new one continues; stopped blocks keep theirs.
    const parents = relayout ? new Int32Array(blocks * W) : Int32Array.from({ length: blocks * W }, (_, r) => r);
    beams.forEach((live, b) => {
      if (live.length === 0) return;
      const first = blockOf[b] * W;
      live.forEach((h, k) => { parents[first + k] = h.row; h.row = first + k; });
      // Spare rows follow the first live beam, so every row keeps a valid state.
      for (let k = live.length; k < W; k++) parents[first + k] = parents[first];
    });
    state = relayout ? decoder.select(stepped.state, parents) : decoder.reorder(stepped.state, parents);
  }
  return finished.map((done, b) => {
    for (const h of beams[b]) done.push({ h, score: score(h, h.tokens.length) });  // cut at maxLength
    return done.sort((x, y) => y.score - x.score).map(({ h }) => withoutRow(h));
  });
}

function withoutRow(h: Hypothesis | Beam): Hypothesis {
  const out: Hypothesis = { tokens: h.tokens, logProb: h.logProb };
  if (h.attention) out.attention = h.attention;
  return out;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

/** The k largest entries' indices, largest first, ties in index order (as a stable sort would give). */
function topIndices(row: Float32Array, k: number): number[] {
  const n = Math.min(k, row.length);
  if (n > 16) {
    const idx = Array.from(row.keys());
    idx.sort((a, b) => row[b] - row[a]);
    return idx.slice(0, n);
  }
  // Beam widths and small top-k: one pass keeping the best n, not a sort of the whole vocabulary per row.
  const top: number[] = [];
  for (let v = 0; v < row.length && n > 0; v++) {
    const x = row[v];
    if (top.length < n) top.push(v);
    else if (x > row[top[n - 1]]) top[n - 1] = v;
    else continue;
    for (let i = top.length - 1; i > 0 && x > row[top[i - 1]]; i--) { top[i] = top[i - 1]; top[i - 1] = v; }
  }
  return top;
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
