// A small seeded generator (sfc32) so initialisation and dropout are
// reproducible from one integer seed, independent of Math.random.

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 spreads the seed over the four words of state; the high word
    // of a seed beyond 32 bits is folded in so every safe integer differs.
    const high = Math.floor(seed / 4294967296) >>> 0;
    let s = (seed >>> 0) ^ Math.imul(high, 0x9e3779b1);
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /**
   * Stream `index` of `seed`: generators that differ for every index and do not depend on each other,
   * e.g. one per input of a batch, so what one input samples does not depend on what else is in its batch.
   */
  static stream(seed: number, index: number): Random {
    const r = new Random(seed);
    r.d = (r.d ^ Math.imul((index >>> 0) + 1, 0x9e3779b1)) >>> 0;
    r.c = (r.c ^ Math.imul(Math.floor(index / 4294967296) >>> 0, 0x85ebca6b)) >>> 0;
    for (let i = 0; i < 12; i++) r.nextUint32();
    return r;
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** The four words of state, to checkpoint and restore the stream exactly. */
  getState(): [number, number, number, number] {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw new RangeError(`random state: expected 4 unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    [this.a, this.b, this.c, this.d] = state as [number, number, number, number];
  }

  /** An integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();  // (0, 1]: log stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** A non-negative safe integer (53 bits), e.g. to seed native generators. */
  nextSafeInteger(): number {
    return (this.nextUint32() >>> 11) * 4294967296 + this.nextUint32();
  }
}
