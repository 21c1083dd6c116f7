// The structures' dropout outside the recurrent stacks (token embeddings,
// encoder outputs, the head's input): its gradients, that it acts in training
// only, its config in model files, and its argument checks.

import assert from 'node:assert/strict';
import {
  EncoderDecoder, ManyToMany, ManyToOne, loadModel,
  type EncoderDecoderExample, type EncoderDecoderOptions, type ManyToManyExample, type ManyToOneExample, type SequenceModel,
} from '../lib';
import { Random } from '../lib/random';
import { assertGradientsAgree, gradientSamples, randomTokens, tempDir, testRandom } from './helpers/structures';

const LENGTHS = [4, 2, 5];
const RATES = { embedding: 0.3, encoderOutput: 0.3, headInput: 0.3 };

function tokenSequences(seed: number, vocab: number): number[][] {
  const r = testRandom(seed);
  return LENGTHS.map((n) => randomTokens(r, n, 0, vocab));
}

function encoderDecoder(extra: Partial<EncoderDecoderOptions>): EncoderDecoder {
  return new EncoderDecoder({
    input: { type: 'tokens', vocabSize: 7, embeddingSize: 4 },
    encoder: { cell: 'gru', hiddenSize: 5, bidirectional: true },
    decoder: { cell: 'gru', hiddenSize: 6 },
    output: { vocabSize: 6, embeddingSize: 3, startToken: 0, endToken: 1 },
    seed: 5, ...extra,
  });
}

function translationBatch(): EncoderDecoderExample[] {
  const r = testRandom(9);
  return tokenSequences(8, 7).map((input) => ({ input, target: randomTokens(r, 1 + r.nextInt(4), 2, 6) }));
}

const classBatch = (): ManyToOneExample[] => tokenSequences(3, 6).map((input, i) => ({ input, target: i % 3 }));
const tagBatch = (): ManyToManyExample[] => tokenSequences(4, 6).map((input) => ({ input, target: input.map((t) => t % 4) }));

const models: Array<[string, (dropout: typeof RATES | undefined) => SequenceModel<unknown>, () => unknown[]]> = [
  ['EncoderDecoder with Bahdanau attention',
    (d) => encoderDecoder({ attention: 'bahdanau', dropout: d }) as SequenceModel<unknown>, translationBatch],
  ['EncoderDecoder, LSTM, context at every step',
    (d) => encoderDecoder({
      encoder: { cell: 'lstm', hiddenSize: 5 }, decoder: { cell: 'lstm', hiddenSize: 4 }, context: 'every-step', dropout: d,
    }) as SequenceModel<unknown>, translationBatch],
  ['ManyToOne',
    (d) => new ManyToOne({
      input: { type: 'tokens', vocabSize: 6, embeddingSize: 4 }, recurrent: { cell: 'lstm', hiddenSize: 5, bidirectional: true },
      output: { type: 'classes', numClasses: 3 }, seed: 2, dropout: d && { embedding: d.embedding, headInput: d.headInput },
    }) as SequenceModel<unknown>, classBatch],
  ['ManyToMany',
    (d) => new ManyToMany({
      input: { type: 'tokens', vocabSize: 6, embeddingSize: 4 }, recurrent: { cell: 'gru', hiddenSize: 5 },
      output: { type: 'classes', numClasses: 4 }, seed: 3, dropout: d && { embedding: d.embedding, headInput: d.headInput },
    }) as SequenceModel<unknown>, tagBatch],
];

describe('structures: dropout on embeddings, encoder outputs and the head input', function () {
  this.timeout(60000);

  for (const [name, make, batchOf] of models) {
    describe(name, function () {
      it('trains on the gradient of the dropped-out loss (central differences with the same masks)', async function () {
        const result = await gradientSamples(make(RATES), batchOf(), { perTensor: 2, seed: 4, trainingLoss: true });
        assertGradientsAgree(result, `${name} with dropout`);
      });

      it('drops in training only: evaluation and prediction match the model without dropout, bit for bit', async function () {
        const dropped = make(RATES), plain = make(undefined), batch = batchOf();
        assert.deepEqual(dropped.parameters, plain.parameters, 'dropout does not change the initialisation');
        const evaluated = await dropped.evaluateBatch(batch), reference = await plain.evaluateBatch(batch);
        assert.equal(evaluated.loss, reference.loss);
        const inputs = (batch as Array<{ input: number[] }>).map((e) => e.input);
        const predict = (m: SequenceModel<unknown>) => (m as unknown as { predict(x: number[][]): unknown }).predict(inputs);
        assert.deepEqual(predict(dropped), predict(plain));
        // And it does act in training: the training loss differs from the evaluation loss, and from a
        // training pass without dropout.
        const trained = await dropped.trainBatch(batch, { random: new Random(1) });
        const trainedPlain = await plain.trainBatch(batch, { random: new Random(1) });
        assert.equal(trainedPlain.loss, reference.loss, 'without dropout, training and evaluation compute the same loss');
        assert.notEqual(trained.loss, reference.loss);
        // Another generator state draws other masks.
        const again = await dropped.trainBatch(batch, { random: new Random(2) });
        assert.notEqual(again.loss, trained.loss);
      });
    });
  }

  it('a model file keeps the rates, and a model without dropout writes no dropout key', function () {
    const tmp = tempDir('rnnkit-dropout-');
    try {
      const model = encoderDecoder({ attention: 'luong-general', dropout: { headInput: 0.2, embedding: 0.1 } });
      assert.deepEqual(model.config().dropout, { embedding: 0.1, headInput: 0.2 });
      model.save(tmp.file('m.safetensors'));
      const loaded = loadModel(tmp.file('m.safetensors')).model as EncoderDecoder;
      assert.deepEqual(loaded.config().dropout, { embedding: 0.1, headInput: 0.2 });
      assert.equal('dropout' in encoderDecoder({}).config(), false);
      assert.equal('dropout' in encoderDecoder({ dropout: { embedding: 0 } }).config(), false);
    } finally {
      tmp.remove();
    }
  });

  it('refuses rates outside [0, 1), unknown sites, and sites a structure does not have, naming them', function () {
    assert.throws(() => encoderDecoder({ dropout: { embedding: 1 } }), /dropout\.embedding: expected a (number|rate) in \[0, 1\)/);
    assert.throws(() => encoderDecoder({ dropout: { headInput: -0.1 } }), /dropout\.headInput/);
    assert.throws(() => encoderDecoder({ dropout: { headInput: '0.1' as unknown as number } }), /dropout\.headInput: expected a number/);
    assert.throws(() => encoderDecoder({ dropout: { input: 0.1 } as never }), /dropout\.input: expected one of embedding, encoderOutput, headInput/);
    assert.throws(() => encoderDecoder({ dropout: 0.1 as never }), /dropout: expected an object/);
    assert.throws(() => new ManyToOne({
      input: { type: 'tokens', vocabSize: 6, embeddingSize: 4 }, recurrent: { cell: 'gru', hiddenSize: 5 },
      output: { type: 'classes', numClasses: 3 }, dropout: { encoderOutput: 0.2 } as never,
    }), /dropout\.encoderOutput: expected one of embedding, headInput/);
  });
});
