// Reader and writer for Hugging Face safetensors files (the format PyTorch weights are shared in).
// Layout: u64 LE header length N, N bytes of JSON header, then the raw tensor data, back to back.
// Float32Arrays are written as F32 and Float64Arrays (float64 layers) as F64; reading gives
// Float32Arrays, or keeps F64 as Float64Arrays when asked (keepFloat64).

import * as fs from 'node:fs';
import { RnnkitFormatError, shapeError, typeError, valueError } from '../errors';
import type { FloatArray, Tensor } from '../tensor';
import { writeFileAtomically } from './atomic-write';

export type { Tensor } from '../tensor';

/** A: Float32Array, or FloatArray when read with keepFloat64 (F64 tensors are then Float64Arrays). */
export interface SafetensorsFile<A extends FloatArray = Float32Array> {
  tensors: Record<string, Tensor<A>>;
  metadata: Record<string, string>;
}

export interface DecodeOptions {
  /** Largest header accepted, in bytes (default 100 MB, as in the reference implementation). */
  maxHeaderBytes?: number;
  /**
   * F64 tensors as Float64Arrays, exactly (for a float64 layer's loadStateDict). Default false: every tensor is
   * a Float32Array, F64 rounded to nearest as F16 and BF16 are widened.
   */
  keepFloat64?: boolean;
}

const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const BYTES_PER_ELEMENT: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

// ---------------------------------------------------------------- reading

export function decodeSafetensors(bytes: Uint8Array, options?: DecodeOptions & { keepFloat64?: false }): SafetensorsFile;
export function decodeSafetensors(bytes: Uint8Array, options: DecodeOptions): SafetensorsFile<FloatArray>;
export function decodeSafetensors(bytes: Uint8Array, options: DecodeOptions = {}): SafetensorsFile<FloatArray> {
  if (!(bytes instanceof Uint8Array)) throw typeError('decodeSafetensors: bytes must be a Uint8Array');
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 0) {
    throw valueError(`decodeSafetensors: maxHeaderBytes must be a non-negative integer, got ${maxHeaderBytes}`);
  }
  const keepFloat64 = options.keepFloat64 ?? false;
  if (typeof keepFloat64 !== 'boolean') {
    throw typeError(`decodeSafetensors: keepFloat64 must be a boolean, got ${typeof keepFloat64}`);
  }

  const headerLength = readHeaderLength(bytes, maxHeaderBytes);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength));
  const data = bytes.subarray(8 + headerLength);

  const entries = Object.keys(header)
    .filter((name) => name !== METADATA_KEY)
    .map((name) => parseEntry(name, header[name], data.length));
  checkLayout(entries, data.length);

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const tensors = Object.fromEntries(entries.map((e) => [e.name, readTensor(e, view, keepFloat64)]));
  return { tensors, metadata: parseMetadata(header[METADATA_KEY]) };
}

export function loadSafetensors(pathOrBuffer: string | Uint8Array, options?: DecodeOptions & { keepFloat64?: false }): SafetensorsFile;
export function loadSafetensors(pathOrBuffer: string | Uint8Array, options: DecodeOptions): SafetensorsFile<FloatArray>;
export function loadSafetensors(pathOrBuffer: string | Uint8Array, options: DecodeOptions = {}): SafetensorsFile<FloatArray> {
  if (pathOrBuffer instanceof Uint8Array) return decodeSafetensors(pathOrBuffer, options);
  if (typeof pathOrBuffer !== 'string') throw typeError('loadSafetensors: expected a file path or a Uint8Array');
  const bytes = fs.readFileSync(pathOrBuffer);
  try {
    return decodeSafetensors(bytes, options);
  } catch (err) {
    // Say which file was bad; the decoder only knows bytes.
    if (err instanceof RnnkitFormatError) throw new RnnkitFormatError(`${pathOrBuffer}: ${err.message}`, { cause: err });
    throw err;
  }
}

// The length is a u64: compare it as a BigInt so 2^63 cannot round to something plausible.
function readHeaderLength(bytes: Uint8Array, maxHeaderBytes: number): number {
  if (bytes.length < 8) throw formatError(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(maxHeaderBytes)) throw formatError(`header length ${n} exceeds the limit of ${maxHeaderBytes} bytes`);
  if (n > BigInt(bytes.length - 8)) {
    throw formatError(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  }
  return Number(n);
}

function parseHeader(headerBytes: Uint8Array): Record<string, unknown> {
  let text: string;
  let header: unknown;
  try {
    // ignoreBOM keeps a BOM in the text, so JSON.parse rejects it like other implementations do.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw formatError('header is not valid UTF-8');
  }
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw formatError(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) throw formatError('header must be a JSON object');
  // JSON.parse silently keeps the last of duplicate keys; a file with two "w" tensors is ambiguous.
  const dup = findDuplicateKey(text);
  if (dup) {
    throw formatError(dup.depth === 1 ? `duplicate tensor name '${dup.key}'` : `duplicate key '${dup.key}' in header`);
  }
  return header;
}

// Scans JSON text that JSON.parse already accepted, so strings are known to be closed.
function findDuplicateKey(text: string): { key: string; depth: number } | undefined {
  const stack: (Set<string> | null)[] = []; // one key set per open object, null for arrays
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(start, i + 1)) as string; // decodes escapes: "\u0061" == "a"
        if (keys.has(key)) return { key, depth: stack.length };
        keys.add(key);
      }
      expectKey = false;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return undefined;
}

function parseEntry(name: string, value: unknown, dataLength: number): Entry {
  const where = `tensor '${name}'`;
  if (!isPlainObject(value)) throw formatError(`${where}: entry must be an object`);
  const { dtype, shape, data_offsets: offsets } = value;

  if (typeof dtype !== 'string') throw formatError(`${where}: "dtype" must be a string`);
  if (!Object.hasOwn(BYTES_PER_ELEMENT, dtype)) {
    throw formatError(`${where} has dtype ${dtype}, which rnnkit cannot load (supported: F32, F64, F16, BF16)`);
  }
  const bytesPerElement = BYTES_PER_ELEMENT[dtype];
  if (!Array.isArray(shape) || !shape.every(isSizeInteger)) {
    throw formatError(`${where}: "shape" must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSizeInteger)) {
    throw formatError(`${where}: "data_offsets" must be [begin, end] with non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end) throw formatError(`${where}: data_offsets begin ${begin} is after end ${end}`);
  if (end > dataLength) {
    throw formatError(`${where}: data_offsets end ${end} is past the data section's ${dataLength} bytes`);
  }
  // BigInt: the product of untrusted dimensions may exceed 2^53.
  const elements = shape.reduce((p: bigint, d: number) => p * BigInt(d), 1n);
  if (elements * BigInt(bytesPerElement) !== BigInt(end - begin)) {
    throw formatError(
      `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${elements * BigInt(bytesPerElement)} bytes, ` +
        `data_offsets give ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape.slice(), begin, end };
}

// Tensors must tile the data section exactly: no overlaps, no holes, nothing after the last one.
function checkLayout(entries: Entry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous: Entry | undefined;
  for (const e of entries) {
    if (e.begin < expected) throw formatError(`tensors '${previous!.name}' and '${e.name}' overlap`);
    if (e.begin > expected) throw formatError(`${e.begin - expected} unused bytes before tensor '${e.name}'`);
    expected = e.end;
    previous = e;
  }
  if (expected !== dataLength) throw formatError(`${dataLength - expected} trailing bytes after the last tensor`);
}

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {}; // the reference reader treats null as absent
  if (!isPlainObject(value)) throw formatError(`"${METADATA_KEY}" must be an object`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw formatError(`"${METADATA_KEY}" value for '${key}' must be a string`);
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

// Always a fresh array: a view over the file buffer would be unaligned and pin the whole file.
function readTensor(e: Entry, view: DataView, keepFloat64: boolean): Tensor<FloatArray> {
  const n = (e.end - e.begin) / BYTES_PER_ELEMENT[e.dtype];
  if (e.dtype === 'F64' && keepFloat64) {
    const exact = new Float64Array(n);
    for (let i = 0; i < n; i++) exact[i] = view.getFloat64(e.begin + 8 * i, true);
    return { data: exact, shape: e.shape };
  }
  const out = new Float32Array(n);
  if (e.dtype === 'F32' && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(new Uint8Array(view.buffer, view.byteOffset + e.begin, e.end - e.begin));
  } else if (e.dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(e.begin + 4 * i, true);
  } else if (e.dtype === 'F64') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(e.begin + 8 * i, true);
  } else if (e.dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(e.begin + 2 * i, true));
  } else {
    // BF16 is the top half of an F32: shifting the bits up is exact, NaN payloads included.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(e.begin + 2 * i, true) << 16;
  }
  return { data: out, shape: e.shape };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

// ---------------------------------------------------------------- writing

/** Float32Array data is written as F32, Float64Array data as F64. */
export function encodeSafetensors(tensors: Record<string, Tensor<FloatArray>>, metadata?: Record<string, string>): Buffer {
  const entries = validateTensors(tensors);
  validateMetadata(metadata);

  // Built as text, not via an object, so a tensor named "__proto__" stays an ordinary key.
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const [name, t] of entries) {
    const info = { dtype: t.data instanceof Float64Array ? 'F64' : 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += t.data.byteLength;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const headerLength = Math.ceil((8 + json.length) / 8) * 8 - 8; // pad so the data starts 8-byte aligned

  const out = Buffer.alloc(8 + headerLength + offset);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(out, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, t] of entries) {
    writeFloatsLE(out, at, t.data);
    at += t.data.byteLength;
  }
  return out;
}

/** Writes atomically: readers see either the old file or the complete new one, never a partial write. */
export function saveSafetensors(filePath: string, tensors: Record<string, Tensor<FloatArray>>, metadata?: Record<string, string>): void {
  if (typeof filePath !== 'string' || filePath === '') throw typeError('saveSafetensors: path must be a non-empty string');
  const bytes = encodeSafetensors(tensors, metadata); // validate before touching the disk
  writeFileAtomically(filePath, bytes);
}

function validateTensors(tensors: Record<string, Tensor<FloatArray>>): [string, Tensor<FloatArray>][] {
  if (!isPlainObject(tensors)) throw typeError('tensors must be an object mapping names to {data, shape}');
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const where = `tensor '${name}'`;
    if (name === '') throw valueError('tensor names must be non-empty');
    if (name === METADATA_KEY) throw valueError(`'${METADATA_KEY}' is reserved and cannot name a tensor`);
    if (typeof t !== 'object' || t === null) throw typeError(`${where} must be an object {data, shape}`);
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      throw typeError(`${where}: data must be a Float32Array (F32) or a Float64Array (F64)`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every(isSizeInteger)) {
      throw typeError(`${where}: shape must be an array of non-negative integers`);
    }
    const elements = t.shape.reduce((p, d) => p * d, 1);
    if (elements !== t.data.length) {
      throw shapeError(`${where}: shape [${t.shape.join(', ')}] has ${elements} elements but data has ${t.data.length}`);
    }
  }
  return entries;
}

function validateMetadata(metadata: Record<string, string> | undefined): void {
  if (metadata === undefined) return;
  if (!isPlainObject(metadata)) throw typeError('metadata must be an object of strings');
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw typeError(`metadata value for '${key}' must be a string, got ${typeof value}`);
  }
}

function writeFloatsLE(out: Buffer, at: number, data: FloatArray): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  } else if (data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) out.writeDoubleLE(data[i], at + 8 * i);
  } else {
    for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], at + 4 * i);
  }
}

// ---------------------------------------------------------------- helpers

function formatError(message: string): RnnkitFormatError {
  return new RnnkitFormatError(`invalid safetensors: ${message}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSizeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
