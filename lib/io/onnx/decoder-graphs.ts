// ONNX graphs of the structures that write tokens, split where the host's
// search loop (greedy, sampling, beam) goes: a graph that prepares the
// decoder's state (OneToMany 'start', EncoderDecoder 'encoder') and one
// decoder step with the state in and out ('step', 'decoder'). States are
// [L, B, H]; memory and keys are batch-major [B, N, *].

import { AttentiveDecoder } from '../../structures/attentive-decoder';
import type { ConditionedDecoder } from '../../structures/conditioned-decoder';
import type { EncoderDecoder } from '../../structures/encoder-decoder';
import type { OneToMany } from '../../structures/one-to-many';
import { emitAttentionKeys, emitAttentionStep } from './attention-nodes';
import { emitBridge, emitContext, emitEmbedding, emitLinear, emitZeros, squeeze, unsqueeze } from './common-nodes';
import { DataType, GraphBuilder } from './graph-builder';
import { emitStack, stackWeights } from './recurrent-nodes';
import { emitSequenceInput } from './sequence-graphs';

export function oneToManyStartGraph(model: OneToMany): GraphBuilder {
  const g = new GraphBuilder('rnnkit_one_to_many_start');
  const condition = model.conditionEmbedding
    ? emitEmbedding(g, model.conditionEmbedding, g.input('condition', DataType.Int64, ['batch']))
    : g.input('condition', DataType.Float, ['batch', model.decoder.contextSize]);
  emitConditionedStart(g, model.decoder, condition);
  return g;
}

export function oneToManyStepGraph(model: OneToMany): GraphBuilder {
  return conditionedStepGraph('rnnkit_one_to_many_step', model.decoder);
}

export function encoderGraph(model: EncoderDecoder): GraphBuilder {
  const g = new GraphBuilder('rnnkit_encoder');
  const rnn = model.encoder.rnn;
  const x = emitSequenceInput(g, model.encoder, 'input', ['steps', 'batch']);
  const lengths = g.input('lengths', DataType.Int32, ['batch']);
  const out = emitStack(g, stackWeights(rnn), x, lengths, '', '');
  const context = emitContext(g, out.hN, rnn.numLayers, rnn.numDirections);
  const decoder = model.decoder;
  if (!(decoder instanceof AttentiveDecoder)) {
    emitConditionedStart(g, decoder as ConditionedDecoder, context);
    return g;
  }
  const E = decoder.memorySize, H = decoder.decoder.hiddenSize;
  const memory = g.op('Transpose', [out.output], { perm: [1, 0, 2] });
  g.output(memory, 'memory', DataType.Float, ['batch', 'steps', E]);
  if (decoder.decoder.attention !== 'luong-dot') {
    const K = decoder.decoder.attention === 'bahdanau' ? decoder.decoder.attentionSize : H;
    g.output(emitAttentionKeys(g, decoder.decoder, memory), 'keys', DataType.Float, ['batch', 'steps', K]);
  }
  g.output(emitBridge(g, decoder.bridge.linear, context, 1, H), 'h', DataType.Float, [1, 'batch', H]);
  if (decoder.decoder.usesCellState) g.output(emitZeros(g, 1, context, H), 'c', DataType.Float, [1, 'batch', H]);
  return g;
}

export function decoderStepGraph(model: EncoderDecoder): GraphBuilder {
  const decoder = model.decoder;
  if (!(decoder instanceof AttentiveDecoder)) return conditionedStepGraph('rnnkit_decoder_step', decoder as ConditionedDecoder);
  const g = new GraphBuilder('rnnkit_attention_decoder_step');
  const att = decoder.decoder, E = decoder.memorySize, H = att.hiddenSize, V = decoder.vocabSize;
  const x = emitEmbedding(g, decoder.embedding, g.input('token', DataType.Int64, ['batch']));
  const h = g.input('h', DataType.Float, [1, 'batch', H]);
  const c = att.usesCellState ? g.input('c', DataType.Float, [1, 'batch', H]) : '';
  const memory = g.input('memory', DataType.Float, ['batch', 'source_steps', E]);
  const K = att.attention === 'bahdanau' ? att.attentionSize : H;
  const keys = att.attention === 'luong-dot' ? memory : g.input('keys', DataType.Float, ['batch', 'source_steps', K]);
  const sourceLengths = g.input('sourceLengths', DataType.Int32, ['batch']);
  const step = emitAttentionStep(g, att, x, h, c, memory, keys, sourceLengths);
  g.output(g.op('LogSoftmax', [emitLinear(g, decoder.head, step.output)], { axis: -1 }), 'logProbs', DataType.Float, ['batch', V]);
  g.output(step.hN, 'hN', DataType.Float, [1, 'batch', H]);
  if (step.cN) g.output(step.cN, 'cN', DataType.Float, [1, 'batch', H]);
  g.output(step.weights, 'attention', DataType.Float, ['batch', 'source_steps']);
  return g;
}

/** ConditionedDecoder.start: h (bridge of the context, or zeros), c (zeros, LSTM) and, for every-step, the context. */
function emitConditionedStart(g: GraphBuilder, decoder: ConditionedDecoder, context: string): void {
  const L = decoder.rnn.numLayers, H = decoder.rnn.hiddenSize;
  const h = decoder.bridge ? emitBridge(g, decoder.bridge.linear, context, L, H) : emitZeros(g, L, context, H);
  g.output(h, 'h', DataType.Float, [L, 'batch', H]);
  if (decoder.rnn.hasCellState) g.output(emitZeros(g, L, context, H), 'c', DataType.Float, [L, 'batch', H]);
  if (decoder.conditioning === 'every-step') g.output(context, 'context', DataType.Float, ['batch', decoder.contextSize]);
}

/** One step of a ConditionedDecoder: the previous token's embedding (with the context, every-step) through the stack. */
function conditionedStepGraph(name: string, decoder: ConditionedDecoder): GraphBuilder {
  const g = new GraphBuilder(name);
  const L = decoder.rnn.numLayers, H = decoder.rnn.hiddenSize, V = decoder.vocabSize;
  let x = emitEmbedding(g, decoder.embedding, g.input('token', DataType.Int64, ['batch']));
  const h = g.input('h', DataType.Float, [L, 'batch', H]);
  const c = decoder.rnn.hasCellState ? g.input('c', DataType.Float, [L, 'batch', H]) : '';
  if (decoder.conditioning === 'every-step') {
    x = g.op('Concat', [x, g.input('context', DataType.Float, ['batch', decoder.contextSize])], { axis: 1 });
  }
  const out = emitStack(g, stackWeights(decoder.rnn), unsqueeze(g, x, 0), '', h, c);
  const logits = emitLinear(g, decoder.head, squeeze(g, out.output, 0));
  g.output(g.op('LogSoftmax', [logits], { axis: -1 }), 'logProbs', DataType.Float, ['batch', V]);
  g.output(out.hN, 'hN', DataType.Float, [L, 'batch', H]);
  if (out.cN) g.output(out.cN, 'cN', DataType.Float, [L, 'batch', H]);
  return g;
}
