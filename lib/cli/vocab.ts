// Token vocabularies of the CLI's tasks: a list of symbols whose index is the
// token id, with optional special entries first; saved as JSON in the model.

export class Vocabulary {
  readonly symbols: readonly string[];
  private readonly index: Map<string, number>;
  /** Id used for symbols not in the list, or -1 when unknown symbols are refused. */
  readonly unknown: number;

  constructor(symbols: readonly string[], unknownSymbol?: string) {
    this.symbols = [...symbols];
    this.index = new Map(this.symbols.map((s, i) => [s, i]));
    if (this.index.size !== this.symbols.length) throw new Error('vocabulary: duplicate symbols');
    this.unknown = unknownSymbol === undefined ? -1 : (this.index.get(unknownSymbol) ?? -1);
  }

  /** Specials first, then every symbol seen in `sequences` at least `minCount` times, sorted. */
  static build(specials: readonly string[], sequences: Iterable<Iterable<string>>, minCount = 1, unknownSymbol?: string): Vocabulary {
    const counts = new Map<string, number>();
    for (const seq of sequences) for (const s of seq) counts.set(s, (counts.get(s) ?? 0) + 1);
    const seen = [...counts].filter(([s, n]) => n >= minCount && !specials.includes(s)).map(([s]) => s).sort();
    return new Vocabulary([...specials, ...seen], unknownSymbol);
  }

  static fromJSON(json: unknown, what: string): Vocabulary {
    const o = json as { symbols?: unknown; unknown?: unknown };
    if (!o || !Array.isArray(o.symbols) || !o.symbols.every((s) => typeof s === 'string')) {
      throw new Error(`${what}: the saved vocabulary is not a list of symbols`);
    }
    return new Vocabulary(o.symbols as string[], typeof o.unknown === 'string' ? o.unknown : undefined);
  }

  toJSON(): { symbols: string[]; unknown?: string } {
    return this.unknown >= 0 ? { symbols: [...this.symbols], unknown: this.symbols[this.unknown] } : { symbols: [...this.symbols] };
  }

  get size(): number {
    return this.symbols.length;
  }

  has(symbol: string): boolean {
    return this.index.has(symbol);
  }

  id(symbol: string): number {
    const id = this.index.get(symbol);
    if (id !== undefined) return id;
    if (this.unknown >= 0) return this.unknown;
    throw new Error(`unknown symbol ${JSON.stringify(symbol)}`);
  }

  encode(symbols: Iterable<string>): number[] {
    // map() allocates exactly its length; Array.from(iterable) grows by pushing and keeps the slack,
    // which on CMUdict's 112k examples was 24 of the 57 MB heap that every full GC marks.
    return [...symbols].map((s) => this.id(s));
  }

  decode(ids: Iterable<number>): string[] {
    return Array.from(ids, (i) => this.symbols[i] ?? '?');
  }
}
