// Reads a TensorFlow.js layers model from disk: model.json (modelTopology and
// weightsManifest, as tf.io's file handler and tensorflowjs_converter write it)
// and its weight shards, into the topology (unchecked JSON) and named float32
// weights. Knows nothing of Keras layers (keras-layers.ts) or rnnkit's structures.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe } from '../check';
import { RnnkitFormatError, RnnkitUnsupportedError, typeError } from '../errors';

export interface TfjsWeight {
  shape: number[];
  data: Float32Array;
}

export interface TfjsArtifacts {
  /** The Keras model config: modelTopology, or its model_config where the converter wrapped it. */
  topology: unknown;
  /** Every weight of the manifest by name, in manifest order. */
  weights: Map<string, TfjsWeight>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `modelJsonPath` and the shards it names (paths relative to its folder, never outside it). */
export function readTfjsArtifacts(modelJsonPath: string): TfjsArtifacts {
  if (typeof modelJsonPath !== 'string' || modelJsonPath === '') {
    throw typeError(`path: expected the path of a model.json file, got ${describe(modelJsonPath)}`);
  }
  const where = `${modelJsonPath}`;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
  } catch (error) {
    throw new RnnkitFormatError(`${where}: not a readable JSON file (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(json)) throw new RnnkitFormatError(`${where}: expected a JSON object with modelTopology and weightsManifest`);
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new RnnkitUnsupportedError(`${where}: format ${describe(json.format)} is not a layers model (only 'layers-model' ` +
      'files, from tf.layers or a converted Keras model, have the layers rnnkit maps)');
  }
  if (!isObject(json.modelTopology)) throw new RnnkitFormatError(`${where}: modelTopology: expected an object, got ${describe(json.modelTopology)}`);
  const topology = isObject(json.modelTopology.model_config) ? json.modelTopology.model_config : json.modelTopology;
  if (!Array.isArray(json.weightsManifest)) {
    throw new RnnkitFormatError(`${where}: weightsManifest: expected an array of weight groups, got ${describe(json.weightsManifest)}`);
  }
  const folder = path.dirname(path.resolve(modelJsonPath));
  const weights = new Map<string, TfjsWeight>();
  json.weightsManifest.forEach((group, g) => readGroup(weights, group, `${where}: weightsManifest[${g}]`, folder));
  return { topology, weights };
}

function readGroup(out: Map<string, TfjsWeight>, group: unknown, where: string, folder: string): void {
  if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
    throw new RnnkitFormatError(`${where}: expected { paths: [...], weights: [...] }, got ${describe(group)}`);
  }
  // A group's shards are one buffer cut in pieces; its weights follow each other in it.
  const pieces = group.paths.map((p, i) => {
    if (typeof p !== 'string' || p === '') throw new RnnkitFormatError(`${where}.paths[${i}]: expected a file name, got ${describe(p)}`);
    const file = path.resolve(folder, p);
    if (path.isAbsolute(p) || path.relative(folder, file).startsWith('..')) {
      throw new RnnkitFormatError(`${where}.paths[${i}]: ${describe(p)} is outside the model's folder`);
    }
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new RnnkitFormatError(`${where}.paths[${i}]: cannot read ${file} (${(error as Error).message})`, { cause: error });
    }
  });
  const buffer = Buffer.concat(pieces);
  let offset = 0;
  group.weights.forEach((spec, i) => {
    const at = `${where}.weights[${i}]`;
    if (!isObject(spec) || typeof spec.name !== 'string' || !Array.isArray(spec.shape)) {
      throw new RnnkitFormatError(`${at}: expected { name, shape, dtype }, got ${describe(spec)}`);
    }
    const name = spec.name;
    if (spec.quantization !== undefined) {
      throw new RnnkitUnsupportedError(`${at} (${name}): quantized weights are not read; convert without --quantize_* options`);
    }
    if (spec.dtype !== 'float32') {
      throw new RnnkitUnsupportedError(`${at} (${name}): dtype ${describe(spec.dtype)}; only float32 weights are read`);
    }
    const shape = spec.shape as unknown[];
    if (!shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw new RnnkitFormatError(`${at} (${name}): shape ${describe(spec.shape)} is not a list of sizes`);
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = count * 4;
    if (offset + bytes > buffer.length) {
      throw new RnnkitFormatError(`${at} (${name}): needs bytes ${offset}..${offset + bytes} of the shards, which hold ${buffer.length}`);
    }
    if (out.has(name)) throw new RnnkitFormatError(`${at}: the name ${name} appears twice in the manifest`);
    const data = new Float32Array(count);
    for (let k = 0; k < count; k++) data[k] = buffer.readFloatLE(offset + 4 * k);
    out.set(name, { shape: [...(shape as number[])], data });
    offset += bytes;
  });
  if (offset !== buffer.length) {
    throw new RnnkitFormatError(`${where}: the weights use ${offset} bytes, the shards hold ${buffer.length}`);
  }
}
