// Names of recurrent cells as users write them, and their native codes.

import { describe } from '../check';
import { valueError } from '../errors';
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
  return cell === NativeCell.Gru ? 3 : cell === NativeCell.Lstm ? 4 : 1;
}
