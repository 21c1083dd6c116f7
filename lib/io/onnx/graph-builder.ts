// Builds one ONNX graph (nodes, weights, typed inputs and outputs) and encodes
// it as a ModelProto with onnx-proto's generated protobuf code. Knows nothing
// of rnnkit's layers: the emitters in this folder call it.

import type { onnx } from 'onnx-proto';

/** The opset every exported graph imports: RNN, GRU and LSTM at version 14, Softmax/LogSoftmax on any axis. */
export const OPSET = 14;
/** IR version 7 is the one that opset 14 came with; onnxruntime reads it and every later one. */
const IR_VERSION = 7;

/** TensorProto.DataType codes (onnx.proto). */
export const enum DataType { Float = 1, Int32 = 6, Int64 = 7, Bool = 9 }

const ATTRIBUTE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

/** A dimension: a fixed size, or a name for a size the host picks (batch, steps). */
export type Dim = number | string;
export type AttributeValue = number | string | number[] | string[] | { float: number } | { tensor: onnx.ITensorProto };

// onnx-proto (1.5 MB of generated code) loads on the first export, not with rnnkit.
let proto: typeof onnx | null = null;
function onnxProto(): typeof onnx {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  proto ??= (require('onnx-proto') as typeof import('onnx-proto')).onnx;
  return proto;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A graph input the host feeds. */
  input(name: string, type: DataType, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Names an existing value as a graph output (through Identity when it is an input or used twice). */
  output(value: string, name: string, type: DataType, dims: Dim[]): void {
    this.claim(name);
    this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}_out` });
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A constant float tensor (weights), stored as raw little-endian bytes. */
  floats(hint: string, data: Float32Array, dims: number[]): string {
    return this.constant(hint, DataType.Float, dims, littleEndianBytes(data));
  }

  /** A constant int64 tensor (shapes, axes, indices); dims default to a vector. */
  int64s(hint: string, values: readonly number[], dims: number[] = [values.length]): string {
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    return this.constant(hint, DataType.Int64, dims, littleEndianBytes(data));
  }

  /** One node; returns its output names (fresh ones unless given). */
  node(opType: string, inputs: string[], outputs: number | string[] = 1, attributes: Record<string, AttributeValue> = {}): string[] {
    const out = typeof outputs === 'number'
      ? Array.from({ length: outputs }, (_, i) => this.fresh(`${opType.toLowerCase()}${outputs > 1 ? `_${i}` : ''}`))
      : outputs.map((n) => { this.claim(n); return n; });
    this.nodes.push({
      opType, input: inputs, output: out, name: this.fresh(`${opType}_node`),
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** Shorthand for a node with one output. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.node(opType, inputs, 1, attributes)[0];
  }

  /** The ModelProto's bytes; metadata goes into metadata_props. */
  encode(docString: string, metadata: Record<string, string> = {}): Uint8Array {
    const o = onnxProto();
    const model = o.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'rnnkit',
      docString,
      graph: { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return o.ModelProto.encode(model).finish();
  }

  private constant(hint: string, dataType: DataType, dims: number[], rawData: Uint8Array): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dataType, dims, rawData });
    return name;
  }

  private fresh(hint: string): string {
    let name = hint;
    while (this.names.has(name)) name = `${hint}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`internal: ONNX value '${name}' defined twice`);
    this.names.add(name);
  }
}

function valueInfo(name: string, elemType: DataType, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attribute(name: string, v: AttributeValue): onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: ATTRIBUTE.int, i: v };
  if (typeof v === 'string') return { name, type: ATTRIBUTE.string, s: utf8(v) };
  if (Array.isArray(v)) {
    return v.every((x) => typeof x === 'string')
      ? { name, type: ATTRIBUTE.strings, strings: (v as string[]).map(utf8) }
      : { name, type: ATTRIBUTE.ints, ints: v as number[] };
  }
  if ('float' in v) return { name, type: ATTRIBUTE.float, f: v.float };
  return { name, type: ATTRIBUTE.tensor, t: v.tensor };
}

/** ONNX raw_data is little-endian whatever the host; copied, so later changes to `data` do not leak in. */
function littleEndianBytes(data: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(data.byteLength);
  const view = new DataView(bytes.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  else data.forEach((v, i) => view.setBigInt64(8 * i, v, true));
  return bytes;
}

/** A scalar float tensor for ConstantOfShape's `value` or a Constant node. */
export function scalarFloatTensor(value: number): { tensor: onnx.ITensorProto } {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return { tensor: { dataType: DataType.Float, dims: [1], rawData: bytes } };
}
