// loadTfjsModel: a TensorFlow.js layers model (model.json + weight shards, from
// tf.layers or tensorflowjs_converter's Keras conversion) as the rnnkit structure
// it matches: ManyToOne when the last recurrent layer returns its final state,
// ManyToMany when it returns every step (return_sequences=True).

import { ManyToMany } from '../structures/many-to-many';
import { ManyToOne } from '../structures/many-to-one';
import type { InputSpec, OutputSpec, RecurrentSpec } from '../structures/specs';
import { planKerasModel, type KerasPlan } from './keras-layers';
import { kerasStateDict } from './keras-weights';
import { readTfjsArtifacts } from './tfjs-artifacts';

export interface TfjsModel {
  model: ManyToOne | ManyToMany;
  kind: 'ManyToOne' | 'ManyToMany';
  /**
   * How the Keras model marked padding: an Embedding's mask_zero, a Masking layer's mask_value, or
   * null. rnnkit takes each sequence unpadded instead (its valid steps only), which is the same for
   * padding at the end of a sequence; a masked step in the middle has no rnnkit counterpart.
   */
  masking: KerasPlan['masking'];
  /** The Keras layers read, in order, as `name (ClassName)`. */
  layers: string[];
}

/**
 * Reads `modelJsonPath` and its shards (files only, no network) and builds the matching structure
 * with the model's weights. A Dense softmax head becomes `output: { type: 'classes' }` (predictProba
 * gives the softmax), a linear one `{ type: 'real' }`. Throws ERR_RNNKIT_UNSUPPORTED naming any
 * layer or option rnnkit has no counterpart for, ERR_RNNKIT_FORMAT for a damaged file.
 */
export function loadTfjsModel(modelJsonPath: string): TfjsModel {
  const { topology, weights } = readTfjsArtifacts(modelJsonPath);
  const plan = planKerasModel(topology);
  const { tensors, inputSize } = kerasStateDict(plan, weights);
  const first = plan.recurrent[0];
  const input: InputSpec = plan.embedding
    ? { type: 'tokens', vocabSize: plan.embedding.vocabSize, embeddingSize: plan.embedding.embeddingSize }
    : { type: 'features', size: inputSize };
  const recurrent: RecurrentSpec = {
    cell: first.cell === 'SimpleRNN' ? 'rnn' : first.cell === 'GRU' ? 'gru' : 'lstm',
    hiddenSize: first.units, numLayers: plan.recurrent.length, bidirectional: first.bidirectional,
    ...(first.cell === 'SimpleRNN' ? { nonlinearity: first.activation } : {}),
    ...(first.cell === 'GRU' && !first.resetAfter ? { resetAfter: false } : {}),
  };
  const output: OutputSpec = plan.head.activation === 'softmax'
    ? { type: 'classes', numClasses: plan.head.units } : { type: 'real', size: plan.head.units };
  const perStep = plan.recurrent[plan.recurrent.length - 1].returnSequences;
  const model = perStep ? new ManyToMany({ input, recurrent, output }) : new ManyToOne({ input, recurrent, output });
  try {
    model.loadStateDict(tensors);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, kind: model.kind, masking: plan.masking, layers: plan.layers };
}
