// Streaming inference: ManyToMany.step() fed one step at a time gives the
// per-step outputs of one forward pass over the whole sequence, for every
// cell and for stacked layers; predict() agrees with the function training
// optimises, including for bidirectional stacks, which cannot stream.

import assert from 'node:assert/strict';
import { ManyToMany, logSoftmax, type ManyToManyOptions, type Tensor } from '../lib';
import { randomTokens, randomVectors, testRandom } from './helpers/structures';

/** One forward over the whole sequence (batch of 1) through the model's own layers: outputs [T, width]. */
function fullForward(model: ManyToMany, input: number[] | number[][], classes: boolean): Float32Array[] {
  const T = input.length;
  const x: Tensor = model.encoder.input.embedding
    ? model.encoder.input.embedding.forward(Int32Array.from(input as number[]), [T, 1])
    : { data: Float32Array.from((input as number[][]).flat()), shape: [T, 1, model.encoder.input.size] };
  const out = model.encoder.rnn.forward(x);
  const y = model.head.forward(out.output);
  const values = classes ? logSoftmax(y).data.map(Math.exp) : y.data;
  const width = model.head.outFeatures;
  return Array.from({ length: T }, (_, t) => values.slice(t * width, (t + 1) * width));
}

function assertSameValues(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  // Every forward product is batch-invariant per row (native/kernels/rows_gemm.h), so T calls of
  // one step and one call of T steps give the same bits.
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('structures: streaming with ManyToMany.step()', function () {
  const configs: Array<{ what: string; options: ManyToManyOptions; classes: boolean }> = [
    { what: 'tokens -> classes, 2-layer LSTM', classes: true, options: {
      input: { type: 'tokens', vocabSize: 7, embeddingSize: 4 }, recurrent: { cell: 'lstm', hiddenSize: 6, numLayers: 2 }, output: { type: 'classes', numClasses: 5 }, seed: 1 } },
    { what: 'features -> real, GRU', classes: false, options: {
      input: { type: 'features', size: 3 }, recurrent: { cell: 'gru', hiddenSize: 5 }, output: { type: 'real', size: 2 }, seed: 2 } },
    { what: 'features -> classes, 3-layer RNN (relu), with truncation', classes: true, options: {
      input: { type: 'features', size: 2 }, recurrent: { cell: 'rnn', nonlinearity: 'relu', hiddenSize: 4, numLayers: 3 }, output: { type: 'classes', numClasses: 3 }, truncation: 2, seed: 3 } },
  ];

  for (const c of configs) {
    it(`${c.what}: step() over a sequence equals the per-step outputs of a full forward, and predict() agrees`, function () {
      const model = new ManyToMany(c.options);
      const r = testRandom(5);
      const tokens = c.options.input.type === 'tokens';
      const sequences = [9, 1, 4].map((n) => (tokens ? randomTokens(r, n, 0, 7) : randomVectors(r, n, (c.options.input as { size: number }).size)));
      for (const seq of sequences) {
        const full = fullForward(model, seq, c.classes);
        let state: ReturnType<ManyToMany['step']>['state'] | undefined;
        seq.forEach((x, t) => {
          const stepped = model.step([x as number], state);
          state = stepped.state;
          assertSameValues(stepped.outputs, full[t], `step ${t}`);
        });
        const [predicted] = model.predict([seq]);
        const expected = full.map((v) => (c.classes ? v.indexOf(Math.max(...v)) : Array.from(v)));
        if (c.classes) assert.deepEqual(predicted, expected);
        else (predicted as number[][]).forEach((v, t) => assertSameValues(v, expected[t] as number[], `predict step ${t}`));
      }
    });
  }

  it('step() runs a batch of streams at once, each as if alone', function () {
    const model = new ManyToMany(configs[0].options);
    const r = testRandom(6);
    const a = randomTokens(r, 5, 0, 7), b = randomTokens(r, 5, 0, 7);
    let both: ReturnType<ManyToMany['step']>['state'] | undefined, alone: ReturnType<ManyToMany['step']>['state'] | undefined;
    for (let t = 0; t < 5; t++) {
      const pair = model.step([a[t], b[t]], both);
      const single = model.step([b[t]], alone);
      both = pair.state;
      alone = single.state;
      assertSameValues(pair.outputs.subarray(5, 10), single.outputs, `stream b at step ${t}`);
    }
  });

  it('predict() of a bidirectional ManyToMany is the function it trains: each step sees the whole sequence', function () {
    for (const output of [{ type: 'real' as const, size: 3 }, { type: 'classes' as const, numClasses: 3 }]) {
      const model = new ManyToMany({
        input: { type: 'features', size: 2 }, recurrent: { cell: 'gru', hiddenSize: 5, numLayers: 2, bidirectional: true }, output, seed: 4,
      });
      const r = testRandom(7);
      const sequences = [6, 1, 3].map((n) => randomVectors(r, n, 2));
      const predicted = model.predict(sequences);
      sequences.forEach((seq, i) => {
        const full = fullForward(model, seq, output.type === 'classes');
        if (output.type === 'real') {
          (predicted[i] as number[][]).forEach((v, t) => assertSameValues(v, full[t], `sequence ${i}, step ${t}`));
        } else {
          assert.deepEqual(predicted[i], full.map((v) => v.indexOf(Math.max(...v))));
        }
      });
    }
  });

  it('step() and generate() refuse a bidirectional model, which cannot run one step at a time', function () {
    const model = new ManyToMany({
      input: { type: 'tokens', vocabSize: 4, embeddingSize: 4 }, recurrent: { cell: 'gru', hiddenSize: 3, bidirectional: true },
      output: { type: 'classes', numClasses: 4 }, seed: 4,
    });
    assert.throws(() => model.step([1]), (e: unknown) => e instanceof TypeError && /bidirectional/.test(e.message));
    assert.throws(() => model.generate([1, 2]), (e: unknown) => e instanceof TypeError && /bidirectional/.test(e.message));
  });

  it('step() refuses a state of the wrong shape, naming it', function () {
    const model = new ManyToMany(configs[0].options);
    const { state } = model.step([1, 2]);
    assert.throws(() => model.step([1], state), (e: unknown) => e instanceof RangeError && /h0/.test(e.message));
    assert.throws(() => model.step(7 as never), (e: unknown) => e instanceof TypeError && /inputs/.test(e.message));
    assert.throws(() => model.step([9]), (e: unknown) => e instanceof RangeError && /inputs\[0\]/.test(e.message));
  });
});
