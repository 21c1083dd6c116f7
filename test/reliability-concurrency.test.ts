// Concurrency: overlapping async calls on one layer, optimizer or model are
// refused with ERR_RNNKIT_BUSY (never interleaved), the one call that runs
// gives exactly the serial result, and the object works normally afterwards;
// independent objects run their calls at the same time and each still gets
// its serial result bit for bit (no shared state in the native code).

import assert from 'node:assert/strict';
import { Adam, AttentionDecoder, GRU, LSTM, Linear, ManyToMany, RnnkitError, SGD, type Recurrent, type Tensor } from '../lib';
import { sameBits } from './helpers/fuzz';

function filled(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1.3 + i * 0.61));
}

function tensor(shape: number[], seed: number): Tensor {
  return { data: filled(shape.reduce((a, b) => a * b, 1), seed), shape };
}

/** Settles every promise; returns the fulfilled values and the rejection codes. */
async function settleAll<T>(calls: Array<Promise<T>>): Promise<{ values: T[]; codes: string[] }> {
  const results = await Promise.allSettled(calls);
  const values: T[] = [], codes: string[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') values.push(r.value);
    else {
      assert.ok(r.reason instanceof RnnkitError, `rejected with ${String(r.reason)}`);
      codes.push(r.reason.code);
    }
  }
  return { values, codes };
}

function tokenData(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const input = Array.from({ length: 3 + (i % 5) }, (_, t) => (i * 7 + t * 3) % 8);
    return { input, target: input.map((v) => (v + 1) % 8) };
  });
}

function makeModel(): ManyToMany {
  return new ManyToMany({ input: { type: 'tokens', vocabSize: 8, embeddingSize: 4 }, recurrent: { cell: 'gru', hiddenSize: 12, numLayers: 2 },
    output: { type: 'classes', numClasses: 8 }, seed: 3 });
}

describe('reliability: concurrency', function () {
  this.timeout(120000);

  it('50 overlapping forwardAsync calls on one GRU: one runs and equals the sync result, 49 are refused with ERR_RNNKIT_BUSY', async function () {
    const layer = new GRU({ inputSize: 6, hiddenSize: 16, numLayers: 2, seed: 1 });
    const x = tensor([40, 8, 6], 1);
    const expected = layer.forward(x, { training: true }).output.data;
    const params = layer.parameters.slice();
    const { values, codes } = await settleAll(Array.from({ length: 50 }, () => layer.forwardAsync(x, { training: true })));
    assert.equal(values.length, 1);
    assert.deepEqual(codes, new Array(49).fill('ERR_RNNKIT_BUSY'));
    assert.ok(sameBits(values[0].output.data, expected));
    assert.ok(sameBits(layer.parameters, params));
    // And backward still differentiates the one forward that ran, as a serial run would.
    const serial = new GRU({ inputSize: 6, hiddenSize: 16, numLayers: 2, seed: 1 });
    serial.forward(x, { training: true });
    const dOutput = tensor([40, 8, 16], 2);
    serial.backward({ dOutput });
    const back = await settleAll<unknown>([layer.backwardAsync({ dOutput }), layer.backwardAsync({ dOutput }), layer.forwardAsync(x)]);
    assert.equal(back.values.length, 1);
    assert.ok(sameBits(layer.gradients, serial.gradients), 'gradients equal a serial run');
  });

  it('while an async call runs, every other use of the layer is refused and nothing changes; afterwards it works', async function () {
    const layer = new LSTM({ inputSize: 4, hiddenSize: 8, seed: 2 });
    const x = tensor([30, 4, 4], 3);
    const running = layer.forwardAsync(x, { training: true });
    const params = layer.parameters.slice();
    const uses: Record<string, () => unknown> = {
      forward: () => layer.forward(x), backward: () => layer.backward({}), stateDict: () => layer.stateDict(),
      loadStateDict: () => layer.loadStateDict(layer.stateDict()), zeroGrad: () => layer.zeroGrad(),
      resetParameters: () => layer.resetParameters(), dispose: () => layer.dispose(),
    };
    for (const [name, use] of Object.entries(uses)) {
      assert.throws(use, (e: unknown) => e instanceof RnnkitError && e.code === 'ERR_RNNKIT_BUSY', name);
    }
    await running;
    assert.ok(sameBits(layer.parameters, params));
    layer.backward({});
    layer.dispose();
  });

  it('Linear, AttentionDecoder and optimizers refuse overlapping async calls the same way', async function () {
    const linear = new Linear({ inFeatures: 5, outFeatures: 3, seed: 1 });
    const lx = tensor([64, 5], 4);
    const l = await settleAll(Array.from({ length: 20 }, () => linear.forwardAsync(lx)));
    assert.equal(l.values.length, 1);
    assert.ok(sameBits(l.values[0].data, linear.forward(lx).data));

    const dec = new AttentionDecoder({ cell: 'gru', attention: 'bahdanau', inputSize: 3, memorySize: 4, hiddenSize: 5, seed: 1 });
    const dx = tensor([6, 2, 3], 5), memory = tensor([7, 2, 4], 6);
    const d = await settleAll(Array.from({ length: 20 }, () => dec.forwardAsync(dx, memory)));
    assert.equal(d.values.length, 1);
    assert.ok(sameBits(d.values[0].output.data, dec.forward(dx, memory).output.data));

    for (const make of [() => new Adam({ lr: 0.01 }), () => new SGD({ lr: 0.1, momentum: 0.9 })]) {
      const opt = make(), serial = make();
      const params = filled(1000, 7), grads = filled(1000, 8), serialParams = params.slice();
      const o = await settleAll(Array.from({ length: 20 }, () => opt.stepAsync(params, grads)));
      assert.equal(o.values.length, 1);
      assert.deepEqual(o.codes, new Array(19).fill('ERR_RNNKIT_BUSY'));
      serial.step(serialParams, grads);
      assert.ok(sameBits(params, serialParams), 'exactly one step was taken');
      assert.equal(opt.stepCount, 1);
    }
  });

  it('10 overlapping fit/evaluate calls on one model: one runs, the rest are refused, and the weights equal a serial run', async function () {
    const data = tokenData(24);
    const model = makeModel(), serial = makeModel();
    const options = { epochs: 2, batchSize: 4, seed: 5, optimizer: { type: 'adam' as const, lr: 0.01 } };
    const calls: Array<Promise<unknown>> = [model.fit(data, options)];
    for (let i = 0; i < 9; i++) calls.push(i % 2 ? model.fit(data, options) : model.evaluate(data));
    const { values, codes } = await settleAll(calls);
    assert.equal(values.length, 1);
    assert.deepEqual(codes, new Array(9).fill('ERR_RNNKIT_BUSY'));
    await serial.fit(data, options);
    assert.ok(sameBits(model.parameters, serial.parameters), 'the weights equal those of one serial fit');
  });

  // Library bug: SequenceModel.loadStateDict copied the weights, let a module refuse, then wrote the copy
  // back, over weights the optimizer's thread was updating: a refused call could undo part of a step.
  it('a loadStateDict refused during training writes nothing to the weights', async function () {
    const model = makeModel();
    const weights = model.stateDict();
    const parameters = model.parameters;
    let writes = 0;
    const set = parameters.set.bind(parameters);
    parameters.set = ((...args: Parameters<Float32Array['set']>) => { writes++; set(...args); }) as Float32Array['set'];
    let refused = 0, attempts = 0;
    const training = model.fit(tokenData(16), { epochs: 2, batchSize: 4, seed: 2 });
    const poke = setInterval(() => {
      const before = writes;
      attempts++;
      try {
        model.loadStateDict(weights);
      } catch (error) {
        assert.equal((error as RnnkitError).code, 'ERR_RNNKIT_BUSY');
        refused++;
      }
      assert.equal(writes, before, 'the refused call wrote to the parameters');
    }, 0);
    try {
      await training;
    } finally {
      clearInterval(poke);
    }
    assert.ok(refused > 0 && refused === attempts, `refused ${refused} of ${attempts}`);
  });

  it('while a model trains, outside code cannot predict, save, load weights, zero gradients or dispose it (ERR_RNNKIT_BUSY), but its callbacks can', async function () {
    const data = tokenData(32);
    const model = makeModel(), serial = makeModel();
    const weights = model.stateDict();
    const refused = new Map<string, number>();
    let inCallback = 0;
    const options = {
      epochs: 2, batchSize: 4, seed: 9,
      onBatchEnd: () => { model.predict([[1, 2, 3]]); inCallback++; },
      onEpochEnd: () => { model.stateDict(); inCallback++; },
    };
    const training = model.fit(data, options);
    const poke = setInterval(() => {
      const uses: Record<string, () => unknown> = {
        predict: () => model.predict([[1, 2]]), stateDict: () => model.stateDict(), loadStateDict: () => model.loadStateDict(weights),
        zeroGrad: () => model.zeroGrad(), generate: () => model.generate([1], { maxLength: 2 }), step: () => model.step([1]),
        dispose: () => model.dispose(),
      };
      for (const [name, use] of Object.entries(uses)) {
        try {
          use();
          assert.fail(`${name} was accepted during fit`);
        } catch (error) {
          assert.equal((error as RnnkitError).code, 'ERR_RNNKIT_BUSY', `${name}: ${String(error)}`);
          refused.set(name, (refused.get(name) ?? 0) + 1);
        }
      }
    }, 0);
    try {
      await training;
    } finally {
      clearInterval(poke);
    }
    assert.ok([...refused.values()].every((n) => n > 0) && refused.size === 7, `refused: ${JSON.stringify([...refused])}`);
    assert.equal(inCallback, 16 + 2, 'every callback could use the model');
    await serial.fit(data, { epochs: 2, batchSize: 4, seed: 9 });
    assert.ok(sameBits(model.parameters, serial.parameters), 'training was not disturbed');
    model.predict([[1, 2]]);  // usable again
  });

  it('zeroGradAsync sets every gradient to +0 (NaN and infinities too) off the JS thread, and is refused while the model trains', async function () {
    const model = makeModel();
    model.gradients.fill(Number.NaN);
    model.gradients[0] = Infinity;
    model.gradients[1] = -0;
    const zeroing = model.zeroGradAsync();
    assert.throws(() => model.predict([[1, 2]]), { code: 'ERR_RNNKIT_BUSY' });  // the layers are busy meanwhile
    await zeroing;
    assert.ok(model.gradients.every((g) => Object.is(g, 0)), 'every gradient is +0');
    const training = model.fit(tokenData(8), { epochs: 1, batchSize: 4, seed: 1 });
    await assert.rejects(model.zeroGradAsync(), { code: 'ERR_RNNKIT_BUSY' });
    await training;
  });

  it('independent layers and models run concurrently and each equals its serial run bit for bit', async function () {
    const makers: Array<() => Recurrent> = [
      () => new GRU({ inputSize: 5, hiddenSize: 32, numLayers: 2, bidirectional: true, seed: 1 }),
      () => new LSTM({ inputSize: 5, hiddenSize: 24, numLayers: 3, seed: 2 }),
      () => new GRU({ inputSize: 5, hiddenSize: 64, seed: 3 }),
      () => new LSTM({ inputSize: 5, hiddenSize: 48, bidirectional: true, seed: 4 }),
    ];
    const x = tensor([60, 16, 5], 10);
    const serial = makers.map((make) => {
      const layer = make();
      const out = layer.forward(x, { training: true });
      layer.backward({ dOutput: { data: filled(out.output.data.length, 11), shape: out.output.shape } });
      return { output: out.output.data, grads: layer.gradients.slice() };
    });
    for (let round = 0; round < 5; round++) {
      const layers = [...makers, ...makers].map((make) => make());
      await Promise.all(layers.map(async (layer, i) => {
        const out = await layer.forwardAsync(x, { training: true });
        await layer.backwardAsync({ dOutput: { data: filled(out.output.data.length, 11), shape: out.output.shape } });
        const s = serial[i % makers.length];
        assert.ok(sameBits(out.output.data, s.output), `round ${round}, layer ${i}: output`);
        assert.ok(sameBits(layer.gradients, s.grads), `round ${round}, layer ${i}: gradients`);
      }));
    }
    const data = tokenData(16);
    const models = Array.from({ length: 4 }, () => makeModel());
    await Promise.all(models.map((m) => m.fit(data, { epochs: 1, batchSize: 4, seed: 1 })));
    const one = makeModel();
    await one.fit(data, { epochs: 1, batchSize: 4, seed: 1 });
    for (const m of models) assert.ok(sameBits(m.parameters, one.parameters), 'each model trained as if alone');
  });
});
