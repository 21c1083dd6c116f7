// Reads a Keras model config (as tfjs and tensorflowjs_converter write it) into
// the plan of an rnnkit structure: an optional Embedding or Masking, a stack of
// SimpleRNN / GRU / LSTM layers (each maybe Bidirectional), a Dense head. Any
// layer or option with no rnnkit counterpart is refused, by name, here.

import { describe } from '../check';
import { RnnkitFormatError, RnnkitUnsupportedError } from '../errors';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export type KerasCell = 'SimpleRNN' | 'GRU' | 'LSTM';

/** One recurrent layer of the stack, with the name its weights are filed under. */
export interface KerasRecurrentLayer {
  name: string;
  cell: KerasCell;
  units: number;
  bidirectional: boolean;
  /** SimpleRNN: 'tanh' | 'relu'; GRU, LSTM: 'tanh'. */
  activation: 'tanh' | 'relu';
  /** GRU only. */
  resetAfter: boolean;
  useBias: boolean;
  returnSequences: boolean;
}

export interface KerasPlan {
  /** The Embedding layer (tokens), or null: the model reads feature vectors. */
  embedding: { name: string; vocabSize: number; embeddingSize: number } | null;
  /** How padded steps are marked: an Embedding's mask_zero, a Masking layer's mask_value, or none. */
  masking: { type: 'mask_zero' } | { type: 'mask_value'; value: number } | null;
  recurrent: KerasRecurrentLayer[];
  /** 'softmax': class probabilities; 'linear': values. */
  head: { name: string; units: number; activation: 'softmax' | 'linear'; useBias: boolean };
  /** Every layer of the chain as `name (ClassName)`, for messages. */
  layers: string[];
}

// Identity at inference, where rnnkit's structures run the imported model.
const INFERENCE_IDENTITY = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);
const RECURRENT = new Set(['SimpleRNN', 'GRU', 'LSTM']);

interface ChainLayer { className: string; name: string; config: Json }

export function planKerasModel(topology: unknown): KerasPlan {
  const chain = layerChain(topology);
  const plan: Omit<KerasPlan, 'head'> & { head: KerasPlan['head'] | null } = {
    embedding: null, masking: null, recurrent: [], head: null, layers: chain.map((l) => `${l.name} (${l.className})`),
  };
  let seenOther = false;  // anything but InputLayer and no-ops before: an Embedding or Masking must come first
  for (const layer of chain) {
    const { className, name, config } = layer;
    const at = `layer ${describe(name)} (${className})`;
    if (plan.head && !INFERENCE_IDENTITY.has(className) && !(className === 'Activation' && plan.head.activation === 'linear')) {
      throw new RnnkitUnsupportedError(`${at}: comes after the Dense head; rnnkit's structures end with the head`);
    }
    if (className === 'InputLayer' || INFERENCE_IDENTITY.has(className)) continue;
    if (className === 'Embedding') {
      if (seenOther) throw new RnnkitUnsupportedError(`${at}: an Embedding must be the first layer`);
      plan.embedding = {
        name, vocabSize: positiveInt(config.input_dim, `${at}: input_dim`), embeddingSize: positiveInt(config.output_dim, `${at}: output_dim`),
      };
      if (config.mask_zero === true) plan.masking = { type: 'mask_zero' };
    } else if (className === 'Masking') {
      if (seenOther) throw new RnnkitUnsupportedError(`${at}: a Masking layer must come first, on the feature vectors (use an Embedding's mask_zero for tokens)`);
      const value = config.mask_value ?? 0;
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new RnnkitFormatError(`${at}: mask_value: expected a number, got ${describe(value)}`);
      plan.masking = { type: 'mask_value', value };
    } else if (RECURRENT.has(className) || className === 'Bidirectional') {
      plan.recurrent.push(recurrentLayer(layer, at));
    } else if (className === 'Dense' || className === 'TimeDistributed') {
      plan.head = denseHead(layer, at, plan.recurrent);
    } else if (className === 'Activation') {
      if (!plan.head) throw new RnnkitUnsupportedError(`${at}: an Activation layer is read only right after the Dense head`);
      if (config.activation !== 'softmax' && config.activation !== 'linear') {
        throw new RnnkitUnsupportedError(`${at}: activation ${describe(config.activation)}: rnnkit's heads are softmax (classes) or linear (values)`);
      }
      plan.head = { ...plan.head, activation: config.activation };
    } else {
      throw new RnnkitUnsupportedError(`${at}: rnnkit has no counterpart for a ${className} layer ` +
        '(it reads Embedding, Masking, SimpleRNN, GRU, LSTM, Bidirectional, Dense, TimeDistributed(Dense), Activation, Dropout)');
    }
    seenOther = true;
  }
  if (plan.recurrent.length === 0) throw new RnnkitUnsupportedError('the model has no SimpleRNN, GRU or LSTM layer');
  if (!plan.head) throw new RnnkitUnsupportedError('the model does not end in a Dense layer: rnnkit\'s ManyToOne and ManyToMany have a Dense head');
  checkStack(plan.recurrent);
  return plan as KerasPlan;
}

/** The layers in order: a Sequential's list, or a functional model that is a single chain. */
function layerChain(topology: unknown): ChainLayer[] {
  if (!isObject(topology)) throw new RnnkitFormatError(`modelTopology: expected a Keras model config, got ${describe(topology)}`);
  const className = topology.class_name;
  const config = topology.config;
  let layers: unknown;
  if (className === 'Sequential') {
    layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;  // Keras < 2.2.3 wrote the list itself
  } else if (className === 'Model' || className === 'Functional') {
    layers = isObject(config) ? config.layers : undefined;
  } else {
    throw new RnnkitUnsupportedError(`modelTopology: a ${describe(className)} model; rnnkit reads Sequential models and functional models that are one chain`);
  }
  if (!Array.isArray(layers)) throw new RnnkitFormatError(`modelTopology: the ${className} config has no list of layers`);
  const parsed: ChainLayer[] = layers.map((l, i) => {
    if (!isObject(l) || typeof l.class_name !== 'string' || !isObject(l.config)) {
      throw new RnnkitFormatError(`modelTopology: layer ${i}: expected { class_name, config }, got ${describe(l)}`);
    }
    const name = l.config.name ?? l.name;
    if (typeof name !== 'string') throw new RnnkitFormatError(`modelTopology: layer ${i} (${l.class_name}) has no name`);
    return { className: l.class_name, name, config: l.config };
  });
  if (className !== 'Sequential') checkSingleChain(config as Json, layers as Json[], parsed);
  return parsed;
}

/** Each layer of a functional model takes exactly the one before it (Keras 2 / tfjs inbound_nodes), the last is the output. */
function checkSingleChain(config: Json, raw: Json[], parsed: ChainLayer[]): void {
  const outputs = config.output_layers, inputs = config.input_layers;
  const names = (v: unknown) => (Array.isArray(v) ? v.map((e) => (Array.isArray(e) ? e[0] : e)) : []);
  if (names(inputs).length !== 1 || names(outputs).length !== 1 || names(outputs)[0] !== parsed[parsed.length - 1]?.name) {
    throw new RnnkitUnsupportedError(`modelTopology: a functional model with inputs ${describe(inputs)} and outputs ${describe(outputs)}; ` +
      'rnnkit reads one input and one output, the last layer');
  }
  raw.forEach((l, i) => {
    const nodes = l.inbound_nodes;
    const inputs = i === 0 ? [] : Array.isArray(nodes) && nodes.length === 1 && Array.isArray(nodes[0]) ? nodes[0] as unknown[] : null;
    const from = inputs && inputs.length === 1 && Array.isArray(inputs[0]) ? (inputs[0] as unknown[])[0] : undefined;
    if (i > 0 && from !== parsed[i - 1].name) {
      throw new RnnkitUnsupportedError(`layer ${describe(parsed[i].name)} (${parsed[i].className}): rnnkit reads a functional model ` +
        `only as one chain, each layer fed by the one before (${describe(parsed[i - 1].name)}); this one has inputs ${describe(nodes)}`);
    }
  });
}

function recurrentLayer(layer: ChainLayer, at: string): KerasRecurrentLayer {
  let inner = layer;
  let bidirectional = false;
  if (layer.className === 'Bidirectional') {
    const wrapped = layer.config.layer;
    if (!isObject(wrapped) || typeof wrapped.class_name !== 'string' || !isObject(wrapped.config)) {
      throw new RnnkitFormatError(`${at}: layer: expected the wrapped layer's { class_name, config }`);
    }
    if (!RECURRENT.has(wrapped.class_name)) {
      throw new RnnkitUnsupportedError(`${at}: wraps a ${wrapped.class_name}; rnnkit's bidirectional stacks are SimpleRNN, GRU or LSTM`);
    }
    const merge = layer.config.merge_mode ?? 'concat';
    if (merge !== 'concat') {
      throw new RnnkitUnsupportedError(`${at}: merge_mode ${describe(merge)}; rnnkit concatenates the two directions (merge_mode 'concat')`);
    }
    if (layer.config.backward_layer !== undefined && layer.config.backward_layer !== null) {
      throw new RnnkitUnsupportedError(`${at}: backward_layer: a backward layer of its own; rnnkit's backward direction mirrors the forward one`);
    }
    inner = { className: wrapped.class_name, name: layer.name, config: wrapped.config };
    bidirectional = true;
  }
  const c = inner.config;
  const cell = inner.className as KerasCell;
  const where = bidirectional ? `${at}, its ${cell}` : at;
  for (const option of ['stateful', 'go_backwards', 'return_state', 'time_major'] as const) {
    if (c[option] === true) {
      throw new RnnkitUnsupportedError(`${where}: ${option}=True has no rnnkit counterpart` +
        (option === 'go_backwards' ? ' (use Bidirectional for a reversed direction)' : ''));
    }
  }
  const activation = c.activation ?? 'tanh';
  const allowed = cell === 'SimpleRNN' ? ['tanh', 'relu'] : ['tanh'];
  if (typeof activation !== 'string' || !allowed.includes(activation)) {
    throw new RnnkitUnsupportedError(`${where}: activation ${describe(activation)}; rnnkit's ${cell} takes ${allowed.map((a) => `'${a}'`).join(' or ')}`);
  }
  if (cell !== 'SimpleRNN') {
    const gate = c.recurrent_activation ?? 'sigmoid';
    if (gate !== 'sigmoid') {
      throw new RnnkitUnsupportedError(`${where}: recurrent_activation ${describe(gate)}; rnnkit's gates are the logistic sigmoid ` +
        "(tfjs's default is hard_sigmoid: build with recurrentActivation: 'sigmoid')");
    }
  }
  // Keras 2.3+ (and the converter) default to reset_after=True; tfjs writes false, its only GRU.
  const resetAfter = cell === 'GRU' ? (c.reset_after ?? true) : true;
  if (typeof resetAfter !== 'boolean') throw new RnnkitFormatError(`${where}: reset_after: expected a boolean, got ${describe(resetAfter)}`);
  return {
    name: layer.name, cell, bidirectional, resetAfter,
    units: positiveInt(c.units, `${where}: units`),
    activation: activation as 'tanh' | 'relu',
    useBias: c.use_bias !== false,
    returnSequences: c.return_sequences === true,
  };
}

function denseHead(layer: ChainLayer, at: string, recurrent: KerasRecurrentLayer[]): KerasPlan['head'] {
  let c = layer.config;
  if (recurrent.length === 0) throw new RnnkitUnsupportedError(`${at}: a Dense layer before any recurrent layer has no rnnkit counterpart`);
  if (layer.className === 'TimeDistributed') {
    const wrapped = c.layer;
    if (!isObject(wrapped) || wrapped.class_name !== 'Dense' || !isObject(wrapped.config)) {
      throw new RnnkitUnsupportedError(`${at}: wraps ${isObject(wrapped) ? describe(wrapped.class_name) : 'nothing'}; rnnkit reads TimeDistributed(Dense) only`);
    }
    if (!recurrent[recurrent.length - 1].returnSequences) {
      throw new RnnkitFormatError(`${at}: TimeDistributed after a recurrent layer without return_sequences`);
    }
    c = wrapped.config;
  }
  const activation = c.activation ?? 'linear';
  if (activation !== 'softmax' && activation !== 'linear') {
    throw new RnnkitUnsupportedError(`${at}: activation ${describe(activation)}; rnnkit's heads are softmax (classes) or linear (values)`);
  }
  return { name: layer.name, units: positiveInt(c.units, `${at}: units`), activation, useBias: c.use_bias !== false };
}

/** rnnkit stacks layers of one cell, size and direction, each feeding the next its every step. */
function checkStack(stack: KerasRecurrentLayer[]): void {
  const first = stack[0];
  stack.forEach((l, i) => {
    const differs = (['cell', 'units', 'bidirectional', 'activation', 'resetAfter'] as const).find((k) => l[k] !== first[k]);
    if (differs) {
      throw new RnnkitUnsupportedError(`layer ${describe(l.name)}: ${differs} ${describe(l[differs])} differs from layer ${describe(first.name)}'s ` +
        `${describe(first[differs])}; rnnkit stacks recurrent layers of one cell, size and direction`);
    }
    if (i < stack.length - 1 && !l.returnSequences) {
      throw new RnnkitFormatError(`layer ${describe(l.name)}: feeds another recurrent layer without return_sequences`);
    }
  });
}

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new RnnkitFormatError(`${what}: expected a positive integer, got ${describe(v)}`);
  return v;
}
