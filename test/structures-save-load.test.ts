// Whole-model files: model.save(path) then loadModel(path) rebuilds the same
// structure with the same weights, so every prediction is bit-identical; the
// file's __metadata__ carries the kind and config; damaged files are refused.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { RnnkitFormatError, loadModel, loadSafetensors, saveSafetensors } from '../lib';
import { MODEL_CASES } from './helpers/structure-models';
import { assertSameBits, tempDir } from './helpers/structures';

describe('structures: save and load', function () {
  this.timeout(30000);
  const tmp = tempDir('save-load');
  after(() => tmp.remove());

  MODEL_CASES.forEach((c, n) => {
    it(`${c.name}: a loaded model has the same kind, config and weights and predicts bit-identically`, async function () {
      const model = c.make();
      const data = c.data(100 + n, 24);
      // Train a little so the weights are not the constructor's (a reload that re-initialised would still match otherwise).
      await model.fit(data, { epochs: 1, batchSize: 8, optimizer: { type: 'adam', lr: 1e-2 }, seed: 1 });
      const file = tmp.file(`model-${n}.safetensors`);
      model.save(file, { note: 'kept' });

      const { metadata } = loadSafetensors(file);
      assert.equal(metadata.kind, model.kind);
      assert.deepEqual(JSON.parse(metadata.config), JSON.parse(JSON.stringify(model.config())));
      assert.equal(metadata.note, 'kept');

      const { model: loaded, metadata: loadedMetadata } = loadModel(file);
      assert.equal(loaded.kind, model.kind);
      assert.equal(loaded.constructor, model.constructor);
      assert.equal(loadedMetadata.note, 'kept');
      assert.deepEqual(loaded.parameterShapes(), model.parameterShapes());
      assertSameBits(loaded.parameters, model.parameters, 'parameters');
      assert.deepEqual(loaded.config(), model.config());

      const probe = c.data(200 + n, 6);
      assert.deepEqual(c.outputs(loaded, probe), c.outputs(model, probe));
      assert.equal((await loaded.evaluateBatch(probe)).loss, (await model.evaluateBatch(probe)).loss);
      // A fresh model of the same config predicts differently: the comparison above can fail.
      assert.notDeepEqual(c.outputs(c.make(), probe), c.outputs(model, probe));
    });
  });

  it('a loaded model trains on exactly as the original does', async function () {
    const c = MODEL_CASES.find((m) => m.name.includes('bahdanau'))!;
    const model = c.make();
    const data = c.data(7, 32);
    await model.fit(data, { epochs: 1, batchSize: 8, seed: 2 });
    const file = tmp.file('continue.safetensors');
    model.save(file);
    const { model: loaded } = loadModel(file);
    await model.fit(data, { epochs: 1, batchSize: 8, seed: 3 });
    await loaded.fit(data, { epochs: 1, batchSize: 8, seed: 3 });
    assertSameBits(loaded.parameters, model.parameters, 'parameters after one more epoch');
  });

  it('refuses every truncation of a model file with a format error naming the file, and a checkpoint is not a model', async function () {
    const c = MODEL_CASES[0];
    const model = c.make();
    const file = tmp.file('whole.safetensors');
    model.save(file);
    const bytes = fs.readFileSync(file);
    const cut = tmp.file('cut.safetensors');
    const header = Number(bytes.readBigUInt64LE(0));
    for (const length of [0, 4, 8, 8 + Math.floor(header / 2), 8 + header, bytes.length - 4, bytes.length - 1]) {
      fs.writeFileSync(cut, bytes.subarray(0, length));
      assert.throws(() => loadModel(cut), (error: unknown) => {
        assert.ok(error instanceof RnnkitFormatError, `length ${length}: ${String(error)}`);
        assert.equal((error as RnnkitFormatError).code, 'ERR_RNNKIT_FORMAT');
        assert.ok((error as Error).message.includes(cut), `length ${length}: the message names the file: ${(error as Error).message}`);
        return true;
      });
    }
    const checkpoint = tmp.file('checkpoint.safetensors');
    await model.fit(c.data(1, 8), { epochs: 1, batchSize: 8, checkpointPath: checkpoint });
    assert.throws(() => loadModel(checkpoint), (error: unknown) => error instanceof RnnkitFormatError && /not an rnnkit model/.test(error.message));
  });

  it('refuses a file whose config does not match its weights, naming what is wrong', function () {
    const [a, b] = [MODEL_CASES[0], MODEL_CASES[2]];
    const file = tmp.file('mismatch.safetensors');
    const model = a.make();
    model.save(file);
    const { tensors, metadata } = loadSafetensors(file);
    const other = b.make();
    const altered = tmp.file('altered.safetensors');
    // The weights of one structure under the kind and config of another.
    saveSafetensors(altered, tensors, { ...metadata, kind: other.kind, config: JSON.stringify(other.config()) });
    assert.throws(() => loadModel(altered), (error: unknown) => error instanceof RangeError && /stateDict|parameters/.test((error as Error).message));
    saveSafetensors(altered, tensors, { ...metadata, kind: 'Transformer' });
    assert.throws(() => loadModel(altered), (error: unknown) => error instanceof RnnkitFormatError && /Transformer/.test(error.message));
    saveSafetensors(altered, tensors, { ...metadata, config: '{"input": ' });
    assert.throws(() => loadModel(altered), (error: unknown) => error instanceof RnnkitFormatError && /config/.test(error.message));
  });
});
