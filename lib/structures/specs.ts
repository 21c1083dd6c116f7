// Configuration shapes shared by the structures, with their checks. Configs
// are plain JSON so a saved model can be rebuilt from its file's metadata.

import { checkBoolean, checkNumberInRange, checkObject, checkPositiveInteger, describe } from '../check';
import { valueError } from '../errors';
import { gruCell, nativeCell, type CellName, type Nonlinearity } from '../layers/cell-kind';
import { checkProjSize } from '../layers/recurrent';
import { NativeCell } from '../native';

/** A recurrent stack: cell, size, depth, direction, dropout between layers. */
export interface RecurrentSpec {
  cell: CellName;
  nonlinearity?: Nonlinearity;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  dropout?: number;
  /** GRU only: false puts the reset gate before W_hn (Keras reset_after=False; default true, PyTorch's). */
  resetAfter?: boolean;
  /**
   * LSTM only: PyTorch's proj_size, h = W_hr (o * tanh(c)) of projSize units, in [1, hiddenSize) (default 0:
   * none). The stack's outputs and final states are then projSize wide (a bidirectional one's 2 * projSize).
   */
  projSize?: number;
}

/** Per-step inputs: token ids through an embedding, or real-valued feature vectors. */
export type InputSpec =
  | { type: 'tokens'; vocabSize: number; embeddingSize: number }
  | { type: 'features'; size: number };

/** What a per-step or per-sequence head predicts. */
export type OutputSpec =
  | { type: 'classes'; numClasses: number; labelSmoothing?: number }
  | { type: 'real'; size: number };

/** Output tokens that are fed back as the next step's input (back projection). */
export interface TokenOutputSpec {
  vocabSize: number;
  embeddingSize: number;
  /** Fed as the input of the first step. */
  startToken: number;
  /** Ends a sequence; appended to every training target. */
  endToken: number;
  labelSmoothing?: number;
}

/**
 * The spec with its defaults filled in; resetAfter is kept only where it is false and projSize only where it is
 * set, so files written before they existed and after read the same.
 */
export function checkRecurrentSpec(name: string, value: unknown): Required<Omit<RecurrentSpec, 'nonlinearity' | 'resetAfter' | 'projSize'>> & { nonlinearity: Nonlinearity; resetAfter?: false; projSize?: number } {
  const o = checkObject(name, value);
  nativeCell(`${name}.cell`, o.cell, o.nonlinearity ?? 'tanh');
  if (o.resetAfter !== undefined && o.cell !== 'gru') {
    throw valueError(`${name}.resetAfter: only a 'gru' cell has a reset gate, got cell ${describe(o.cell)}`);
  }
  const resetAfter = gruCell(`${name}.resetAfter`, o.resetAfter) === NativeCell.Gru;
  const hiddenSize = checkPositiveInteger(`${name}.hiddenSize`, o.hiddenSize);
  if (o.projSize !== undefined && o.cell !== 'lstm') {
    throw valueError(`${name}.projSize: only an 'lstm' cell has a projection (PyTorch's proj_size), got cell ${describe(o.cell)}`);
  }
  const projSize = checkProjSize(`${name}.projSize`, o.projSize, null, hiddenSize);
  return {
    ...(resetAfter ? {} : { resetAfter: false as const }),
    ...(projSize > 0 ? { projSize } : {}),
    cell: o.cell as CellName,
    nonlinearity: (o.nonlinearity ?? 'tanh') as Nonlinearity,
    hiddenSize,
    numLayers: o.numLayers === undefined ? 1 : checkPositiveInteger(`${name}.numLayers`, o.numLayers, 64),
    bidirectional: o.bidirectional === undefined ? false : checkBoolean(`${name}.bidirectional`, o.bidirectional),
    dropout: o.dropout === undefined ? 0 : checkNumberInRange(`${name}.dropout`, o.dropout, 0, 1),
  };
}

export function checkInputSpec(name: string, value: unknown): InputSpec {
  const o = checkObject(name, value);
  if (o.type === 'tokens') {
    return { type: 'tokens', vocabSize: checkPositiveInteger(`${name}.vocabSize`, o.vocabSize),
      embeddingSize: checkPositiveInteger(`${name}.embeddingSize`, o.embeddingSize) };
  }
  if (o.type === 'features') return { type: 'features', size: checkPositiveInteger(`${name}.size`, o.size) };
  throw valueError(`${name}.type: expected 'tokens' or 'features', got ${describe(o.type)}`);
}

export function checkOutputSpec(name: string, value: unknown): OutputSpec {
  const o = checkObject(name, value);
  if (o.type === 'classes') {
    return { type: 'classes', numClasses: checkPositiveInteger(`${name}.numClasses`, o.numClasses),
      labelSmoothing: o.labelSmoothing === undefined ? 0 : checkNumberInRange(`${name}.labelSmoothing`, o.labelSmoothing, 0, 1) };
  }
  if (o.type === 'real') return { type: 'real', size: checkPositiveInteger(`${name}.size`, o.size) };
  throw valueError(`${name}.type: expected 'classes' or 'real', got ${describe(o.type)}`);
}

export function checkTokenOutputSpec(name: string, value: unknown): Required<TokenOutputSpec> {
  const o = checkObject(name, value);
  const vocabSize = checkPositiveInteger(`${name}.vocabSize`, o.vocabSize);
  const token = (key: string) => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
      throw valueError(`${name}.${key}: expected a token id in [0, ${vocabSize}), got ${describe(v)}`);
    }
    return v;
  };
  return {
    vocabSize,
    embeddingSize: checkPositiveInteger(`${name}.embeddingSize`, o.embeddingSize),
    startToken: token('startToken'),
    endToken: token('endToken'),
    labelSmoothing: o.labelSmoothing === undefined ? 0 : checkNumberInRange(`${name}.labelSmoothing`, o.labelSmoothing, 0, 1),
  };
}
