// loadTfjsModel on models TensorFlow.js itself built and saved (scripts/make-tfjs-fixtures.js,
// tfjs 4.22), and one Keras reset_after=True GRU in the converter's layout with a PyTorch
// reference (scripts/make-keras-fixtures.py): rnnkit's predictions on the unpadded sequences
// agree with tfjs's on the padded ones within 1e-5 of scale. Every layer or option without an
// rnnkit counterpart, and every damaged file, is refused with a coded error naming it.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ManyToMany, ManyToOne, RnnkitFormatError, RnnkitUnsupportedError, loadModel, loadTfjsModel, type ManyToOneOptions,
  type SequenceData,
} from '../lib';
import { assertClose } from './helpers/compare';
import { tempDir } from './helpers/structures';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'tfjs');
const TOLERANCE = 1e-5;

interface Expected {
  note: string;
  sequences: SequenceData[];
  /** ManyToOne: [B][width]; ManyToMany: [B][T][width] (padded steps too, which are not compared). */
  outputs: number[][] | number[][][];
}

type Json = Record<string, any>;  // eslint-disable-line @typescript-eslint/no-explicit-any

const expectedOf = (name: string): Expected => JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'expected.json'), 'utf8'));
const modelPath = (name: string) => path.join(FIXTURES, name, 'model.json');

/** rnnkit's outputs flattened in the fixture's order, and the fixture's outputs at the valid steps. */
function flatPair(kind: string, got: number[][] | number[][][], e: Expected): [number[], number[]] {
  if (kind === 'ManyToOne') return [(got as number[][]).flat(), (e.outputs as number[][]).flat()];
  const want = e.sequences.flatMap((s, b) => (e.outputs as number[][][])[b].slice(0, s.length).flat());
  return [(got as number[][][]).flat(2), want];
}

const CASES: Array<{ name: string; kind: 'ManyToOne' | 'ManyToMany'; cell: string }> = [
  { name: 'gru-many-to-one-masked', kind: 'ManyToOne', cell: 'gru' },
  { name: 'bigru-many-to-many-masked', kind: 'ManyToMany', cell: 'gru' },
  { name: 'lstm-stack-features-masking', kind: 'ManyToOne', cell: 'lstm' },
  { name: 'bisimplernn-relu-fixed-length', kind: 'ManyToOne', cell: 'rnn' },
  { name: 'bilstm-2layer-many-to-many-masked', kind: 'ManyToMany', cell: 'lstm' },
  { name: 'functional-gru-nobias-many-to-many', kind: 'ManyToMany', cell: 'gru' },
  { name: 'keras-gru-reset-after', kind: 'ManyToOne', cell: 'gru' },
];

describe('loadTfjsModel: TensorFlow.js and Keras models in', function () {
  this.timeout(30000);
  const tmp = tempDir('tfjs');
  after(() => tmp.remove());

  it('has a test for every fixture folder', () => {
    const folders = fs.readdirSync(FIXTURES, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    assert.deepEqual(folders, [...CASES.map((c) => c.name), 'gru-hard-sigmoid'].sort());
  });

  for (const c of CASES) {
    it(`${c.name}: ${expectedOf(c.name).note}; agrees with the reference within ${TOLERANCE}`, async function () {
      const e = expectedOf(c.name);
      const loaded = loadTfjsModel(modelPath(c.name));
      assert.equal(loaded.kind, c.kind);
      assert.ok(c.kind === 'ManyToOne' ? loaded.model instanceof ManyToOne : loaded.model instanceof ManyToMany);
      assert.equal((loaded.model.config().recurrent as { cell: string }).cell, c.cell);
      const got = loaded.model.predictProba(e.sequences);
      const [actual, expected] = flatPair(c.kind, got, e);
      assert.ok(expected.length > 0);
      assertClose(actual, expected, TOLERANCE, c.name);
      assert.deepEqual(await loaded.model.predictProbaAsync(e.sequences), got, 'async gives the same bits');
    });
  }

  it('reads the GRU variant each file names: tfjs reset_after=False is resetAfter false, Keras reset_after=True the default', function () {
    const tfjs = loadTfjsModel(modelPath('gru-many-to-one-masked')).model as ManyToOne;
    const keras = loadTfjsModel(modelPath('keras-gru-reset-after')).model as ManyToOne;
    assert.equal((tfjs.config().recurrent as { resetAfter?: boolean }).resetAfter, false);
    assert.equal((keras.config().recurrent as { resetAfter?: boolean }).resetAfter, undefined);
    // The same weights in the other variant miss the reference: the variant is what makes the match.
    const e = expectedOf('gru-many-to-one-masked');
    const config = tfjs.config() as unknown as ManyToOneOptions;
    const other = new ManyToOne({ ...config, recurrent: { ...config.recurrent, resetAfter: true } });
    other.loadStateDict(tfjs.stateDict());
    const [actual, expected] = flatPair('ManyToOne', other.predictProba(e.sequences), e);
    assert.throws(() => assertClose(actual, expected, 1e-3, 'resetAfter true'));
  });

  it('reports the masking and the layers it read', function () {
    assert.deepEqual(loadTfjsModel(modelPath('lstm-stack-features-masking')).masking, { type: 'mask_value', value: 0 });
    assert.equal(loadTfjsModel(modelPath('bisimplernn-relu-fixed-length')).masking, null);
    const { layers, masking } = loadTfjsModel(modelPath('gru-many-to-one-masked'));
    assert.deepEqual(masking, { type: 'mask_zero' });
    assert.deepEqual(layers.map((l) => l.replace(/^.* \(/, '(')), ['(Embedding)', '(GRU)', '(Dense)']);
  });

  it('gives a model that saves and loads like any other, predicting the same bits', function () {
    const { model } = loadTfjsModel(modelPath('bigru-many-to-many-masked'));
    const file = tmp.file('imported.safetensors');
    model.save(file);
    const again = loadModel<ManyToMany>(file).model;
    const e = expectedOf('bigru-many-to-many-masked');
    assert.deepEqual(again.predictProba(e.sequences), (model as ManyToMany).predictProba(e.sequences));
  });

  // A copy of a fixture with model.json (and maybe its files) changed.
  let copies = 0;
  function variant(name: string, change: (json: Json, dir: string) => void): string {
    const dir = tmp.file(`copy-${copies++}`);
    fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    change(json, dir);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    return path.join(dir, 'model.json');
  }
  const layersOf = (json: Json): Json[] => json.modelTopology.config.layers;

  function refused(file: string, cls: typeof RnnkitUnsupportedError | typeof RnnkitFormatError, code: string, names: RegExp): void {
    assert.throws(() => loadTfjsModel(file), (error: unknown) => {
      assert.ok(error instanceof cls, `expected a ${cls.name}, got ${String(error)}`);
      assert.equal((error as { code: string }).code, code);
      assert.match((error as Error).message, names);
      return true;
    });
  }
  const unsupported = (file: string, names: RegExp) => refused(file, RnnkitUnsupportedError, 'ERR_RNNKIT_UNSUPPORTED', names);
  const damaged = (file: string, names: RegExp) => refused(file, RnnkitFormatError, 'ERR_RNNKIT_FORMAT', names);

  it("refuses tfjs's default GRU, whose recurrent_activation is hard_sigmoid, naming layer and option (a real tfjs file)", function () {
    unsupported(modelPath('gru-hard-sigmoid'), /layer "gru_GRU\d+" \(GRU\): recurrent_activation "hard_sigmoid"/);
  });

  const GRU = 'gru-many-to-one-masked';
  const options: Array<[string, (layer: Json) => void, RegExp]> = [
    ['stateful=True', (l) => { l.config.stateful = true; }, /\(GRU\): stateful=True has no rnnkit counterpart/],
    ['go_backwards=True', (l) => { l.config.go_backwards = true; }, /\(GRU\): go_backwards=True .*Bidirectional/],
    ['return_state=True', (l) => { l.config.return_state = true; }, /\(GRU\): return_state=True/],
    ["activation 'relu' on a GRU", (l) => { l.config.activation = 'relu'; }, /\(GRU\): activation "relu"; rnnkit's GRU takes 'tanh'/],
    ['recurrent_activation hard_sigmoid', (l) => { l.config.recurrent_activation = 'hard_sigmoid'; }, /recurrent_activation "hard_sigmoid"/],
    ['time_major=True', (l) => { l.config.time_major = true; }, /\(GRU\): time_major=True/],
  ];
  for (const [what, change, names] of options) {
    it(`refuses a GRU with ${what}, naming the layer`, function () {
      unsupported(variant(GRU, (json) => change(layersOf(json)[1])), names);
    });
  }

  it("accepts unroll=True and recurrent dropout: they change how Keras computes or trains, not what it predicts", function () {
    const file = variant(GRU, (json) => Object.assign(layersOf(json)[1].config, { unroll: true, recurrent_dropout: 0.3, dropout: 0.2 }));
    const e = expectedOf(GRU);
    const [actual, expected] = flatPair('ManyToOne', loadTfjsModel(file).model.predictProba(e.sequences), e);
    assertClose(actual, expected, TOLERANCE, 'unroll');
  });

  it('refuses a SimpleRNN activation other than tanh/relu, a Dense activation other than softmax/linear, merge modes other than concat', function () {
    const rnn = 'bisimplernn-relu-fixed-length';
    unsupported(variant(rnn, (json) => { layersOf(json)[1].config.layer.config.activation = 'sigmoid'; }),
      /\(Bidirectional\), its SimpleRNN: activation "sigmoid"; rnnkit's SimpleRNN takes 'tanh' or 'relu'/);
    unsupported(variant(rnn, (json) => { layersOf(json)[2].config.activation = 'sigmoid'; }), /\(Dense\): activation "sigmoid"; rnnkit's heads are softmax/);
    unsupported(variant(rnn, (json) => { layersOf(json)[1].config.merge_mode = 'sum'; }), /\(Bidirectional\): merge_mode "sum"/);
    unsupported(variant(rnn, (json) => { layersOf(json)[1].config.backward_layer = layersOf(json)[1].config.layer; }),
      /\(Bidirectional\): backward_layer: a backward layer of its own/);
    unsupported(variant(rnn, (json) => { layersOf(json).push({ class_name: 'Activation', config: { name: 'act', activation: 'softmax' } }); }),
      /layer "act" \(Activation\): comes after the Dense head/);
  });

  it('refuses a layer class rnnkit has not, a model without a Dense head, and a stack of different sizes, naming them', function () {
    unsupported(variant(GRU, (json) => {
      layersOf(json).splice(1, 0, { class_name: 'Conv1D', config: { name: 'conv1d', filters: 4, kernel_size: 3 } });
    }), /layer "conv1d" \(Conv1D\): rnnkit has no counterpart for a Conv1D layer/);
    unsupported(variant(GRU, (json) => { layersOf(json).pop(); }), /does not end in a Dense layer/);
    unsupported(variant(GRU, (json) => { layersOf(json).splice(1, 0, { class_name: 'Masking', config: { name: 'mask', mask_value: 0 } }); }),
      /layer "mask" \(Masking\): a Masking layer must come first/);
    unsupported(variant('lstm-stack-features-masking', (json) => { layersOf(json)[3].config.units = 5; }),
      /layer "lstm_LSTM\d+": units 5 differs from layer "lstm_LSTM\d+"'s 6/);
    unsupported(variant(GRU, (json) => { layersOf(json).push({ class_name: 'GRU', config: { ...layersOf(json)[1].config, name: 'late' } }); }),
      /layer "late" \(GRU\): comes after the Dense head/);
  });

  it('refuses a functional model that is not one chain, a graph model, quantized and float16 weights', function () {
    unsupported(variant('functional-gru-nobias-many-to-many', (json) => {
      layersOf(json)[3].inbound_nodes = [[[layersOf(json)[1].name, 0, 0, {}]]];
    }), /\(Dense\): rnnkit reads a functional model only as one chain/);
    unsupported(variant(GRU, (json) => { json.format = 'graph-model'; }), /format "graph-model" is not a layers model/);
    unsupported(variant(GRU, (json) => { json.weightsManifest[0].weights[0].quantization = { dtype: 'uint8', scale: 1, min: 0 }; }),
      /embeddings\): quantized weights are not read/);
    unsupported(variant(GRU, (json) => { json.weightsManifest[0].weights[0].dtype = 'float16'; }), /dtype "float16"; only float32/);
  });

  it('refuses damaged files with a format error naming what is wrong, and reads nothing outside the folder', function () {
    damaged(variant(GRU, (_, dir) => fs.rmSync(path.join(dir, 'weights.bin'))), /paths\[0\]: cannot read/);
    damaged(variant(GRU, (_, dir) => fs.truncateSync(path.join(dir, 'weights.bin'), 100)), /of the shards, which hold 100/);
    damaged(variant(GRU, (_, dir) => fs.appendFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(8))), /the shards hold 824/);
    damaged(variant(GRU, (json) => { json.weightsManifest[0].paths = ['../../weights.bin']; }), /is outside the model's folder/);
    damaged(variant(GRU, (json) => { json.weightsManifest[0].paths = ['/etc/hostname']; }), /is outside the model's folder/);
    damaged(variant(GRU, (json) => { json.weightsManifest[0].weights[1].name = 'stray/kernel'; }), /expected one weight gru_GRU\d+\/...\/kernel/);
    damaged(variant(GRU, (json, dir) => {
      json.weightsManifest[0].weights.push({ name: 'extra/kernel', shape: [2], dtype: 'float32' });
      fs.appendFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(8));
    }), /weights extra\/kernel belong to no layer rnnkit read/);
    damaged(variant(GRU, (json) => { json.weightsManifest[0].weights[0].shape = [4, 9]; }),  // the same bytes, transposed
      /embeddings: expected shape \[9, 4\], got \[4, 9\]/);
    const notJson = tmp.file('not.json');
    fs.writeFileSync(notJson, '{ "modelTopology": ');
    damaged(notJson, /not a readable JSON file/);
    assert.throws(() => loadTfjsModel(42 as never), (e: unknown) => (e as { code?: string }).code === 'ERR_RNNKIT_TYPE');
  });
});
