// Tensors seen as rows: [..., F] flattened to N = product(leading dims) rows
// of width F, the layout every row-wise kernel (linear, losses) takes.

import { checkObject, checkTensor, formatShape } from './check';
import { shapeError } from './errors';

export interface Rows {
  data: Float32Array;
  shape: number[];
  /** Product of the leading dims. */
  rows: number;
  /** The last dim. */
  width: number;
}

/** A non-empty tensor of rank >= 1 whose last dim is `width` (null: any). */
export function checkRows(name: string, value: unknown, width: number | null, note: string): Rows {
  const shape = checkObject(name, value).shape;
  const rank = Array.isArray(shape) && shape.length > 0 ? shape.length : 1;
  const expected = [...new Array<number>(rank - 1).fill(-1), width ?? -1];
  const t = checkTensor(name, value, expected, note);
  const w = t.shape[rank - 1];
  const rows = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (rows === 0 || w === 0) throw shapeError(`${name}: expected a non-empty tensor (${note}), got ${formatShape(t.shape)}`);
  return { data: t.data, shape: t.shape, rows, width: w };
}
