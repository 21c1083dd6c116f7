// Child process of test/reliability-crash.test.ts: trains a model whose
// checkpoint is a few MB (so saving takes tens of ms), saving a checkpoint
// after every epoch, resuming from the checkpoint if there is one, until it
// is killed. After each epoch (just before fit saves it) it prints
// `epoch <n> <hash of the weights>` so the parent can tell which checkpoint
// contents are legitimate.
//   node dist/test/reliability-crash.child.js <checkpoint path>

import * as fs from 'node:fs';
import { ManyToMany, type ManyToManyExample } from '../lib';

export function makeModel(): ManyToMany {
  return new ManyToMany({ input: { type: 'features', size: 16 }, recurrent: { cell: 'gru', hiddenSize: 256, numLayers: 2 },
    output: { type: 'real', size: 4 }, seed: 7 });
}

export function makeData(): ManyToManyExample[] {
  return Array.from({ length: 2 }, (_, i) => ({
    input: Array.from({ length: 3 }, (_, t) => Array.from({ length: 16 }, (_, k) => Math.sin(i + t * 0.3 + k * 0.1))),
    target: Array.from({ length: 3 }, (_, t) => Array.from({ length: 4 }, (_, k) => Math.cos(i + t + k))),
  }));
}

export const FIT = { batchSize: 2, shuffle: false, seed: 1, optimizer: { type: 'adam' as const, lr: 1e-3 } };

/** FNV-1a over the weights' bytes. */
export function weightsHash(weights: Float32Array): string {
  const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16);
}

if (require.main === module) {
  const file = process.argv[2];
  const model = makeModel();
  const resumeFrom = fs.existsSync(file) ? file : undefined;
  model.fit(makeData(), {
    ...FIT, epochs: 1_000_000, checkpointPath: file, resumeFrom,
    onEpochEnd: (report) => { fs.writeSync(1, `epoch ${report.epoch} ${weightsHash(model.parameters)}\n`); },
  }).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
