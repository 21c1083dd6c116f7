// Child process of test/reliability-memory.test.ts, run as
// `node --expose-gc dist/test/reliability-memory.child.js <mode>`; prints one
// JSON line with its measurements. Modes:
//   steps    10,000 training steps (RNNKIT_MEM_STEPS=N for another count) (GRU forward/backward, Linear, cross-entropy,
//            Adam), sync and async alternating: RSS after warm-up and at the end
//   gc       layers with large native workspaces created and dropped: RSS stays
//            bounded while the event loop turns, and returns after gc()
//   dispose  the same in a synchronous loop with dispose(): bounded without GC;
//            every use after dispose() throws ERR_RNNKIT_DISPOSED
//   pending  layers dropped while their async calls run, with gc() forced:
//            the calls complete correctly and nothing crashes
//   models   the same for whole models (fit, then dropped or dispose()d), and
//            every use of a disposed model throws ERR_RNNKIT_DISPOSED

import { Adam, GRU, LSTM, Linear, ManyToMany, RnnkitError, softmaxCrossEntropy, type ManyToManyExample, type Tensor } from '../lib';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const rssMiB = () => process.memoryUsage().rss / 1048576;

async function settle(): Promise<number> {
  for (let i = 0; i < 3; i++) { gc!(); await tick(); }
  return rssMiB();
}

function filled(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37));
}

async function steps(): Promise<object> {
  const T = 12, B = 8, I = 16, H = 32, V = 10, total = Number(process.env.RNNKIT_MEM_STEPS ?? 10000), warmup = 4000;
  const rnn = new GRU({ inputSize: I, hiddenSize: H, seed: 1 });
  const head = new Linear({ inFeatures: H, outFeatures: V, seed: 2 });
  const opt = new Adam({ lr: 1e-3 }), headOpt = new Adam({ lr: 1e-3 });
  const x: Tensor = { data: filled(T * B * I, 1), shape: [T, B, I] };
  const targets = Int32Array.from({ length: T * B }, (_, i) => i % V);
  const lengths = Int32Array.from({ length: B }, (_, b) => T - (b % 4));
  const samples: number[] = [];
  let base = 0;
  // Warm every libuv pool thread too: each one's first BLAS call sets up per-thread buffers once.
  const warmers = Array.from({ length: 32 }, (_, i) => new GRU({ inputSize: I, hiddenSize: H, seed: i }));
  await Promise.all(warmers.map((g) => g.forwardAsync(x, { training: true }).then(() => g.backwardAsync({}))));
  for (let s = 1; s <= total; s++) {
    const async = s % 2 === 0;
    rnn.zeroGrad(); head.zeroGrad();
    const out = async ? await rnn.forwardAsync(x, { training: true, lengths }) : rnn.forward(x, { training: true, lengths });
    const y = async ? await head.forwardAsync(out.output, { training: true }) : head.forward(out.output, { training: true });
    const loss = softmaxCrossEntropy(y, targets);
    const dOutput = async ? await head.backwardAsync(loss.dLogits) : head.backward(loss.dLogits);
    if (async) await rnn.backwardAsync({ dOutput }); else rnn.backward({ dOutput });
    if (async) { await opt.stepAsync(rnn.parameters, rnn.gradients); await headOpt.stepAsync(head.parameters, head.gradients); }
    else { opt.step(rnn.parameters, rnn.gradients); headOpt.step(head.parameters, head.gradients); }
    if (!Number.isFinite(loss.loss)) throw new Error(`non-finite loss at step ${s}`);
    if (s === warmup) base = [await settle(), await settle(), await settle()].sort((a, b) => a - b)[1];
    if (s > warmup && s % 1000 === 0) samples.push(await settle());
  }
  // Median of the last three samples against the settled value at the end of warm-up (V8's heap breathes by a MiB or two).
  const end = [...samples.slice(-3)].sort((a, b) => a - b)[1];
  return { steps: total, warmup, baseMiB: base, endMiB: end, maxMiB: Math.max(...samples), growth: (end - base) / base, samples };
}

/** Layers whose training workspace is large next to their JS footprint. */
function bigLayer(): { layer: LSTM; x: Tensor } {
  const T = 100, B = 32, I = 2;
  return { layer: new LSTM({ inputSize: I, hiddenSize: 32, numLayers: 2, bidirectional: true }), x: { data: filled(T * B * I, 3), shape: [T, B, I] } };
}

async function collected(): Promise<object> {
  const base = await settle();
  const probe = bigLayer();
  const workspaceMiB = (probe.layer as unknown as { stack: { workspaceBytes(T: number, B: number): number } }).stack.workspaceBytes(100, 32) / 1048576;
  probe.layer.dispose();
  let peak = 0;
  const layers = 60;
  for (let i = 0; i < layers; i++) {
    const { layer, x } = bigLayer();
    layer.forward(x, { training: true });
    await tick();  // finalizers of collected layers run between turns of the loop
    peak = Math.max(peak, rssMiB());
  }
  const end = await settle();
  return { layers, workspaceMiB, baseMiB: base, peakMiB: peak, endMiB: end, leakedIfKeptMiB: layers * workspaceMiB };
}

async function disposed(): Promise<object> {
  const base = await settle();
  let peak = 0;
  const layers = 60;
  for (let i = 0; i < layers; i++) {
    const { layer, x } = bigLayer();
    layer.forward(x, { training: true });
    layer.dispose();  // no GC and no turn of the event loop in this loop: only dispose() frees
    peak = Math.max(peak, rssMiB());
  }
  const { layer, x } = bigLayer();
  layer.forward(x, { training: true });
  layer.dispose();
  layer.dispose();  // harmless twice
  const refused: Record<string, string> = {};
  const attempts: Record<string, () => unknown> = {
    forward: () => layer.forward(x), backward: () => layer.backward({}), stateDict: () => layer.stateDict(),
    loadStateDict: () => layer.loadStateDict(layer.stateDict()), zeroGrad: () => layer.zeroGrad(), resetParameters: () => layer.resetParameters(),
  };
  for (const [name, run] of Object.entries(attempts)) {
    try { run(); refused[name] = 'accepted'; } catch (error) { refused[name] = `${(error as RnnkitError).code}: ${(error as Error).message}`; }
  }
  try { await layer.forwardAsync(x); refused.forwardAsync = 'accepted'; } catch (error) { refused.forwardAsync = `${(error as RnnkitError).code}: ${(error as Error).message}`; }
  return { layers, baseMiB: base, peakMiB: peak, refused };
}

/** A model whose training batch needs a large native workspace (~20 MiB). */
function bigModel(): { model: ManyToMany; data: ManyToManyExample[] } {
  const model = new ManyToMany({ input: { type: 'features', size: 2 }, recurrent: { cell: 'lstm', hiddenSize: 32, numLayers: 2, bidirectional: true },
    output: { type: 'real', size: 1 } });
  const data = Array.from({ length: 32 }, (_, i) => ({ input: Array.from({ length: 100 }, (_, t) => [Math.sin(i + t), 0.5]), target: Array.from({ length: 100 }, () => [0]) }));
  return { model, data };
}

async function models(): Promise<object> {
  const base = await settle();
  let peakCollected = 0, peakDisposed = 0;
  const count = 20;
  for (let i = 0; i < count; i++) {  // dropped: freed by GC while the loop turns
    const { model, data } = bigModel();
    await model.fit(data, { epochs: 1, batchSize: 32 });
    peakCollected = Math.max(peakCollected, rssMiB());
  }
  const afterCollected = await settle();
  for (let i = 0; i < count; i++) {  // disposed: freed at once
    const { model, data } = bigModel();
    await model.fit(data, { epochs: 1, batchSize: 32 });
    model.dispose();
    peakDisposed = Math.max(peakDisposed, rssMiB());
  }
  const { model, data } = bigModel();
  await model.fit(data, { epochs: 1, batchSize: 32 });
  model.dispose();
  model.dispose();
  const refused: Record<string, string> = {};
  const attempts: Record<string, () => unknown> = {
    predict: () => model.predict([[[1, 2]]]), stateDict: () => model.stateDict(),
    loadStateDict: () => model.loadStateDict({}), save: () => model.save('/nonexistent/never-written'), zeroGrad: () => model.zeroGrad(),
    fit: () => model.fit(data, { epochs: 1 }), evaluate: () => model.evaluate(data), encoderForward: () => model.head.forward({ data: new Float32Array(64), shape: [1, 64] }),
  };
  for (const [name, run] of Object.entries(attempts)) {
    try { await run(); refused[name] = 'accepted'; } catch (error) { refused[name] = `${(error as RnnkitError).code}: ${(error as Error).message}`; }
  }
  return { count, baseMiB: base, peakCollectedMiB: peakCollected, afterCollectedMiB: afterCollected, peakDisposedMiB: peakDisposed, refused };
}

async function pending(): Promise<object> {
  const T = 50, B = 16, I = 4;
  const x: Tensor = { data: filled(T * B * I, 5), shape: [T, B, I] };
  const reference = new GRU({ inputSize: I, hiddenSize: 24, seed: 9 }).forward(x).output.data;
  const calls: Array<Promise<Float32Array>> = [];
  for (let i = 0; i < 64; i++) {
    // The layer is unreachable from JS as soon as the call is made; only the native worker holds it.
    calls.push(new GRU({ inputSize: I, hiddenSize: 24, seed: 9 }).forwardAsync(x).then((r) => r.output.data));
    if (i % 8 === 0) gc!();
  }
  for (let i = 0; i < 5; i++) { gc!(); await tick(); }
  const results = await Promise.all(calls);
  const mismatches = results.filter((r) => r.length !== reference.length || r.some((v, k) => v !== reference[k])).length;
  return { calls: calls.length, mismatches };
}

const modes: Record<string, () => Promise<object>> = { steps, gc: collected, dispose: disposed, pending, models };
const mode = process.argv[2];
const run = modes[mode];
if (!run) throw new Error(`unknown mode ${mode}`);
run().then((result) => {
  process.stdout.write(`${JSON.stringify({ mode, ...result })}\n`);
}, (error) => {
  console.error(error);
  process.exit(1);
});
