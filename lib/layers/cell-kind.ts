// Names of recurrent cells as users write them, and their native codes.

import { describe } from '../check';
import { typeError, valueError } from '../errors';
import { NativeCell } from '../native';

export type CellName = 'rnn' | 'gru' | 'lstm';
export type Nonlinearity = 'tanh' | 'relu';

export function nativeCell(name: string, cell: unknown, nonlinearity: unknown = 'tanh'): NativeCell {
  if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
    throw valueError(`nonlinearity: expected 'tanh' or 'relu', got ${describe(nonlinearity)}`);
  }
  switch (cell) {
    case 'rnn': return nonlinearity === 'relu' ? NativeCell.RnnRelu : NativeCell.RnnTanh;
    case 'gru': return NativeCell.Gru;
    case 'lstm': return NativeCell.Lstm;
    default: throw valueError(`${name}: expected 'rnn', 'gru' or 'lstm', got ${describe(cell)}`);
  }
}

export function gateCount(cell: NativeCell): number {
  return cell === NativeCell.Gru || cell === NativeCell.GruResetBefore ? 3 : cell === NativeCell.Lstm ? 4 : 1;
}

/** The GRU code for a resetAfter option (undefined: true, PyTorch's GRU); `name` is the option's name in errors. */
export function gruCell(name: string, resetAfter: unknown): NativeCell {
  if (resetAfter === undefined || resetAfter === true) return NativeCell.Gru;
  if (resetAfter === false) return NativeCell.GruResetBefore;
  throw typeError(`${name}: expected a boolean, got ${describe(resetAfter)}`);
}
