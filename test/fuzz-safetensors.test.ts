// Property-based fuzzing of the safetensors reader and of loadModel on hostile
// files. The reader is TypeScript, so fast-check generates files with a known
// answer: a well-formed file of random entries (every dtype, zero-size and 0-d
// tensors, awkward names, metadata) with at most one defect planted — offsets
// that overlap, leave a hole, run past the end, are reversed or beyond 2^53,
// shapes that disagree with the bytes, dtypes it cannot load, duplicate names,
// trailing bytes, a header length past the file or above 100 MB, truncation,
// bad metadata. It must accept exactly the files without a defect (returning
// the values written) and refuse the others with RnnkitFormatError.
// loadModel gets saved models whose config, kind, tensors or bytes were
// tampered with: a working model or a coded error, quickly, never a crash.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncoderDecoder, ManyToMany, ManyToOne, OneToMany, RnnkitFormatError, decodeSafetensors, encodeSafetensors, loadModel, type SequenceModel } from '../lib';
import { attempt, check } from './helpers/fuzz';

// Values exact in F32, F64, F16 and BF16, so every dtype must give them back unchanged.
const EXACT = [-2, -1, -0.5, 0, 0.25, 1, 3, 1024];
const DTYPES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

function encodeValue(view: DataView, at: number, dtype: string, v: number): void {
  if (dtype === 'F32') view.setFloat32(at, v, true);
  else if (dtype === 'F64') view.setFloat64(at, v, true);
  else if (dtype === 'BF16') view.setUint16(at, new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16, true);
  else {
    // F16 of the exact values above: sign, exponent, 10-bit fraction.
    if (v === 0) { view.setUint16(at, Object.is(v, -0) ? 0x8000 : 0, true); return; }
    const sign = v < 0 ? 0x8000 : 0, a = Math.abs(v), e = Math.floor(Math.log2(a));
    view.setUint16(at, sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024), true);
  }
}

const DEFECTS = ['none', 'overlap', 'hole', 'past-end', 'reversed', 'huge-offset', 'offsets-shape', 'shape-mismatch', 'huge-shape', 'negative-dim',
  'dtype', 'dtype-type', 'duplicate', 'trailing', 'header-past-end', 'header-100mb', 'truncated', 'metadata-value', 'metadata-array', 'not-object', 'bad-json'] as const;
type Defect = typeof DEFECTS[number];

interface Spec {
  name: string;
  dtype: string;
  shape: number[];
  values: number[];
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  dtype: fc.constantFrom('F32', 'F64', 'F16', 'BF16'),
  shape: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 3 }),
}).chain(({ dtype, shape }) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.record({ name: fc.constant(''), dtype: fc.constant(dtype), shape: fc.constant(shape),
    values: fc.array(fc.constantFrom(...EXACT), { minLength: n, maxLength: n }) });
});

const fileArb = fc.record({
  specs: fc.array(specArb, { minLength: 0, maxLength: 4 }),
  names: fc.shuffledSubarray(['w', 'rnn.weight_ih_l0', '__proto__', 'constructor', '0', 'ünï ✓', 'a"b', 'x\\y', 'toString'], { minLength: 4, maxLength: 4 }),
  order: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
  metadata: fc.option(fc.dictionary(fc.constantFrom('format', 'kind', 'note', 'ünï'), fc.string({ maxLength: 5 }), { maxKeys: 3 }), { nil: undefined }),
  defect: fc.constantFrom(...DEFECTS),
  which: fc.nat(),
  amount: fc.integer({ min: 1, max: 9 }),
});

/** Builds the file; returns the bytes and whether it should be accepted. */
interface FileCase {
  specs: Spec[]; names: string[]; order: number[]; metadata?: Record<string, string>; defect: Defect; which: number; amount: number;
}

function build(f: FileCase): { bytes: Uint8Array; valid: boolean; specs: Spec[] } {
  const specs = f.specs.map((s, i) => ({ ...s, name: f.names[i] }));
  let defect = f.defect;
  const needsEntry = ['overlap', 'hole', 'past-end', 'reversed', 'huge-offset', 'offsets-shape', 'shape-mismatch', 'huge-shape', 'negative-dim', 'dtype', 'dtype-type', 'duplicate'];
  const nonEmpty = specs.map((s, i) => [s, i] as const).filter(([s]) => s.values.length > 0).map(([, i]) => i);
  // Defects that move bytes need a tensor with bytes; others any tensor.
  const byteDefects = ['overlap', 'hole', 'reversed', 'shape-mismatch'];
  const pool = byteDefects.includes(defect) ? nonEmpty : specs.map((_, i) => i);
  if (needsEntry.includes(defect) && pool.length === 0) defect = 'none';
  const target = pool.length > 0 ? pool[f.which % pool.length] : -1;
  const dataLength = specs.reduce((n, s) => n + s.values.length * DTYPES[s.dtype], 0);
  const data = new Uint8Array(dataLength);
  const view = new DataView(data.buffer);
  const entries: string[] = [];
  let at = 0;
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i], size = DTYPES[s.dtype];
    s.values.forEach((v, k) => encodeValue(view, at + k * size, s.dtype, v));
    let begin = at, end = at + s.values.length * size;
    let dtype: unknown = s.dtype, shape: unknown = s.shape, offsets: unknown = null;
    if (i === target) {
      switch (defect) {
        case 'overlap': if (begin > 0) { begin -= 1; end -= 1; } else { begin += 1; end += 1; } break;
        case 'hole': begin += size; end += size; break;
        case 'past-end': end = dataLength + f.amount; break;
        case 'reversed': [begin, end] = [end, begin]; break;
        case 'huge-offset': offsets = [begin, 2 ** 64]; break;
        case 'offsets-shape': offsets = [begin, end, end]; break;
        case 'shape-mismatch': shape = [...s.shape, 2]; break;
        case 'huge-shape': shape = [2 ** 40, 2 ** 40]; break;
        case 'negative-dim': shape = [-1, ...s.shape]; break;
        case 'dtype': dtype = ['I32', 'U8', 'BOOL', 'F8_E4M3', 'f32'][f.amount % 5]; break;
        case 'dtype-type': dtype = [4, null, ['F32']][f.amount % 3]; break;
        default: break;
      }
    }
    entries.push(`${JSON.stringify(s.name)}:${JSON.stringify({ dtype, shape, data_offsets: offsets ?? [begin, end] })}`);
    if (i === target && defect === 'duplicate') entries.push(entries[entries.length - 1]);
    at += s.values.length * size;
  }
  // Header order is free: shuffle the entries.
  const shuffled = entries.map((e, i) => [f.order[i % f.order.length] + i * 0.001, e] as const).sort((a, b) => a[0] - b[0]).map(([, e]) => e);
  if (f.metadata || defect === 'metadata-value' || defect === 'metadata-array') {
    const meta = defect === 'metadata-value' ? { ...f.metadata, bad: 5 } : defect === 'metadata-array' ? ['x'] : f.metadata;
    shuffled.unshift(`"__metadata__":${JSON.stringify(meta)}`);
  }
  let json = `{${shuffled.join(',')}}`;
  if (defect === 'not-object') json = `[${shuffled.length}]`;
  if (defect === 'bad-json') json = json.slice(0, -1);
  const header = Buffer.from(json, 'utf8');
  const padded = Math.ceil((8 + header.length) / 8) * 8 - 8;
  let bytes = Buffer.alloc(8 + padded + data.length, 0x20);
  bytes.writeBigUInt64LE(BigInt(padded), 0);
  header.copy(bytes, 8);
  bytes.set(data, 8 + padded);
  if (defect === 'trailing') bytes = Buffer.concat([bytes, Buffer.alloc(f.amount)]);
  if (defect === 'header-past-end') bytes.writeBigUInt64LE(BigInt(bytes.length - 8 + f.amount), 0);
  if (defect === 'header-100mb') bytes.writeBigUInt64LE(f.amount % 2 ? 100_000_001n : 2n ** 64n - 1n, 0);
  if (defect === 'truncated') bytes = bytes.subarray(0, (f.which % bytes.length));
  return { bytes, valid: defect === 'none', specs };
}

// ------------------------------------------------------------ loadModel

const MODELS: Array<() => SequenceModel<unknown>> = [
  () => new ManyToMany({ input: { type: 'tokens', vocabSize: 4, embeddingSize: 2 }, recurrent: { cell: 'gru', hiddenSize: 3 }, output: { type: 'classes', numClasses: 4 } }) as SequenceModel<unknown>,
  () => new ManyToOne({ input: { type: 'features', size: 2 }, recurrent: { cell: 'lstm', hiddenSize: 2, bidirectional: true }, output: { type: 'real', size: 1 } }) as SequenceModel<unknown>,
  () => new OneToMany({ condition: { type: 'features', size: 2 }, conditioning: 'first-step', recurrent: { cell: 'rnn', hiddenSize: 2 },
    output: { vocabSize: 4, embeddingSize: 2, startToken: 0, endToken: 1 } }) as SequenceModel<unknown>,
  () => new EncoderDecoder({ input: { type: 'tokens', vocabSize: 4, embeddingSize: 2 }, encoder: { cell: 'gru', hiddenSize: 2 }, decoder: { cell: 'gru', hiddenSize: 2 },
    output: { vocabSize: 4, embeddingSize: 2, startToken: 0, endToken: 1 }, attention: 'luong-general' }) as SequenceModel<unknown>,
];

function use(model: SequenceModel<unknown>): void {
  if (model instanceof ManyToMany) model.predict([[1, 2]]);
  else if (model instanceof ManyToOne) model.predict([[[0.5, 1]]]);
  else if (model instanceof OneToMany) model.generate([[0.5, 1]], { maxLength: 3 });
  else if (model instanceof EncoderDecoder) model.predict([[1, 2]], { maxLength: 3 });
}

const hostileJson = fc.constantFrom<unknown>(null, -1, 0, 0.5, 1e9, 2 ** 31, 1e300, 'gru', '', 'lstm', true, {}, [], [1], { type: 'tokens' }, '__proto__');

/** Replaces the value at a random path of a JSON value. */
function mutateJson(value: unknown, pick: number[], replacement: unknown): unknown {
  if (pick.length === 0 || typeof value !== 'object' || value === null) return replacement;
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[pick[0] % keys.length];
  const copy: Record<string, unknown> = Array.isArray(value) ? [...value] as unknown as Record<string, unknown> : { ...(value as object) };
  copy[key] = mutateJson((value as Record<string, unknown>)[key], pick.slice(1), replacement);
  return copy;
}

describe('fuzz: safetensors reader and loadModel', function () {
  this.timeout(120000);

  it('accepts exactly the well-formed files, returning their values, and refuses each planted defect with RnnkitFormatError', function () {
    check('safetensors generated files', fileArb, (f) => {
      const { bytes, valid, specs } = build(f);
      let file: ReturnType<typeof decodeSafetensors>;
      try {
        file = decodeSafetensors(bytes);
      } catch (error) {
        assert.ok(error instanceof RnnkitFormatError, `expected RnnkitFormatError for defect ${f.defect}, got ${String(error)}`);
        assert.equal(error.code, 'ERR_RNNKIT_FORMAT');
        assert.ok(!valid, `a well-formed file was refused: ${error.message}`);
        return;
      }
      assert.ok(valid, `defect '${f.defect}' was not detected`);
      assert.deepEqual(Object.keys(file.tensors).sort(), specs.map((s) => s.name).sort());
      for (const s of specs) {
        const t = file.tensors[s.name];
        assert.deepEqual(t.shape, s.shape);
        assert.deepEqual(Array.from(t.data), s.values, s.name);
      }
      assert.deepEqual(file.metadata, { ...f.metadata });
    }, 2000);
  });

  it('round-trips random F32 tensors bit for bit through encode and decode', function () {
    check('safetensors round trip', fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 6 }).filter((n) => n !== '__metadata__'),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }) }), { maxLength: 4 }), (items) => {
      const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
      for (const [i, it] of items.entries()) {
        const n = it.shape.reduce((a, b) => a * b, 1);
        tensors[it.name] = { data: Float32Array.from({ length: n }, (_, k) => Math.sin(i + k) * 1e3), shape: it.shape };
      }
      const back = decodeSafetensors(encodeSafetensors(tensors)).tensors;
      assert.deepEqual(Object.keys(back).sort(), Object.keys(tensors).sort());
      for (const [name, t] of Object.entries(tensors)) assert.deepEqual(back[name].data, t.data);
    }, 300);
  });

  it('loadModel on tampered model files gives a working model or a coded error, never an uncoded one, and never builds more than the file holds', function () {
    const saved = MODELS.map((make) => {
      const model = make();
      const bytes = encodeSafetensors(model.stateDict(), { format: 'rnnkit-model', kind: model.kind, config: JSON.stringify(model.config()) });
      return decodeSafetensors(bytes);
    });
    const arb = fc.record({
      model: fc.nat({ max: MODELS.length - 1 }),
      how: fc.constantFrom('config', 'config', 'config', 'kind', 'format', 'drop', 'rename', 'reshape', 'nan', 'extra', 'bytes', 'none'),
      pick: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), replacement: hostileJson, index: fc.nat(), byte: fc.integer({ min: 0, max: 255 }),
      kind: fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'ManyToOne', 'EncoderDecoder', ''),
    });
    check('loadModel hostile files', arb, (c) => {
      const { tensors, metadata } = saved[c.model];
      const t = { ...tensors }, m = { ...metadata };
      const names = Object.keys(t), name = names[c.index % names.length];
      switch (c.how) {
        case 'config': m.config = JSON.stringify(mutateJson(JSON.parse(m.config), c.pick, c.replacement)); break;
        case 'kind': m.kind = c.kind; break;
        case 'format': m.format = 'rnnkit-checkpoint'; break;
        case 'drop': delete t[name]; break;
        case 'rename': t[`${name}x`] = t[name]; delete t[name]; break;
        case 'reshape': t[name] = { data: t[name].data, shape: [t[name].data.length] }; break;
        case 'nan': { const d = t[name].data.slice(); d[c.index % d.length] = NaN; t[name] = { data: d, shape: t[name].shape }; break; }
        case 'extra': t['head.extra'] = { data: new Float32Array(2), shape: [2] }; break;
        default: break;
      }
      let bytes: Uint8Array = encodeSafetensors(t, m);
      if (c.how === 'bytes') { bytes = Uint8Array.from(bytes); bytes[c.index % bytes.length] = c.byte; }
      const started = Date.now();
      const r = attempt(() => loadModel(bytes), ['ERR_RNNKIT_FORMAT']);
      // A loaded model runs (a probe input of another structure's shape may be refused, with a code).
      if (r.ok) attempt(() => use(r.value.model));
      assert.ok(Date.now() - started < 2000, `loadModel took ${Date.now() - started} ms`);
    }, 600);
  });

  it('loadModel names the problem of a config that asks for more parameters than the file holds, without allocating them', function () {
    const model = MODELS[0]();
    const config = model.config() as { recurrent: { hiddenSize: number } };
    for (const hiddenSize of [20000, 2 ** 20, 2 ** 30]) {
      const bytes = encodeSafetensors(model.stateDict(), { format: 'rnnkit-model', kind: model.kind,
        config: JSON.stringify({ ...config, recurrent: { ...config.recurrent, hiddenSize } }) });
      const started = Date.now();
      const r = attempt(() => loadModel(bytes), ['ERR_RNNKIT_FORMAT']);
      assert.ok(!r.ok && r.error instanceof RangeError && /parameters/.test(r.error.message), r.ok ? 'loaded' : r.error.message);
      assert.ok(Date.now() - started < 500, `refused in ${Date.now() - started} ms`);
    }
  });
});
