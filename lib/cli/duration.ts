// Parses time budgets as people write them: 90s, 3m, 1h, 1m30s, 500ms, or a
// bare number of seconds.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000 };

/** Milliseconds for `text`, or null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const parts = t.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g);
  if (!parts || parts.join('') !== t) return null;
  let total = 0;
  for (const p of parts) {
    const [, n, unit] = p.match(/^(\d+(?:\.\d+)?)(ms|s|m|h)$/)!;
    total += Number(n) * UNITS[unit];
  }
  return total;
}

/** 2m05s, 45s, 1h02m: a short human form of a duration in milliseconds. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
