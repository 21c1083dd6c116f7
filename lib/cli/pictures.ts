// Pictures written by hand as SVG (no browser, no canvas): the loss curve and
// attention heatmaps. PNG copies come from rsvg-convert when it is installed
// (Debian: librsvg2-bin); without it only the SVG files are written.

import { spawnSync } from 'node:child_process';
import { writeFileSync, renameSync } from 'node:fs';
import type { LossPoint } from './trainer';

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round tick values covering [low, high]. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(low / step - 1e-9) * step; v <= high + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function tickLabel(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 10000) return `${Number((v / 1000).toPrecision(4))}k`;
  return String(Number(v.toPrecision(4)));
}

export interface CurveOptions {
  title: string;
  yLabel: string;
}

/** Training and validation loss against training progress (epochs, or sequences in short runs). */
export function lossCurveSvg(history: readonly LossPoint[], options: CurveOptions): string {
  const W = 720, H = 456, left = 78, right = 24, top = 64, bottom = 62;
  const pw = W - left - right, ph = H - top - bottom;
  const lastEpochs = history.length ? history[history.length - 1].epochs : 0;
  const byEpochs = lastEpochs >= 2;
  const xOf = (p: LossPoint) => (byEpochs ? p.epochs : p.sequences);
  const xs = history.map(xOf);
  const values = history.flatMap((p) => [p.train, p.validation]).filter(Number.isFinite);
  const xMax = Math.max(1e-9, ...xs);
  let yMin = values.length ? Math.min(...values) : 0;
  let yMax = values.length ? Math.max(...values) : 1;
  // A log axis when the loss falls by more than 4x, so the late part of the curve stays readable.
  const log = yMin > 0 && yMax / yMin > 4;
  let yTicks: number[];
  let Y: (v: number) => number;
  if (log) {
    const lo = Math.log10(yMin) - 0.04, hi = Math.log10(yMax) + 0.04;
    yTicks = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (Math.log10(v) >= lo && Math.log10(v) <= hi) yTicks.push(Number(v.toPrecision(6)));
      }
    }
    if (yTicks.length < 4) {  // a narrow range: add 3, 4, 6, 8 x 10^e too
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
        for (const m of [3, 4, 6, 8]) {
          const v = m * 10 ** e;
          if (Math.log10(v) >= lo && Math.log10(v) <= hi) yTicks.push(Number(v.toPrecision(6)));
        }
      }
      yTicks.sort((a, b) => a - b);
    }
    Y = (v: number) => top + (1 - (Math.log10(v) - lo) / (hi - lo)) * ph;
  } else {
    const pad = (yMax - yMin) * 0.08 || Math.abs(yMax) * 0.1 || 1;
    yMin = Math.max(0, yMin - pad);
    yMax += pad;
    const lo = yMin, hi = yMax;
    yTicks = niceTicks(lo, hi, 6).filter((v) => v >= lo && v <= hi);
    Y = (v: number) => top + (1 - (v - lo) / (hi - lo)) * ph;
  }
  const xTicks = niceTicks(0, xMax, 6);
  const X = (v: number) => left + (v / Math.max(xMax, xTicks[xTicks.length - 1])) * pw;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="26" font-size="17" text-anchor="middle" font-weight="bold">${esc(options.title)}</text>`);
  for (const v of yTicks) {
    parts.push(`<line x1="${left}" x2="${left + pw}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${left - 8}" y="${(Y(v) + 4).toFixed(1)}" font-size="12" text-anchor="end">${tickLabel(v)}</text>`);
  }
  for (const v of xTicks) {
    parts.push(`<line x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" y1="${top}" y2="${top + ph}" stroke="#efefef"/>`);
    parts.push(`<text x="${X(v).toFixed(1)}" y="${top + ph + 18}" font-size="12" text-anchor="middle">${tickLabel(v)}</text>`);
  }
  parts.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  parts.push(`<text x="${left + pw / 2}" y="${H - 16}" font-size="13" text-anchor="middle">${byEpochs ? 'epochs' : 'training sequences seen'}</text>`);
  parts.push(`<text transform="translate(20 ${top + ph / 2}) rotate(-90)" font-size="13" text-anchor="middle">${esc(options.yLabel + (log ? ', log scale' : ''))}</text>`);
  const series: Array<[keyof LossPoint, string, string]> = [['train', '#1f77b4', 'training'], ['validation', '#d62728', 'validation']];
  series.forEach(([key, color, name], i) => {
    const pts = history.filter((p) => Number.isFinite(p[key] as number));
    if (pts.length === 0) return;
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${X(xOf(p)).toFixed(1)} ${Y(p[key] as number).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of pts) parts.push(`<circle cx="${X(xOf(p)).toFixed(1)}" cy="${Y(p[key] as number).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = top - 16, lx = left + pw / 2 - 110 + i * 120;  // legend between the title and the plot
    parts.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 30}" y="${ly + 4}" font-size="13">${name}</text>`);
  });
  // The point whose weights were kept: the lowest validation loss.
  const kept = history.filter((p) => Number.isFinite(p.validation)).reduce<LossPoint | null>((b, p) => (b === null || p.validation < b.validation ? p : b), null);
  if (kept) {
    const kx = X(xOf(kept)), ky = Y(kept.validation);
    parts.push(`<circle cx="${kx.toFixed(1)}" cy="${ky.toFixed(1)}" r="7" fill="none" stroke="#d62728" stroke-width="1.5"/>`);
    parts.push(`<text x="${(kx + (kx > left + pw - 90 ? -10 : 10)).toFixed(1)}" y="${(ky < top + ph / 2 ? ky + 24 : ky - 16).toFixed(1)}" font-size="12" fill="#d62728" stroke="white" stroke-width="4" paint-order="stroke" text-anchor="${kx > left + pw - 90 ? 'end' : 'start'}">kept (best validation)</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export interface Heatmap {
  title: string;
  /** A second, smaller line under the title. */
  subtitle?: string;
  /** Labels of the columns (e.g. source letters) and rows (e.g. output phonemes). */
  columns: string[];
  rows: string[];
  /** weights[row][column] in [0, 1]. */
  weights: number[][];
}

/** Attention heatmaps side by side: rows = output steps, columns = source steps, darker = more weight. */
export function heatmapsSvg(maps: readonly Heatmap[], title: string): string {
  const cell = 26, gap = 46, labelW = 56, labelH = 30, titleH = 46, top = 44;
  const textWidth = (m: Heatmap) => 8 * Math.max(m.title.length, m.subtitle?.length ?? 0);
  const widths = maps.map((m) => Math.max(labelW + m.columns.length * cell, textWidth(m)));
  const heights = maps.map((m) => titleH + labelH + m.rows.length * cell);
  const W = Math.max(360, widths.reduce((a, b) => a + b, 0) + gap * (maps.length + 1) - gap + 40);
  const H = top + Math.max(0, ...heights) + 56;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="26" font-size="17" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  let x0 = gap / 2 + 10;
  maps.forEach((m, k) => {
    const gridW = labelW + m.columns.length * cell, mid = x0 + widths[k] / 2;
    const gx = x0 + (widths[k] - gridW) / 2 + labelW, gy = top + titleH + labelH;
    parts.push(`<text x="${mid}" y="${top + 18}" font-size="14" text-anchor="middle">${esc(m.title)}</text>`);
    if (m.subtitle) {
      parts.push(`<text x="${mid}" y="${top + 36}" font-size="12" fill="#555" text-anchor="middle">${esc(m.subtitle)}</text>`);
    }
    m.columns.forEach((c, j) => {
      parts.push(`<text x="${gx + j * cell + cell / 2}" y="${gy - 9}" font-size="14" text-anchor="middle" font-family="DejaVu Sans Mono, monospace">${esc(c)}</text>`);
    });
    m.rows.forEach((r, i) => {
      parts.push(`<text x="${gx - 6}" y="${gy + i * cell + cell / 2 + 5}" font-size="13" text-anchor="end" font-family="DejaVu Sans Mono, monospace">${esc(r)}</text>`);
      m.columns.forEach((_, j) => {
        const w = Math.max(0, Math.min(1, m.weights[i]?.[j] ?? 0));
        const shade = Math.round(255 * (1 - w));
        const fill = `rgb(${shade},${Math.round(255 - w * (255 - 60))},${Math.round(255 - w * (255 - 140))})`;
        parts.push(`<rect x="${gx + j * cell}" y="${gy + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd" stroke-width="0.5"><title>${esc(r)} / ${esc(m.columns[j])}: ${w.toFixed(3)}</title></rect>`);
      });
    });
    parts.push(`<rect x="${gx}" y="${gy}" width="${m.columns.length * cell}" height="${m.rows.length * cell}" fill="none" stroke="#555"/>`);
    x0 += widths[k] + gap;
  });
  // Colour key.
  const ky = H - 30, kx = 20;
  parts.push(`<text x="${kx}" y="${ky + 13}" font-size="12">attention weight</text>`);
  for (let i = 0; i <= 10; i++) {
    const w = i / 10, shade = Math.round(255 * (1 - w));
    parts.push(`<rect x="${kx + 110 + i * 18}" y="${ky}" width="18" height="16" fill="rgb(${shade},${Math.round(255 - w * 195)},${Math.round(255 - w * 115)})" stroke="#ccc" stroke-width="0.5"/>`);
  }
  parts.push(`<text x="${kx + 106}" y="${ky + 30}" font-size="11" text-anchor="middle">0</text>`);
  parts.push(`<text x="${kx + 110 + 11 * 18}" y="${ky + 30}" font-size="11" text-anchor="middle">1</text>`);
  parts.push(`<text x="${kx + 330}" y="${ky + 13}" font-size="12">rows: output phonemes (greedy decoding); columns: source letters</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes `svg` to `path` (atomically) and, when rsvg-convert is available, a PNG beside it. Returns the files written. */
export function writePicture(path: string, svg: string): string[] {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, svg);
  renameSync(tmp, path);
  const written = [path];
  const png = path.replace(/\.svg$/, '.png');
  const r = spawnSync('rsvg-convert', ['-b', 'white', '-o', png, path], { stdio: 'ignore', timeout: 20000 });
  if (r.status === 0) written.push(png);
  return written;
}
