// Linear, Embedding, losses, optimizers, clipping and schedules agree with
// PyTorch 1.13 on the fixtures of scripts/make-block-fixtures.py.

import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import {
  Adam, AdamW, Embedding, Linear, SGD, clipGradNorm, loadSafetensors, logSoftmax, mseLoss, schedules,
  softmaxCrossEntropy, softmaxCrossEntropyAsync, type Optimizer, type Tensor,
} from '../lib';
import { assertClose } from './helpers/compare';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'blocks');
const TOLERANCE = 1e-5;

function load(name: string): { t: Record<string, Tensor>; config: Record<string, any> } {
  const { tensors, metadata } = loadSafetensors(path.join(FIXTURES, `${name}.safetensors`));
  return { t: tensors, config: JSON.parse(metadata.config) };
}

function withPrefix(tensors: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(tensors)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, t]) => [name.slice(prefix.length), t]));
}

describe('building blocks match PyTorch', () => {
  for (const name of ['linear', 'linear-nobias']) {
    for (const mode of ['sync', 'async'] as const) {
      it(`Linear matches nn.Linear on [2, 3, in] input: output and every gradient (${name}, ${mode})`, async () => {
        const { t, config } = load(name);
        const layer = new Linear({ inFeatures: config.inFeatures, outFeatures: config.outFeatures, bias: config.bias });
        layer.loadStateDict(withPrefix(t, 'param.'));
        const y = mode === 'sync' ? layer.forward(t['input.x'], { training: true })
          : await layer.forwardAsync(t['input.x'], { training: true });
        assert.deepEqual(y.shape, t['out.y'].shape);
        assertClose(y.data, t['out.y'].data, TOLERANCE, 'y');
        const dx = mode === 'sync' ? layer.backward(t['dout.y']) : await layer.backwardAsync(t['dout.y']);
        assert.deepEqual(dx.shape, t['input.x'].shape);
        assertClose(dx.data, t['grad.x'].data, TOLERANCE, 'grad x');
        const grads = layer.grads();
        assert.deepEqual(Object.keys(grads), config.bias ? ['weight', 'bias'] : ['weight']);
        for (const p of Object.keys(grads)) assertClose(grads[p].data, t[`grad.${p}`].data, TOLERANCE, `grad ${p}`);
      });
    }
  }

  for (const mode of ['sync', 'async'] as const) {
    it(`Embedding matches nn.Embedding with padding_idx: rows, and no gradient for the padding row (${mode})`, async () => {
      const { t, config } = load('embedding-padding');
      const layer = new Embedding({ numEmbeddings: config.numEmbeddings, embeddingDim: config.embeddingDim,
        paddingIdx: config.paddingIdx });
      layer.loadStateDict({ weight: t['param.weight'] });
      const ids = Int32Array.from(t['input.ids'].data);
      const shape = t['input.ids'].shape;
      const out = mode === 'sync' ? layer.forward(ids, shape, { training: true })
        : await layer.forwardAsync(ids, shape, { training: true });
      assert.deepEqual(out.shape, t['out.out'].shape);
      assertClose(out.data, t['out.out'].data, TOLERANCE, 'out');
      if (mode === 'sync') layer.backward(t['dout.out']);
      else await layer.backwardAsync(t['dout.out']);
      assertClose(layer.grads().weight.data, t['grad.weight'].data, TOLERANCE, 'grad weight');
      const E = config.embeddingDim, pad = config.paddingIdx;
      assert.ok(layer.gradients.subarray(pad * E, (pad + 1) * E).every((v) => v === 0), 'padding row gradient is zero');
    });
  }

  it('Embedding initialises like PyTorch: N(0, 1) with the padding row zero', () => {
    const layer = new Embedding({ numEmbeddings: 200, embeddingDim: 50, paddingIdx: -1, seed: 3 });
    assert.equal(layer.paddingIdx, 199);
    const w = layer.parameters;
    assert.ok(w.subarray(199 * 50).every((v) => v === 0));
    const body = w.subarray(0, 199 * 50);
    const mean = body.reduce((a, b) => a + b, 0) / body.length;
    const variance = body.reduce((a, b) => a + (b - mean) ** 2, 0) / body.length;
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.05, `mean ${mean}, variance ${variance}`);
  });

  it('Linear initialises like PyTorch: weight and bias in U(-1/sqrt(in), 1/sqrt(in))', () => {
    const layer = new Linear({ inFeatures: 16, outFeatures: 300, seed: 5 });
    const k = 1 / 4;
    assert.ok(layer.parameters.every((v) => v >= -k && v <= k));
    const max = layer.parameters.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    assert.ok(max > 0.9 * k, 'spans the range');
  });

  for (const mode of ['sync', 'async'] as const) {
    it(`softmaxCrossEntropy with label smoothing and masked rows equals cross_entropy(ignore_index) mean (${mode})`, async () => {
      const { t, config } = load('cross-entropy-mask');
      const targets = Int32Array.from(t['input.targets'].data);  // -1 on masked rows
      const options = { weights: t['input.weights'].data, labelSmoothing: config.labelSmoothing };
      const r = mode === 'sync' ? softmaxCrossEntropy(t['input.logits'], targets, options)
        : await softmaxCrossEntropyAsync(t['input.logits'], targets, options);
      assert.equal(r.count, config.count);
      assertClose([r.loss], t['out.loss_mean'].data, TOLERANCE, 'loss');
      assert.deepEqual(r.dLogits.shape, t['input.logits'].shape);
      assertClose(r.dLogits.data, t['grad.logits_mean'].data, TOLERANCE, 'dLogits');
    });
  }

  it('softmaxCrossEntropy with non-unit row weights matches weighted per-row PyTorch losses (sum and mean)', () => {
    const { t, config } = load('cross-entropy-weighted');
    const targets = Int32Array.from(t['input.targets'].data);
    for (const reduction of ['sum', 'mean'] as const) {
      const r = softmaxCrossEntropy(t['input.logits'], targets,
        { weights: t['input.weights'].data, labelSmoothing: config.labelSmoothing, reduction });
      assertClose([r.loss], t[`out.loss_${reduction}`].data, TOLERANCE, `${reduction} loss`);
      assertClose(r.dLogits.data, t[`grad.logits_${reduction}`].data, TOLERANCE, `${reduction} dLogits`);
      assert.equal(r.count, config.count);
    }
  });

  it('logSoftmax matches torch.log_softmax over the last dim', () => {
    const { t } = load('cross-entropy-mask');
    const out = logSoftmax(t['input.logits']);
    assert.deepEqual(out.shape, t['input.logits'].shape);
    assertClose(out.data, t['out.log_softmax'].data, TOLERANCE, 'log_softmax');
  });

  it('mseLoss matches F.mse_loss (mean) and its row-weighted form', () => {
    const { t } = load('mse');
    const plain = mseLoss(t['input.pred'], t['input.target']);
    assertClose([plain.loss], t['out.loss_plain'].data, TOLERANCE, 'plain loss');
    assertClose(plain.dPred.data, t['grad.pred_plain'].data, TOLERANCE, 'plain dPred');
    const weighted = mseLoss(t['input.pred'], t['input.target'], { weights: t['input.weights'].data });
    assertClose([weighted.loss], t['out.loss_weighted'].data, TOLERANCE, 'weighted loss');
    assertClose(weighted.dPred.data, t['grad.pred_weighted'].data, TOLERANCE, 'weighted dPred');
  });

  const optimizers: Array<[string, (c: Record<string, any>) => Optimizer, string[]]> = [
    ['sgd-nesterov', (c) => new SGD({ lr: c.lr, momentum: c.momentum, dampening: c.dampening, nesterov: c.nesterov,
      weightDecay: c.weight_decay }), ['momentum_buffer']],
    ['sgd-dampening', (c) => new SGD({ lr: c.lr, momentum: c.momentum, dampening: c.dampening, nesterov: c.nesterov,
      weightDecay: c.weight_decay }), ['momentum_buffer']],
    ['adam', (c) => new Adam({ lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weight_decay }), ['exp_avg', 'exp_avg_sq']],
    ['adamw', (c) => new AdamW({ lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weight_decay }), ['exp_avg', 'exp_avg_sq']],
  ];
  for (const [name, make, buffers] of optimizers) {
    for (const mode of ['sync', 'async'] as const) {
      it(`${name} matches torch.optim over 5 steps: parameters after each step and the final state (${mode})`, async () => {
        const { t, config } = load(name);
        const opt = make(config);
        const params = t['input.params'].data.slice();
        for (let k = 1; k <= 5; k++) {
          const grads = t[`input.grad${k}`].data.slice();
          if (mode === 'sync') opt.step(params, grads);
          else await opt.stepAsync(params, grads);
          assertClose(params, t[`out.params${k}`].data, TOLERANCE, `params after step ${k}`);
        }
        const state = opt.state();
        assert.equal(state.step, 5);
        assert.deepEqual(Object.keys(state).sort(), ['step', ...buffers].sort());
        for (const b of buffers) assertClose((state[b] as Tensor).data, t[`state.${b}`].data, TOLERANCE, b);
      });
    }
  }

  it('clipGradNorm matches clip_grad_norm_ above and below the maximum', () => {
    const { t, config } = load('clip-grad-norm');
    for (const tag of ['big', 'small']) {
      const grads = t[`input.grads_${tag}`].data.slice();
      const norm = clipGradNorm(grads, config[`maxNorm_${tag}`]);
      assertClose([norm], t[`out.norm_${tag}`].data, TOLERANCE, `${tag} norm`);
      assertClose(grads, t[`out.grads_${tag}`].data, TOLERANCE, `${tag} grads`);
    }
    const untouched = t['input.grads_small'].data.slice();
    clipGradNorm(untouched, config.maxNorm_small);
    assert.deepEqual(untouched, t['input.grads_small'].data, 'below the maximum nothing changes');
  });

  it('schedules match StepLR, CosineAnnealingLR and SequentialLR([LinearLR, CosineAnnealingLR])', () => {
    const { config } = load('schedules');
    const lr = config.baseLr;
    const cases: Array<[string, schedules.Schedule, number[]]> = [
      ['stepDecay', schedules.stepDecay({ lr, stepSize: config.stepDecay.stepSize, gamma: config.stepDecay.gamma }),
        config.stepDecay.lrs],
      ['cosine', schedules.cosine({ lr, totalSteps: config.cosine.totalSteps, minLr: config.cosine.minLr }),
        config.cosine.lrs],
      ['warmupCosine', schedules.linearWarmup(
        schedules.cosine({ lr, totalSteps: config.warmupCosine.totalSteps, minLr: config.warmupCosine.minLr }),
        { warmupSteps: config.warmupCosine.warmupSteps, startFactor: config.warmupCosine.startFactor }),
      config.warmupCosine.lrs],
    ];
    for (const [name, schedule, expected] of cases) {
      expected.forEach((want, step) => {
        const got = schedule(step);
        assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${name} step ${step}: ${got} vs ${want}`);
      });
    }
    assert.equal(schedules.constant(0.3)(1000), 0.3);
    assert.equal(schedules.cosine({ lr: 1, totalSteps: 10, minLr: 0.1 })(25), 0.1, 'held at minLr after totalSteps');
  });
});
