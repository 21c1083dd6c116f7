// Small statistics and formatting helpers of the benchmark harness.

import { performance } from 'node:perf_hooks';

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at), hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** n values in [-1, 1) from a seeded xorshift32 (benchmark inputs, independent of the library's generator). */
export function randomValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 2; }
  return out;
}

/** Median time (ms) of each function, run in turn (A B C A B C ...) after 3 warm-up rounds. */
export function interleavedMedians(fns: Array<() => void>, runs: number): number[] {
  const times = fns.map(() => [] as number[]);
  for (let r = -3; r < runs; r++) {
    fns.forEach((f, i) => {
      const start = performance.now();
      f();
      const ms = performance.now() - start;
      if (r >= 0) times[i].push(ms);
    });
  }
  return times.map(median);
}

/** A table printed to the console and rendered as Markdown for bench/RESULTS.md. */
export class Table {
  readonly rows: string[][] = [];
  constructor(readonly title: string, readonly header: string[], readonly notes: string[] = []) {}

  add(row: Array<string | number>): void {
    const cells = row.map(String);
    this.rows.push(cells);
    console.log(this.line(cells));
  }

  printHeader(): void {
    console.log(`\n## ${this.title}`);
    console.log(this.line(this.header));
  }

  private line(cells: string[]): string {
    return cells.map((c, i) => (i < 3 ? c.padEnd(i === 0 ? 4 : 8) : c.padStart(9))).join(' ');
  }

  markdown(): string {
    const out = [`### ${this.title}`, ''];
    out.push(`| ${this.header.join(' | ')} |`, `|${this.header.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`);
    for (const r of this.rows) out.push(`| ${r.join(' | ')} |`);
    if (this.notes.length > 0) out.push('', ...this.notes);
    return out.join('\n');
  }
}
