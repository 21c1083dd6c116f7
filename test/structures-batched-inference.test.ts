// Inference in batches, sync and async: every structure's predict / generate
// runs many inputs per native call (sorted by length), and an input's result
// has the same bits whatever shares its batch, whatever the batch size, and
// whether it ran on the JS thread or on worker threads. Beam search over a
// batch equals a plain one-input-at-a-time beam search on a decoder in pure JS.

import assert from 'node:assert/strict';
import {
  EncoderDecoder, ManyToMany, ManyToOne, OneToMany, type EncoderDecoderExample, type GenerateOptions, type SequenceModel,
} from '../lib';
import { beamSearch, type StepDecoder } from '../lib/structures/decoding';
import { run, runAsync, runSync, type Inference, type LayerCall } from '../lib/structures/inference';
import { MODEL_CASES } from './helpers/structure-models';
import { randomTokens, testRandom } from './helpers/structures';

type Options = Record<string, unknown>;

/** Every inference entry point of a model, as (inputs, options) -> sync result and async result. */
function entryPoints(model: SequenceModel<unknown>): Array<{
  what: string; sync(inputs: unknown[], o: Options): unknown; async(inputs: unknown[], o: Options): Promise<unknown>;
}> {
  if (model instanceof EncoderDecoder) {
    const strategies: Options[] = [
      { maxLength: 9 }, { strategy: 'beam', beamWidth: 3, maxLength: 9 }, { strategy: 'beam', beamWidth: 2, lengthPenalty: 0.5, maxLength: 6, attention: model.config().attention !== 'none' },
      { strategy: 'sample', seed: 4, temperature: 1.5, maxLength: 9 },
    ];
    return strategies.map((s) => ({
      what: `predict ${JSON.stringify(s)}`,
      sync: (inputs, o) => model.predict(inputs as number[][], { ...s, ...o }),
      async: (inputs, o) => model.predictAsync(inputs as number[][], { ...s, ...o }),
    }));
  }
  if (model instanceof OneToMany) {
    const strategies: GenerateOptions[] = [{ maxLength: 8 }, { strategy: 'beam', beamWidth: 3, maxLength: 8 }, { strategy: 'sample', seed: 2, maxLength: 8 }];
    return strategies.map((s) => ({
      what: `generate ${JSON.stringify(s)}`,
      sync: (inputs, o) => model.generate(inputs as number[], { ...s, ...o }),
      async: (inputs, o) => model.generateAsync(inputs as number[], { ...s, ...o }),
    }));
  }
  if (model instanceof ManyToOne) {
    return [
      { what: 'predictProba', sync: (i, o) => model.predictProba(i as number[][], o), async: (i, o) => model.predictProbaAsync(i as number[][], o) },
      { what: 'predict', sync: (i, o) => model.predict(i as number[][], o), async: (i, o) => model.predictAsync(i as number[][], o) },
    ];
  }
  const m = model as ManyToMany;
  return [{ what: 'predict', sync: (i, o) => m.predict(i as number[][], o), async: (i, o) => m.predictAsync(i as number[][], o) }];
}

describe('structures: batched inference', function () {
  this.timeout(60000);

  for (const c of MODEL_CASES) {
    it(`${c.name}: each input alone, in batches of 3 and of 64 gives the same bits; async equals sync`, async function () {
      const model = c.make();
      const inputs = c.data(5, 23).map((e) => (e as { input: unknown }).input);
      for (const entry of entryPoints(model)) {
        const batched = entry.sync(inputs, {}) as unknown[];
        assert.equal(batched.length, inputs.length, entry.what);
        assert.deepEqual(entry.sync(inputs, { batchSize: 3 }), batched, `${entry.what}: batchSize 3`);
        assert.deepEqual(entry.sync(inputs, { batchSize: 1 }), batched, `${entry.what}: batchSize 1`);
        assert.deepEqual(await entry.async(inputs, {}), batched, `${entry.what}: async`);
        if (!entry.what.includes('sample')) {  // a sample's stream is picked by the input's place in the array
          inputs.forEach((input, i) => assert.deepEqual(entry.sync([input], {}), [batched[i]], `${entry.what}: input ${i} alone`));
        }
      }
    });
  }

  it('EncoderDecoder: the log-probability of a decoded sequence is what the teacher-forced forward gives it', async function () {
    // Decoding reuses each batch's attention keys across steps; evaluate() recomputes them in one forward.
    for (const c of MODEL_CASES.filter((k) => k.name.startsWith('EncoderDecoder'))) {
      const model = c.make() as EncoderDecoder;
      await model.fit(c.data(9, 200) as EncoderDecoderExample[], { epochs: 2, batchSize: 16, optimizer: { type: 'adam', lr: 1e-2 } });
      const inputs = c.data(8, 30).map((e) => (e as EncoderDecoderExample).input as number[]);
      let checked = 0;
      for (const strategy of ['greedy', 'beam'] as const) {
        const out = await model.predictAsync(inputs, { strategy, beamWidth: 3, maxLength: 40 });
        for (const [i, t] of out.entries()) {
          if (t.tokens.length >= 40) continue;  // cut at maxLength: no end token to score
          const loss = await model.evaluate([{ input: inputs[i], target: t.tokens }]);
          assert.ok(Math.abs(-loss * (t.tokens.length + 1) - t.logProb) <= 1e-4 * Math.max(1, Math.abs(t.logProb)),
            `${c.name} ${strategy} input ${i}: logProb ${t.logProb}, teacher-forced ${-loss * (t.tokens.length + 1)}`);
          checked++;
        }
      }
      assert.ok(checked >= 30, `${c.name}: ${checked} ended sequences checked`);
    }
  });

  it('EncoderDecoder with attention: beam hypotheses carry one row of weights per output step, over the valid source', function () {
    const c = MODEL_CASES.find((k) => k.name.includes("'bahdanau'"))!;
    const model = c.make() as EncoderDecoder;
    const inputs = c.data(3, 12).map((e) => (e as EncoderDecoderExample).input as number[]);
    const out = model.predict(inputs, { strategy: 'beam', beamWidth: 3, maxLength: 7, attention: true });
    out.forEach((t, i) => {
      const rows = t.attention!;
      assert.ok(rows.length === t.tokens.length + 1 || (rows.length === 7 && t.tokens.length === 7), `input ${i}: ${rows.length} rows`);
      for (const row of rows) {
        assert.equal(row.length, inputs[i].length);
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, `input ${i}: weights sum to 1`);
      }
    });
    assert.equal(model.predict(inputs, { strategy: 'beam', beamWidth: 3, maxLength: 7 })[0].attention, undefined, 'not asked, not returned');
    const plain = MODEL_CASES.find((k) => k.name.includes("'initial-state'"))!.make() as EncoderDecoder;
    assert.throws(() => plain.predict(inputs, { attention: true }), (e: Error) => e instanceof RangeError && /attention/.test(e.message));
  });

  it('async inference leaves the event loop turns between its native calls', async function () {
    const c = MODEL_CASES.find((k) => k.name.includes("'luong-general'"))!;
    const model = c.make() as EncoderDecoder;
    let turned = false;
    setImmediate(() => { turned = true; });
    await model.predictAsync(c.data(1, 10).map((e) => (e as EncoderDecoderExample).input), { maxLength: 5 });
    assert.ok(turned, 'a setImmediate callback ran before predictAsync resolved');
  });

  it('async inferences on one model queue; sync use and fit meanwhile are refused; fit callbacks may predict', async function () {
    const c = MODEL_CASES.find((k) => k.name.includes("'bahdanau'"))!;
    const model = c.make() as EncoderDecoder;
    const data = c.data(2, 20) as EncoderDecoderExample[];
    const inputs = data.map((e) => e.input);
    const expected = model.predict(inputs, { maxLength: 6 });
    const first = model.predictAsync(inputs, { maxLength: 6 });
    const second = model.predictAsync(inputs, { maxLength: 6 });
    assert.throws(() => model.predict(inputs), (e: Error & { code?: string }) => e.code === 'ERR_RNNKIT_BUSY');
    await assert.rejects(model.fit(data, { epochs: 1 }), (e: Error & { code?: string }) => e.code === 'ERR_RNNKIT_BUSY');
    assert.deepEqual(await first, expected);
    assert.deepEqual(await second, expected);
    let inside: unknown = null;
    await model.fit(data, { epochs: 1, onEpochEnd: async () => { inside = await model.predictAsync(inputs, { maxLength: 6 }); } });
    assert.deepEqual(inside, model.predict(inputs, { maxLength: 6 }), 'predictAsync inside onEpochEnd ran, with the trained weights');
  });

  it('ManyToMany: stepAsync and generateAsync equal step and generate', async function () {
    const model = new ManyToMany({
      input: { type: 'tokens', vocabSize: 9, embeddingSize: 4 }, recurrent: { cell: 'lstm', hiddenSize: 7, numLayers: 2 },
      output: { type: 'classes', numClasses: 9 }, seed: 3,
    });
    const a = model.step([1, 4, 8]);
    const b = await model.stepAsync([1, 4, 8]);
    assert.deepEqual(b, a);
    assert.deepEqual(await model.stepAsync([2, 2, 0], b.state), model.step([2, 2, 0], a.state));
    for (const options of [{ maxLength: 12 }, { strategy: 'beam' as const, beamWidth: 4, maxLength: 12, endToken: 0 }, { strategy: 'sample' as const, seed: 9, maxLength: 12 }]) {
      assert.deepEqual(await model.generateAsync([3, 5, 7], options), model.generate([3, 5, 7], options), JSON.stringify(options));
    }
  });

  describe('beam search over a batch', function () {
    // A decoder in pure JS whose next-token distribution is a fixed function of a row's input and history,
    // so one row's numbers cannot depend on the others and both searches add the same floats in the same order.
    interface ToyState { inputs: Int32Array; histories: number[][] }
    const V = 6, END = 1;
    let stepsRun = 0;
    const rowsPerStep: number[] = [];
    const toy: StepDecoder<ToyState> = {
      vocabSize: V,
      *step(tokens: Int32Array, state: ToyState): Inference<{ logProbs: Float32Array; state: ToyState }> {
        stepsRun++;
        rowsPerStep.push(tokens.length);
        const histories = state.histories.map((h, r) => [...h, tokens[r]]);
        const logProbs = new Float32Array(tokens.length * V);
        histories.forEach((h, r) => {
          const seed = h.reduce((a, t) => (Math.imul(a, 31) + t + 7) >>> 0, state.inputs[r] + 1);
          const random = testRandom(seed);
          const logits = Array.from({ length: V }, (_, v) => random.uniform(-2, 2) + (v === END ? 0.15 * h.length : 0));
          const max = Math.max(...logits), z = Math.log(logits.reduce((a, l) => a + Math.exp(l - max), 0)) + max;
          logits.forEach((l, v) => { logProbs[r * V + v] = l - z; });
        });
        return { logProbs, state: { inputs: state.inputs, histories } };
      },
      select: (s, rows) => ({ inputs: Int32Array.from(rows, (r) => s.inputs[r]), histories: Array.from(rows, (r) => s.histories[r]) }),
      reorder: (s, rows) => ({ inputs: s.inputs, histories: Array.from(rows, (r) => s.histories[r]) }),
    };

    /** The textbook search for one input, one hypothesis per row, no fixed slots, always to maxLength. */
    function reference(input: number, width: number, maxLength: number, alpha: number) {
      let beams = [{ tokens: [] as number[], logProb: 0 }];
      let state: ToyState = { inputs: Int32Array.of(input), histories: [[]] };
      const finished: Array<{ h: { tokens: number[]; logProb: number }; score: number }> = [];
      const score = (h: { logProb: number }, n: number) => h.logProb / Math.pow(Math.max(1, n), alpha);
      for (let t = 0; t < maxLength && beams.length > 0; t++) {
        const last = Int32Array.from(beams, (h) => (h.tokens.length ? h.tokens[h.tokens.length - 1] : 0));
        const stepped = runSync(toy.step(last, state));
        const candidates: Array<{ beam: number; token: number; logProb: number }> = [];
        beams.forEach((h, i) => {
          const row = Array.from(stepped.logProbs.subarray(i * V, (i + 1) * V));
          const best = row.map((_, v) => v).sort((a, b) => row[b] - row[a]).slice(0, width);
          for (const token of best) candidates.push({ beam: i, token, logProb: h.logProb + row[token] });
        });
        candidates.sort((a, b) => b.logProb - a.logProb);
        const next: typeof beams = [], rows: number[] = [];
        for (const c of candidates.slice(0, width)) {
          if (c.token === END) finished.push({ h: { tokens: beams[c.beam].tokens, logProb: c.logProb }, score: score(c, beams[c.beam].tokens.length + 1) });
          else { next.push({ tokens: [...beams[c.beam].tokens, c.token], logProb: c.logProb }); rows.push(c.beam); }
        }
        beams = next;
        state = toy.select(stepped.state, Int32Array.from(rows));
      }
      for (const h of beams) finished.push({ h, score: score(h, h.tokens.length) });
      return finished.sort((a, b) => b.score - a.score).map((f) => f.h);
    }

    for (const [width, maxLength, alpha] of [[1, 8, 1], [3, 8, 1], [4, 5, 0], [6, 10, 0.7]]) {
      it(`width ${width}, maxLength ${maxLength}, alpha ${alpha}: every input's best hypothesis is the full one-input search's`, function () {
        const inputs = randomTokens(testRandom(width * 10 + maxLength), 17, 0, 1000);
        const initial: ToyState = { inputs: Int32Array.from(inputs), histories: inputs.map(() => []) };
        const batched = runSync(beamSearch(toy, initial, inputs.length, { startToken: 0, endToken: END, maxLength, width, lengthPenalty: alpha }));
        inputs.forEach((input, b) => assert.deepEqual(batched[b][0], reference(input, width, maxLength, alpha)[0], `input ${b}`));
      });
    }

    it('runs the first step on one row per input, and inputs that stopped leave the state', function () {
      const maxLength = 12, width = 4;
      const inputs = randomTokens(testRandom(91), 40, 0, 1000);
      rowsPerStep.length = 0;
      const batched = runSync(beamSearch(toy, { inputs: Int32Array.from(inputs), histories: inputs.map(() => []) }, inputs.length,
        { startToken: 0, endToken: END, maxLength, width, lengthPenalty: 1 }));
      const rows = [...rowsPerStep];
      inputs.forEach((input, b) => assert.deepEqual(batched[b][0], reference(input, width, maxLength, 1)[0], `input ${b}`));
      assert.equal(rows[0], inputs.length);
      assert.equal(rows[1], inputs.length * width);
      for (let t = 2; t < rows.length; t++) assert.ok(rows[t] <= rows[t - 1], `rows per step: ${rows.join(', ')}`);
      assert.ok(rows[rows.length - 1] < inputs.length * width, `rows per step: ${rows.join(', ')}`);
    });

    it('stops an input once no live beam can overtake its best finished one, and not before', function () {
      const maxLength = 30, width = 3;
      const inputs = randomTokens(testRandom(77), 12, 0, 1000);
      const steps = inputs.map((input) => {
        const before = stepsRun;
        const [best] = runSync(beamSearch(toy, { inputs: Int32Array.of(input), histories: [[]] }, 1,
          { startToken: 0, endToken: END, maxLength, width, lengthPenalty: 1 }))[0];
        assert.deepEqual(best, reference(input, width, maxLength, 1)[0], `input ${input}`);
        return stepsRun - before;
      });
      assert.ok(steps.some((n) => n < maxLength), `steps per input: ${steps.join(', ')}`);
    });
  });

  it('runAsync runs light calls on the JS thread and the others on workers, and returns each result', async function () {
    const used: string[] = [];
    const call = (name: string, light: boolean): LayerCall<string> => ({
      sync: () => { used.push(`${name} sync`); return name; },
      async: async () => { used.push(`${name} async`); return name; },
      light,
    });
    function* work(): Inference<string> {
      const a = yield* run(call('lookup', true));
      const b = yield* run(call('step', false));
      return a + b;
    }
    assert.equal(await runAsync(work()), 'lookupstep');
    assert.deepEqual(used, ['lookup sync', 'step async']);
  });
});
