// Tests for lib/io/safetensors: round trips, dtype conversion, hostile files and atomic saves.
// Non-F32 and malformed files are built by hand here, so no Python is needed.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  type Tensor,
} from '../lib/io/safetensors';
import { RnnkitFormatError } from '../lib/errors';

// ---------------------------------------------------------------- helpers

/** Assembles a file from a header (object or raw JSON text) and a data section, padding like real writers. */
function buildFile(header: object | string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const n = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = Buffer.alloc(8 + n + data.length, 0x20);
  out.writeBigUInt64LE(BigInt(n), 0);
  json.copy(out, 8);
  out.set(data, 8 + n);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function u16Bytes(values: number[]): Uint8Array {
  const out = Buffer.alloc(2 * values.length);
  values.forEach((v, i) => out.writeUInt16LE(v, 2 * i));
  return out;
}

function tensor(values: number[], shape: number[]): Tensor {
  return { data: new Float32Array(values), shape };
}

/** Asserts decoding fails with a format error whose message matches `pattern`. */
function assertRejects(bytes: Uint8Array, pattern: RegExp, options?: { maxHeaderBytes?: number }): void {
  assert.throws(
    () => decodeSafetensors(bytes, options),
    (err: unknown) => {
      assert.ok(err instanceof RnnkitFormatError, `expected RnnkitFormatError, got ${String(err)}`);
      assert.equal(err.code, 'ERR_RNNKIT_FORMAT');
      assert.match(err.message, pattern);
      return true;
    },
  );
}

/** Deterministic PRNG (mulberry32) so fuzz failures reproduce. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const product = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

// A small valid two-tensor file used by many hostile cases.
const twoTensors = () => ({
  a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
  b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
});
const twelveBytes = f32Bytes([1, 2, 3]);

// ---------------------------------------------------------------- round trips

describe('safetensors', () => {
  describe('round trip', () => {
    it('encodes and decodes tensors and metadata unchanged', () => {
      const tensors = {
        'rnn.weight_ih_l0': tensor([1.5, -0, Infinity, -Infinity, 1e-45, 3.4e38], [2, 3]),
        'rnn.bias_ih_l0': tensor([0.25, -7], [2]),
      };
      const metadata = { format: 'pt', note: 'ünïcode ✓' };
      const file = decodeSafetensors(encodeSafetensors(tensors, metadata));
      assert.deepEqual(file.metadata, metadata);
      assert.deepEqual(Object.keys(file.tensors), Object.keys(tensors));
      for (const [name, t] of Object.entries(tensors)) {
        assert.deepEqual(file.tensors[name].shape, t.shape);
        assert.deepEqual(file.tensors[name].data, t.data);
      }
    });

    it('writes a space-padded, 8-byte-aligned header with F32 tensors in insertion order', () => {
      const bytes = encodeSafetensors({ z: tensor([1], [1]), a: tensor([2, 3], [2]) }, { k: 'v' });
      const n = Number(bytes.readBigUInt64LE(0));
      assert.equal((8 + n) % 8, 0);
      const text = bytes.subarray(8, 8 + n).toString('utf8');
      assert.match(text, /^\{.*\} *$/);
      const header = JSON.parse(text);
      assert.deepEqual(header.__metadata__, { k: 'v' });
      assert.deepEqual(header.z, { dtype: 'F32', shape: [1], data_offsets: [0, 4] });
      assert.deepEqual(header.a, { dtype: 'F32', shape: [2], data_offsets: [4, 12] });
      assert.equal(bytes.length, 8 + n + 12);
      assert.equal(bytes.readFloatLE(8 + n + 4), 2);
    });

    it('returns fresh aligned arrays, never views over the input', () => {
      const bytes = encodeSafetensors({ w: tensor([1, 2, 3], [3]) });
      const padded = new Uint8Array(bytes.length + 1);
      padded.set(bytes, 1); // make the data section deliberately misaligned
      const w = decodeSafetensors(padded.subarray(1)).tensors.w;
      assert.notEqual(w.data.buffer, padded.buffer);
      assert.equal(w.data.byteOffset, 0);
      assert.deepEqual(Array.from(w.data), [1, 2, 3]);
    });

    it('round-trips 0-d and zero-size tensors', () => {
      const tensors = {
        scalar: tensor([42], []),
        empty: tensor([], [0]),
        middle: tensor([1, 2], [1, 2]),
        wide: tensor([], [3, 0, 5]),
      };
      const file = decodeSafetensors(encodeSafetensors(tensors));
      for (const [name, t] of Object.entries(tensors)) {
        assert.deepEqual(file.tensors[name].shape, t.shape, name);
        assert.deepEqual(file.tensors[name].data, t.data, name);
      }
    });

    it('round-trips an empty tensor set with empty metadata', () => {
      const file = decodeSafetensors(encodeSafetensors({}));
      assert.deepEqual(file, { tensors: {}, metadata: {} });
    });

    it('keeps awkward names like __proto__ and numeric strings as ordinary tensors', () => {
      const tensors = Object.fromEntries([
        ['__proto__', tensor([1], [1])],
        ['0', tensor([2], [1])],
      ]);
      const file = decodeSafetensors(encodeSafetensors(tensors));
      assert.ok(Object.hasOwn(file.tensors, '__proto__'));
      assert.deepEqual(Array.from(file.tensors['__proto__'].data), [1]);
      assert.deepEqual(Array.from(file.tensors['0'].data), [2]);
      assert.equal(Object.getPrototypeOf(file.tensors), Object.prototype);
    });

    it('accepts tensors listed in any header order and returns them in file order', () => {
      const header = { b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
      const file = decodeSafetensors(buildFile(header, twelveBytes));
      assert.deepEqual(Object.keys(file.tensors), ['a', 'b']);
      assert.deepEqual(Array.from(file.tensors.b.data), [3]);
    });

    it('saves to and loads from a path, and loads from a buffer', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-st-'));
      try {
        const target = path.join(dir, 'model.safetensors');
        saveSafetensors(target, { w: tensor([1, 2], [2]) }, { epoch: '3' });
        const fromPath = loadSafetensors(target);
        assert.deepEqual(fromPath.metadata, { epoch: '3' });
        assert.deepEqual(Array.from(fromPath.tensors.w.data), [1, 2]);
        assert.deepEqual(loadSafetensors(fs.readFileSync(target)), fromPath);
        assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('names the file when loading a bad file from a path', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-st-'));
      try {
        const target = path.join(dir, 'bad.safetensors');
        fs.writeFileSync(target, 'abc');
        assert.throws(() => loadSafetensors(target), (err: Error) => err instanceof RnnkitFormatError && err.message.includes(target));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  // ---------------------------------------------------------------- dtype conversion

  describe('dtype conversion', () => {
    it('converts F16 to float32, including subnormals, infinities, NaN and -0', () => {
      const halves = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3555];
      const expected = [1, -2, 0.5, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, NaN, -0, 0.333251953125];
      const file = decodeSafetensors(buildFile({ h: { dtype: 'F16', shape: [11], data_offsets: [0, 22] } }, u16Bytes(halves)));
      assert.deepEqual(Array.from(file.tensors.h.data), expected);
    });

    it('converts BF16 to float32 exactly', () => {
      const bf = [0x3f80, 0xc040, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x8000, 0x4049];
      const expected = [1, -3, Infinity, -Infinity, NaN, 2 ** -133, -0, 3.140625];
      const file = decodeSafetensors(buildFile({ b: { dtype: 'BF16', shape: [2, 4], data_offsets: [0, 16] } }, u16Bytes(bf)));
      assert.deepEqual(Array.from(file.tensors.b.data), expected);
      assert.deepEqual(file.tensors.b.shape, [2, 4]);
    });

    it('converts F64 to float32 with rounding and overflow to infinity', () => {
      const doubles = [1.5, 0.1, 1e300, -1e-300];
      const file = decodeSafetensors(
        buildFile({ d: { dtype: 'F64', shape: [4], data_offsets: [0, 32] } }, new Uint8Array(new Float64Array(doubles).buffer)),
      );
      assert.deepEqual(Array.from(file.tensors.d.data), [1.5, Math.fround(0.1), Infinity, -0]);
    });

    it('keeps F64 exactly as a Float64Array when asked (keepFloat64), and writes a Float64Array as F64', () => {
      const doubles = [1.5, 0.1, 1e300, -1e-300, Math.PI];
      const bytes = buildFile({ d: { dtype: 'F64', shape: [5], data_offsets: [0, 40] } }, new Uint8Array(new Float64Array(doubles).buffer));
      const file = decodeSafetensors(bytes, { keepFloat64: true });
      assert.ok(file.tensors.d.data instanceof Float64Array);
      assert.deepEqual(Array.from(file.tensors.d.data), doubles);
      const encoded = encodeSafetensors({ d: file.tensors.d, f: { data: Float32Array.of(2), shape: [1] } });
      const header = JSON.parse(encoded.subarray(8, 8 + Number(encoded.readBigUInt64LE(0))).toString('utf8'));
      assert.equal(header.d.dtype, 'F64');
      assert.equal(header.f.dtype, 'F32');
      assert.deepEqual(Buffer.compare(Buffer.from(encoded), Buffer.from(encodeSafetensors(decodeSafetensors(encoded, { keepFloat64: true }).tensors))), 0,
        'an F64 file decoded with keepFloat64 encodes to the same bytes');
      assert.ok(decodeSafetensors(encoded).tensors.d.data instanceof Float32Array, 'without keepFloat64, F64 is rounded to float32');
      assert.throws(() => decodeSafetensors(bytes, { keepFloat64: 1 as never }), (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_RNNKIT_TYPE');
    });

    it('refuses integer, bool and F8 dtypes, naming the tensor and dtype', () => {
      for (const [dtype, size] of [['I64', 8], ['I32', 4], ['U8', 1], ['BOOL', 1], ['F8_E4M3', 1]] as const) {
        const bytes = buildFile({ counts: { dtype, shape: [2], data_offsets: [0, 2 * size] } }, new Uint8Array(2 * size));
        assertRejects(bytes, new RegExp(`'counts'.*${dtype}`));
      }
    });

    it('mixes dtypes in one file', () => {
      const data = Buffer.concat([f32Bytes([7]), u16Bytes([0x3c00, 0x3f80])]);
      const header = {
        f: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
        h: { dtype: 'F16', shape: [1], data_offsets: [4, 6] },
        b: { dtype: 'BF16', shape: [1], data_offsets: [6, 8] },
      };
      const { tensors } = decodeSafetensors(buildFile(header, data));
      assert.deepEqual([tensors.f.data[0], tensors.h.data[0], tensors.b.data[0]], [7, 1, 1]);
    });
  });

  // ---------------------------------------------------------------- hostile files

  describe('hostile files', () => {
    it('refuses every truncation of a valid file', () => {
      const bytes = encodeSafetensors({ a: tensor([1, 2], [2]), b: tensor([3], []) }, { m: 'x' });
      for (let len = 0; len < bytes.length; len++) {
        assert.throws(() => decodeSafetensors(bytes.subarray(0, len)), RnnkitFormatError, `length ${len}`);
      }
    });

    it('refuses a file shorter than 8 bytes', () => {
      assertRejects(new Uint8Array(3), /shorter than/);
    });

    it('refuses a header length of 2^63 without allocating', () => {
      const bytes = Buffer.alloc(64);
      bytes.writeBigUInt64LE(2n ** 63n, 0);
      assertRejects(bytes, /header length 9223372036854775808 exceeds/);
      bytes.writeBigUInt64LE(2n ** 53n - 1n, 0);
      assertRejects(bytes, /past the end/, { maxHeaderBytes: Number.MAX_SAFE_INTEGER });
    });

    it('refuses a 200 MB header length on a small file', () => {
      const bytes = Buffer.alloc(64);
      bytes.writeBigUInt64LE(200_000_000n, 0);
      assertRejects(bytes, /exceeds the limit of 100000000/);
      assertRejects(bytes, /past the end of the file \(64 bytes\)/, { maxHeaderBytes: 1e9 });
    });

    it('honours a smaller maxHeaderBytes', () => {
      const bytes = encodeSafetensors({ w: tensor([1], [1]) });
      assertRejects(bytes, /exceeds the limit of 8 bytes/, { maxHeaderBytes: 8 });
      assert.throws(() => decodeSafetensors(bytes, { maxHeaderBytes: -1 }), RangeError);
    });

    it('refuses headers that are not UTF-8 JSON objects', () => {
      const badUtf8 = Buffer.from([0x7b, 0xff, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20]);
      const raw = Buffer.alloc(16);
      raw.writeBigUInt64LE(8n, 0);
      badUtf8.copy(raw, 8);
      assertRejects(raw, /not valid UTF-8/);
      assertRejects(buildFile('{"a": '), /not valid JSON/);
      assertRejects(buildFile('\ufeff{}'), /not valid JSON/);
      assertRejects(buildFile('[]'), /must be a JSON object/);
      assertRejects(buildFile('null'), /must be a JSON object/);
      assertRejects(buildFile('42'), /must be a JSON object/);
      assertRejects(buildFile(''), /not valid JSON/);
    });

    it('refuses duplicate tensor names, even when spelled with escapes', () => {
      const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
      assertRejects(buildFile(`{"w":${entry},"w":${entry}}`, f32Bytes([1])), /duplicate tensor name 'w'/);
      assertRejects(buildFile(`{"w":${entry},"\\u0077":${entry}}`, f32Bytes([1])), /duplicate tensor name 'w'/);
      assertRejects(buildFile(`{"w":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}}`, f32Bytes([1])), /duplicate key 'dtype'/);
    });

    it('does not mistake string values or nested keys for duplicate names', () => {
      const text = '{"__metadata__":{"w":"w, \\"w\\": [","x":"{"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":{"w":1}}}';
      const file = decodeSafetensors(buildFile(text, f32Bytes([5])));
      assert.deepEqual(file.metadata, { w: 'w, "w": [', x: '{' });
      assert.deepEqual(Array.from(file.tensors.w.data), [5]);
    });

    it('refuses missing or ill-typed entry fields, naming the tensor', () => {
      const cases: [unknown, RegExp][] = [
        [null, /'w'.*must be an object/],
        [[1], /'w'.*must be an object/],
        [{ shape: [1], data_offsets: [0, 4] }, /'w'.*dtype/],
        [{ dtype: 3, shape: [1], data_offsets: [0, 4] }, /'w'.*dtype/],
        [{ dtype: 'F32', data_offsets: [0, 4] }, /'w'.*shape/],
        [{ dtype: 'F32', shape: '1', data_offsets: [0, 4] }, /'w'.*shape/],
        [{ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }, /'w'.*shape/],
        [{ dtype: 'F32', shape: [1.5], data_offsets: [0, 4] }, /'w'.*shape/],
        [{ dtype: 'F32', shape: [2 ** 53], data_offsets: [0, 4] }, /'w'.*shape/],
        [{ dtype: 'F32', shape: ['1'], data_offsets: [0, 4] }, /'w'.*shape/],
        [{ dtype: 'F32', shape: [1] }, /'w'.*data_offsets/],
        [{ dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] }, /'w'.*data_offsets/],
        [{ dtype: 'F32', shape: [1], data_offsets: { 0: 0, 1: 4 } }, /'w'.*data_offsets/],
      ];
      for (const [entry, pattern] of cases) assertRejects(buildFile({ w: entry }, f32Bytes([1])), pattern);
    });

    it('ignores unknown extra fields in an entry', () => {
      const file = decodeSafetensors(buildFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4], quant: 'none' } }, f32Bytes([9])));
      assert.deepEqual(Array.from(file.tensors.w.data), [9]);
    });

    it('refuses non-integer, negative, reversed and out-of-range offsets', () => {
      const w = (offsets: unknown, shape = [1]) => buildFile({ w: { dtype: 'F32', shape, data_offsets: offsets } }, f32Bytes([1]));
      assertRejects(w([0, 4.5]), /'w'.*data_offsets/);
      assertRejects(w([-4, 0]), /'w'.*data_offsets/);
      assertRejects(w(['0', '4']), /'w'.*data_offsets/);
      assertRejects(w([0, 1e300]), /'w'.*data_offsets/);
      assertRejects(w([4, 0]), /'w'.*begin 4 is after end 0/);
      assertRejects(w([0, 8], [2]), /'w'.*past the data section/);
      assertRejects(w([2 ** 53 - 5, 2 ** 53 - 1]), /'w'.*past the data section/);
    });

    it('refuses overlapping tensors', () => {
      const header = { ...twoTensors(), b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
      assertRejects(buildFile(header, twelveBytes), /'a' and 'b' overlap/);
    });

    it('refuses holes between tensors and before the first', () => {
      const gap = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
      assertRejects(buildFile(gap, twelveBytes), /4 unused bytes before tensor 'b'/);
      assertRejects(buildFile({ b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, twelveBytes), /unused bytes before tensor 'b'/);
    });

    it('refuses trailing bytes after the last tensor', () => {
      assertRejects(buildFile(twoTensors(), f32Bytes([1, 2, 3, 4])), /4 trailing bytes/);
      assertRejects(buildFile({}, new Uint8Array(1)), /1 trailing bytes/);
    });

    it('refuses a shape that disagrees with the byte range', () => {
      assertRejects(buildFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32Bytes([1, 2])), /'w'.*shape \[3\].*12 bytes.*8/);
      assertRejects(buildFile({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, f32Bytes([1, 2])), /'w'/);
      // A product past 2^53 must not wrap around to a plausible size.
      const huge = 2 ** 52;
      assertRejects(buildFile({ w: { dtype: 'F32', shape: [huge, huge, 0, 1], data_offsets: [0, 4] } }, f32Bytes([1])), /'w'/);
    });

    it('refuses metadata that is not an object of strings', () => {
      const withMeta = (meta: unknown) => buildFile({ __metadata__: meta, ...twoTensors() }, twelveBytes);
      assertRejects(withMeta({ epoch: 3 }), /'epoch' must be a string/);
      assertRejects(withMeta({ nested: { a: 'b' } }), /'nested' must be a string/);
      assertRejects(withMeta(['a']), /__metadata__.*must be an object/);
      assertRejects(withMeta('a'), /__metadata__.*must be an object/);
      assert.deepEqual(decodeSafetensors(withMeta(null)).metadata, {});
    });

    it('survives thousands of random byte mutations with a consistent result or an Error', function () {
      const original = encodeSafetensors(
        { a: tensor([1, 2, 3, 4, 5, 6], [2, 3]), s: tensor([7], []), e: tensor([], [0, 4]), b: tensor([8, 9], [2]) },
        { format: 'pt' },
      );
      const headerEnd = 8 + Number(original.readBigUInt64LE(0));
      const random = mulberry32(0x5eed);
      const pick = (n: number) => Math.floor(random() * n);
      let decoded = 0;
      for (let iter = 0; iter < 4000; iter++) {
        let bytes: Uint8Array = Buffer.from(original);
        const edits = 1 + pick(4);
        for (let k = 0; k < edits; k++) {
          // Bias toward the header, where a mutation changes meaning rather than just values.
          const at = random() < 0.7 ? pick(headerEnd) : pick(bytes.length);
          const kind = pick(8);
          if (kind < 3) bytes[at] ^= 1 << pick(8);
          else if (kind < 5) bytes[at] = pick(256);
          else if (kind < 7) bytes[at] = '0123456789[]{},:"-.eE '.charCodeAt(pick(22));
          else bytes = bytes.subarray(0, pick(bytes.length + 1));
        }
        let file;
        try {
          file = decodeSafetensors(bytes);
        } catch (err) {
          // Stricter than "an Error": anything but a format error would be an internal crash leaking out.
          assert.ok(err instanceof RnnkitFormatError, `iteration ${iter} threw ${String(err)}`);
          continue;
        }
        decoded++;
        for (const [name, t] of Object.entries(file.tensors)) {
          assert.ok(t.data instanceof Float32Array, `iteration ${iter}, tensor ${name}`);
          assert.equal(t.data.length, product(t.shape), `iteration ${iter}, tensor ${name}`);
        }
        for (const v of Object.values(file.metadata)) assert.equal(typeof v, 'string');
      }
      assert.ok(decoded > 0, 'some mutations (e.g. in tensor values) should still decode');
    });
  });

  // ---------------------------------------------------------------- writing

  describe('writing', () => {
    it('validates tensors with typed errors naming the tensor', () => {
      const cases: [unknown, ErrorConstructor, string, RegExp][] = [
        [null, TypeError, 'ERR_RNNKIT_TYPE', /tensors must be an object/],
        [{ w: null }, TypeError, 'ERR_RNNKIT_TYPE', /'w'/],
        [{ w: { data: [1], shape: [1] } }, TypeError, 'ERR_RNNKIT_TYPE', /'w'.*Float32Array/],
        [{ w: { data: new Int32Array(1), shape: [1] } }, TypeError, 'ERR_RNNKIT_TYPE', /'w'.*Float32Array.*Float64Array/],
        [{ w: { data: new Float32Array(1), shape: [-1] } }, TypeError, 'ERR_RNNKIT_TYPE', /'w'.*shape/],
        [{ w: { data: new Float32Array(1), shape: 1 } }, TypeError, 'ERR_RNNKIT_TYPE', /'w'.*shape/],
        [{ w: { data: new Float32Array(3), shape: [2, 2] } }, RangeError, 'ERR_RNNKIT_SHAPE', /'w'.*4 elements.*3/],
        [{ '': tensor([1], [1]) }, RangeError, 'ERR_RNNKIT_VALUE', /non-empty/],
        [{ __metadata__: tensor([1], [1]) }, RangeError, 'ERR_RNNKIT_VALUE', /reserved/],
      ];
      for (const [tensors, type, code, pattern] of cases) {
        assert.throws(
          () => encodeSafetensors(tensors as Record<string, Tensor>),
          (err: Error & { code?: string }) => err instanceof type && err.code === code && pattern.test(err.message),
        );
      }
    });

    it('validates metadata values are strings', () => {
      assert.throws(
        () => encodeSafetensors({}, { epoch: 3 } as unknown as Record<string, string>),
        (err: Error & { code?: string }) => err instanceof TypeError && err.code === 'ERR_RNNKIT_TYPE' && /'epoch'/.test(err.message),
      );
    });

    it('encodes views at an offset into a larger buffer correctly', () => {
      const backing = new Float32Array([0, 1, 2, 3, 4]);
      const file = decodeSafetensors(encodeSafetensors({ v: { data: backing.subarray(2, 4), shape: [2] } }));
      assert.deepEqual(Array.from(file.tensors.v.data), [2, 3]);
    });

    it('leaves the previous file intact and no temp file when a save fails', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-st-'));
      try {
        const target = path.join(dir, 'model.safetensors');
        saveSafetensors(target, { w: tensor([1, 2], [2]) });
        const before = fs.readFileSync(target);

        // Fails validation, before anything touches the disk.
        assert.throws(() => saveSafetensors(target, { w: { data: new Float32Array(3), shape: [2] } }), RangeError);
        assert.deepEqual(fs.readFileSync(target), before);
        assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);

        // Fails at the rename, after the temp file was written: a directory is in the way.
        const blocked = path.join(dir, 'blocked');
        fs.mkdirSync(blocked);
        fs.writeFileSync(path.join(blocked, 'keep'), 'x');
        assert.throws(() => saveSafetensors(blocked, { w: tensor([1], [1]) }));
        assert.deepEqual(fs.readdirSync(dir).sort(), ['blocked', 'model.safetensors']);
        assert.deepEqual(fs.readdirSync(blocked), ['keep']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('replaces an existing file with the new contents', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-st-'));
      try {
        const target = path.join(dir, 'model.safetensors');
        saveSafetensors(target, { w: tensor([1, 2], [2]) });
        saveSafetensors(target, { v: tensor([3], []) });
        assert.deepEqual(Object.keys(loadSafetensors(target).tensors), ['v']);
        assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
