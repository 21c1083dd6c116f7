// Resource limits: every size that would need more memory than a cap is
// refused with a coded RangeError before anything big is allocated, quickly:
// recurrent and attention workspaces (workspaceLimitBytes, default 4 GiB),
// outputs and parameter buffers past 2^31-1 elements (Linear, Embedding,
// recurrent layers, structures), and a model file whose config asks for more
// parameters than the file holds.

import assert from 'node:assert/strict';
import { AttentionDecoder, EncoderDecoder, Embedding, GRU, LSTM, Linear, ManyToMany, RNN, encodeSafetensors, loadModel, type Tensor } from '../lib';

/** Runs `run`, which must throw a coded RangeError matching `pattern`, fast and without allocating much. */
function refusedCheaply(run: () => unknown, pattern: RegExp, code = 'ERR_RNNKIT_VALUE'): void {
  const before = process.memoryUsage().arrayBuffers;
  const started = process.hrtime.bigint();
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof RangeError, `expected a RangeError, got ${String(e)}`);
    assert.equal((e as RangeError & { code: string }).code, code, (e as Error).message);
    assert.match((e as Error).message, pattern);
    return true;
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const grew = (process.memoryUsage().arrayBuffers - before) / 1048576;
  assert.ok(ms < 1000, `refused after ${ms.toFixed(0)} ms`);
  assert.ok(grew < 64, `allocated ${grew.toFixed(0)} MiB before refusing`);
}

function zeros(shape: number[]): Tensor {
  return { data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape };
}

describe('reliability: resource limits', function () {
  this.timeout(60000);

  it('a recurrent forward whose workspace exceeds the default 4 GiB is refused before its outputs are allocated', function () {
    // x is 8 MiB; the outputs would be 1 GiB and the workspace ~10 GiB.
    const layer = new LSTM({ inputSize: 1, hiddenSize: 128, numLayers: 2 });
    const x = zeros([32768, 64, 1]);
    for (const training of [true, false]) {
      refusedCheaply(() => layer.forward(x, { training }), /^workspace: T=32768, B=64 needs .* MiB, above the limit of 4096\.0+ MiB \(raise workspaceLimitBytes/);
    }
    assert.ok(layer.forward(zeros([4, 2, 1])).output.data.length > 0, 'the layer still works');
  });

  it('workspaceLimitBytes is configurable both ways, and the refusal leaves weights and the pending backward alone', function () {
    const x = zeros([50, 8, 3]);
    const small = new GRU({ inputSize: 3, hiddenSize: 16, workspaceLimitBytes: 64 * 1024 });
    small.forward(zeros([2, 1, 3]), { training: true });
    const params = small.parameters.slice();
    refusedCheaply(() => small.forward(x, { training: true }), /workspaceLimitBytes/);
    small.backward({});  // the earlier training forward is still the one recorded
    assert.deepEqual(small.parameters, params);
    const roomy = new GRU({ inputSize: 3, hiddenSize: 16, workspaceLimitBytes: 1e9 });
    assert.equal(roomy.forward(x, { training: true }).output.shape[0], 50);
    for (const bad of [0, -1, NaN, '1e9']) {
      assert.throws(() => new GRU({ inputSize: 3, hiddenSize: 16, workspaceLimitBytes: bad as number }), /workspaceLimitBytes/);
    }
  });

  it('recurrent shapes whose tensors pass 2^31-1 elements are refused with a coded RangeError', function () {
    const layer = new RNN({ inputSize: 1, hiddenSize: 1024, workspaceLimitBytes: Number.MAX_VALUE });
    refusedCheaply(() => layer.forward(zeros([1 << 18, 16, 1])), /^output: .*2\^31-1/);
  });

  it('an AttentionDecoder whose workspace exceeds workspaceLimitBytes (default 4 GiB) is refused at once, not computed', function () {
    const dec = new AttentionDecoder({ cell: 'gru', attention: 'bahdanau', inputSize: 2, memorySize: 3, hiddenSize: 3 });
    const x = zeros([1000, 100, 2]), memory = zeros([3000, 100, 3]);
    for (const training of [true, false]) {
      refusedCheaply(() => dec.forward(x, memory, { training }), /^workspace: M=1000, N=3000, B=100 needs .* above the limit of 4096\.0+ MiB/);
    }
    const tight = new AttentionDecoder({ cell: 'lstm', attention: 'luong-general', inputSize: 2, memorySize: 3, hiddenSize: 3, workspaceLimitBytes: 4096 });
    refusedCheaply(() => tight.step(zeros([1, 8, 2]), zeros([40, 8, 3]), undefined), /workspaceLimitBytes/);
    assert.throws(() => new AttentionDecoder({ cell: 'gru', attention: 'luong-dot', inputSize: 1, memorySize: 2, hiddenSize: 2, workspaceLimitBytes: -5 }), /workspaceLimitBytes/);
  });

  it('Linear and Embedding outputs past 2^31-1 elements are refused before allocation, naming the sizes', function () {
    const linear = new Linear({ inFeatures: 1, outFeatures: 65536 });
    refusedCheaply(() => linear.forward(zeros([65536, 1])), /^output of \[65536, outFeatures=65536\]: 4294967296 elements/);
    const embedding = new Embedding({ numEmbeddings: 4, embeddingDim: 65536 });
    refusedCheaply(() => embedding.forward(new Int32Array(65536), [65536]), /^output of \[65536 ids, embeddingDim=65536\]/);
  });

  it('layers and structures whose parameters would pass 2^31-1 elements are refused in the constructor', function () {
    const cases: Array<() => unknown> = [
      () => new GRU({ inputSize: 1e6, hiddenSize: 1e5 }),
      () => new LSTM({ inputSize: 2 ** 30, hiddenSize: 2 }),
      () => new Linear({ inFeatures: 1e5, outFeatures: 1e5 }),
      () => new Embedding({ numEmbeddings: 2 ** 30, embeddingDim: 16 }),
      () => new AttentionDecoder({ cell: 'lstm', attention: 'bahdanau', inputSize: 1, memorySize: 1, hiddenSize: 30000 }),
      () => new ManyToMany({ input: { type: 'tokens', vocabSize: 2 ** 30, embeddingSize: 8 }, recurrent: { cell: 'gru', hiddenSize: 4 }, output: { type: 'classes', numClasses: 4 } }),
      () => new EncoderDecoder({ input: { type: 'features', size: 4 }, encoder: { cell: 'gru', hiddenSize: 4 }, decoder: { cell: 'lstm', hiddenSize: 40000 },
        output: { vocabSize: 8, embeddingSize: 4, startToken: 0, endToken: 1 } }),
    ];
    for (const make of cases) refusedCheaply(make, /^parameters: \d+ elements .* exceed the 2147483647 \(2\^31-1\)/);
  });

  it('a structure batch whose recurrent workspace passes the cap is refused by fit, with the weights untouched', async function () {
    const model = new ManyToMany({ input: { type: 'tokens', vocabSize: 4, embeddingSize: 2 }, recurrent: { cell: 'gru', hiddenSize: 256 },
      output: { type: 'classes', numClasses: 4 } });
    const long = Array.from({ length: 64 }, () => {
      const input = new Array<number>(8192).fill(1);
      return { input, target: input };
    });
    const before = model.parameters.slice();
    await assert.rejects(model.fit(long, { epochs: 1, batchSize: 64 }), (e: unknown) => e instanceof RangeError && /workspaceLimitBytes/.test((e as Error).message));
    assert.deepEqual(model.parameters, before);
  });

  it('loadModel refuses a config that needs more parameters than the file holds, before allocating them', function () {
    const model = new ManyToMany({ input: { type: 'tokens', vocabSize: 4, embeddingSize: 2 }, recurrent: { cell: 'gru', hiddenSize: 3 }, output: { type: 'classes', numClasses: 4 } });
    const config = model.config() as { recurrent: Record<string, unknown> };
    const bytes = encodeSafetensors(model.stateDict(), { format: 'rnnkit-model', kind: model.kind,
      config: JSON.stringify({ ...config, recurrent: { ...config.recurrent, hiddenSize: 16384 } }) });
    refusedCheaply(() => loadModel(bytes), /^parameters: the config asks for a module of \d+ parameters, but the file being loaded holds \d+/);
  });
});
