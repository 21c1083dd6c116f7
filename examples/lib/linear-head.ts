// A minimal fully-connected layer y = W h + b for the examples, written inline
// because rnnkit's own Linear/Dense layer is a later issue. Like the library's
// layers it keeps its parameters and gradients in flat Float32Arrays
// ([W (outFeatures x inFeatures, row-major), b]) so one optimizer steps both.

import { SeededRandom } from './rng';

export class LinearHead {
  readonly parameters: Float32Array;
  readonly gradients: Float32Array;

  constructor(readonly inFeatures: number, readonly outFeatures: number, random: SeededRandom) {
    const n = outFeatures * inFeatures + outFeatures;
    this.parameters = new Float32Array(n);
    this.gradients = new Float32Array(n);
    // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for W and b.
    const k = 1 / Math.sqrt(inFeatures);
    for (let i = 0; i < n; i++) this.parameters[i] = random.uniform(-k, k);
  }

  /**
   * h: rows of inFeatures values, row r starting at hOffset + r * hStride.
   * Returns y [rows, outFeatures].
   */
  forward(h: Float32Array, rows: number, hOffset = 0, hStride = this.inFeatures): Float32Array {
    const I = this.inFeatures, O = this.outFeatures, p = this.parameters, bias = O * I;
    const y = new Float32Array(rows * O);
    for (let r = 0; r < rows; r++) {
      const base = hOffset + r * hStride;
      for (let o = 0; o < O; o++) {
        let s = p[bias + o];
        for (let i = 0; i < I; i++) s += p[o * I + i] * h[base + i];
        y[r * O + o] = s;
      }
    }
    return y;
  }

  /**
   * Accumulates dW += dy^T h and db += sum(dy) into `gradients`; returns dh
   * [rows, inFeatures] = dy W.
   */
  backward(h: Float32Array, dy: Float32Array, rows: number, hOffset = 0, hStride = this.inFeatures): Float32Array {
    const I = this.inFeatures, O = this.outFeatures, p = this.parameters, g = this.gradients, bias = O * I;
    const dh = new Float32Array(rows * I);
    for (let r = 0; r < rows; r++) {
      const base = hOffset + r * hStride;
      for (let o = 0; o < O; o++) {
        const d = dy[r * O + o];
        g[bias + o] += d;
        for (let i = 0; i < I; i++) {
          g[o * I + i] += d * h[base + i];
          dh[r * I + i] += d * p[o * I + i];
        }
      }
    }
    return dh;
  }

  zeroGrad(): void {
    this.gradients.fill(0);
  }
}
