// The ONNX graph of an RNN / GRU / LSTM layer: x, lengths, h0 (and c0) in;
// output, hN (and cN) out, in the layer's own layout (time-major, or
// batch-first through two Transposes).

import type { Recurrent } from '../../layers/recurrent';
import { DataType, GraphBuilder } from './graph-builder';
import { emitStack, stackWeights } from './recurrent-nodes';

export function layerGraph(rnn: Recurrent): GraphBuilder {
  const g = new GraphBuilder('rnnkit_recurrent');
  const w = stackWeights(rnn);
  const S = rnn.numLayers * rnn.numDirections, H = rnn.hiddenSize, DH = rnn.numDirections * H;
  const x = g.input('x', DataType.Float, rnn.batchFirst ? ['batch', 'steps', rnn.inputSize] : ['steps', 'batch', rnn.inputSize]);
  const lengths = g.input('lengths', DataType.Int32, ['batch']);
  const h0 = g.input('h0', DataType.Float, [S, 'batch', H]);
  const c0 = rnn.hasCellState ? g.input('c0', DataType.Float, [S, 'batch', H]) : '';
  const timeMajor = rnn.batchFirst ? g.op('Transpose', [x], { perm: [1, 0, 2] }) : x;
  const out = emitStack(g, w, timeMajor, lengths, h0, c0);
  const output = rnn.batchFirst ? g.op('Transpose', [out.output], { perm: [1, 0, 2] }) : out.output;
  g.output(output, 'output', DataType.Float, rnn.batchFirst ? ['batch', 'steps', DH] : ['steps', 'batch', DH]);
  g.output(out.hN, 'hN', DataType.Float, [S, 'batch', H]);
  if (out.cN) g.output(out.cN, 'cN', DataType.Float, [S, 'batch', H]);
  return g;
}
