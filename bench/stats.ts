// Small statistics and formatting helpers of the benchmark harness.

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
