// Adam (Kingma & Ba, 2015; PyTorch's torch.optim.Adam without weight decay)
// and global-norm gradient clipping for the examples, written inline because
// rnnkit's optimizers are a later issue. Each parameter group is a pair of flat
// Float32Arrays (parameters, gradients), as rnnkit's layers expose them.

export interface ParamGroup {
  parameters: Float32Array;
  gradients: Float32Array;
}

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class Adam {
  lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(private readonly groups: ParamGroup[], options: AdamOptions = {}) {
    this.lr = options.lr ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.m = groups.map((g) => new Float32Array(g.parameters.length));
    this.v = groups.map((g) => new Float32Array(g.parameters.length));
  }

  /** One update from the gradients currently in each group. */
  step(): void {
    this.t++;
    const b1 = this.beta1, b2 = this.beta2;
    const correction1 = 1 - b1 ** this.t;
    const correction2 = 1 - b2 ** this.t;
    const stepSize = this.lr / correction1;
    const sqrtCorrection2 = Math.sqrt(correction2);
    this.groups.forEach((group, k) => {
      const p = group.parameters, g = group.gradients, m = this.m[k], v = this.v[k];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtCorrection2 + this.eps);
      }
    });
  }
}

/** Scales all gradients so their joint L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(groups: ParamGroup[], maxNorm: number): number {
  let sq = 0;
  for (const { gradients: g } of groups) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  if (norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const { gradients: g } of groups) for (let i = 0; i < g.length; i++) g[i] *= scale;
  }
  return norm;
}
