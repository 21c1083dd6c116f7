// ONNX graphs of the structures that read a sequence: ManyToOne (one output
// per sequence) and ManyToMany (one per step, plus its streaming step with
// the state in and out). Inputs are time-major like rnnkit's: token ids
// [T, B] int64 or features [T, B, F], and lengths [B] int32.

import type { Encoder } from '../../structures/encoder';
import type { ManyToMany } from '../../structures/many-to-many';
import type { ManyToOne } from '../../structures/many-to-one';
import { emitContext, emitEmbedding, emitLinear } from './common-nodes';
import { DataType, GraphBuilder, type Dim } from './graph-builder';
import { emitStack, stackWeights } from './recurrent-nodes';

/** The per-step input as floats [...leading, F]: token ids [...leading] int64 through the embedding, or features. */
export function emitSequenceInput(g: GraphBuilder, encoder: Encoder, name: string, leading: Dim[]): string {
  const embedding = encoder.input.embedding;
  if (embedding) return emitEmbedding(g, embedding, g.input(name, DataType.Int64, leading));
  return g.input(name, DataType.Float, [...leading, encoder.input.size]);
}

/** Class probabilities (softmax) or the real values of a head's output. */
function emitHeadOutput(g: GraphBuilder, classes: boolean, y: string, leading: Dim[], width: number): void {
  if (classes) g.output(g.op('Softmax', [y], { axis: -1 }), 'probabilities', DataType.Float, [...leading, width]);
  else g.output(y, 'values', DataType.Float, [...leading, width]);
}

export function manyToOneGraph(model: ManyToOne): GraphBuilder {
  const g = new GraphBuilder('rnnkit_many_to_one');
  const rnn = model.encoder.rnn;
  const x = emitSequenceInput(g, model.encoder, 'input', ['steps', 'batch']);
  const lengths = g.input('lengths', DataType.Int32, ['batch']);
  const out = emitStack(g, stackWeights(rnn), x, lengths, '', '');
  const y = emitLinear(g, model.head, emitContext(g, out.hN, rnn.numLayers, rnn.numDirections));
  emitHeadOutput(g, isClasses(model), y, ['batch'], model.head.outFeatures);
  return g;
}

export function manyToManyGraph(model: ManyToMany): GraphBuilder {
  const g = new GraphBuilder('rnnkit_many_to_many');
  const x = emitSequenceInput(g, model.encoder, 'input', ['steps', 'batch']);
  const lengths = g.input('lengths', DataType.Int32, ['batch']);
  const out = emitStack(g, stackWeights(model.encoder.rnn), x, lengths, '', '');
  emitHeadOutput(g, isClasses(model), emitLinear(g, model.head, out.output), ['steps', 'batch'], model.head.outFeatures);
  return g;
}

/** ManyToMany.step: one step of B streams, the state [L, B, H] in and out. */
export function manyToManyStepGraph(model: ManyToMany): GraphBuilder {
  const g = new GraphBuilder('rnnkit_many_to_many_step');
  const rnn = model.encoder.rnn, L = rnn.numLayers, H = rnn.hiddenSize;
  const x = g.op('Unsqueeze', [emitSequenceInput(g, model.encoder, 'input', ['batch']), g.int64s('axes', [0])]);
  const h = g.input('h', DataType.Float, [L, 'batch', H]);
  const c = rnn.hasCellState ? g.input('c', DataType.Float, [L, 'batch', H]) : '';
  const out = emitStack(g, stackWeights(rnn), x, '', h, c);
  const y = emitLinear(g, model.head, g.op('Squeeze', [out.output, g.int64s('axes', [0])]));
  emitHeadOutput(g, isClasses(model), y, ['batch'], model.head.outFeatures);
  g.output(out.hN, 'hN', DataType.Float, [L, 'batch', H]);
  if (out.cN) g.output(out.cN, 'cN', DataType.Float, [L, 'batch', H]);
  return g;
}

function isClasses(model: ManyToOne | ManyToMany): boolean {
  return (model.config().output as { type: string }).type === 'classes';
}
