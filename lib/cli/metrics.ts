// Scores the tasks report: edit distance (phoneme error rate), bits per
// character, mean absolute error; and how a metric is labelled and printed.

/** Levenshtein distance between two token sequences (unit costs). */
export function editDistance(a: readonly number[], b: readonly number[]): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** Nats per symbol -> bits per symbol. */
export function bits(nats: number): number {
  return nats / Math.LN2;
}

export function meanAbsoluteError(pred: ArrayLike<number>, actual: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < pred.length; i++) sum += Math.abs(pred[i] - actual[i]);
  return sum / pred.length;
}

/** One reported number: a stable key (JSON), a label for people, and how to print it. */
export interface Metric {
  key: string;
  label: string;
  value: number;
  digits?: number;
  /** 'lower' or 'higher' is better; omitted for counts. */
  better?: 'lower' | 'higher';
}

export function formatMetric(m: Metric): string {
  if (Number.isInteger(m.value) && m.digits === undefined) return String(m.value);
  return m.value.toFixed(m.digits ?? 4);
}

/** { key: value } of a metric list, as saved in the model file and printed with --json. */
export function metricValues(metrics: readonly Metric[]): Record<string, number> {
  return Object.fromEntries(metrics.map((m) => [m.key, m.value]));
}
