// Progress of long work on stderr: a cli-progress bar on a terminal, plain
// lines (at most one every few seconds) when stderr is not a TTY or with
// --json, nothing with quiet. stdout stays free for results.

import { SingleBar } from 'cli-progress';
import { formatDuration } from './duration';

export interface ProgressState {
  /** Done so far, in [0, 1]. */
  fraction: number;
  epoch: number;
  loss: number;
  validationLoss?: number;
  sequencesPerSecond: number;
  etaMs: number;
}

export type ProgressMode = 'bar' | 'lines' | 'quiet';

export class Progress {
  private bar: SingleBar | null = null;
  private lastLine = 0;
  private lastPrinted = '';
  private last: ProgressState | null = null;

  constructor(readonly mode: ProgressMode, private readonly label: string, private readonly lineEveryMs = 5000) {}

  static modeFor(json: boolean, quiet: boolean): ProgressMode {
    if (quiet) return 'quiet';
    return !json && process.stderr.isTTY ? 'bar' : 'lines';
  }

  start(): void {
    if (this.mode === 'bar') {
      this.bar = new SingleBar({
        stream: process.stderr,
        format: `${this.label} {bar} {percentage}% | epoch {epoch} | loss {loss} | val {val} | {rate} seq/s | ETA {etaText}`,
        barsize: 24,
        hideCursor: true,
        fps: 5,
        etaBuffer: 50,
        gracefulExit: true,
      });
      this.bar.start(1000, 0, this.payload({ fraction: 0, epoch: 1, loss: NaN, sequencesPerSecond: 0, etaMs: NaN }));
    } else if (this.mode === 'lines') {
      process.stderr.write(`${this.label}: started\n`);
    }
    this.lastLine = Date.now();
  }

  update(state: ProgressState): void {
    this.last = state;
    if (this.bar) {
      this.bar.update(Math.round(state.fraction * 1000), this.payload(state));
    } else if (this.mode === 'lines' && Date.now() - this.lastLine >= this.lineEveryMs) {
      this.lastLine = Date.now();
      this.print(this.line(state));
    }
  }

  /** A message above the bar (or as a line). */
  note(message: string): void {
    if (this.mode === 'quiet') return;
    if (this.bar) {
      this.bar.stop();
      process.stderr.write(`${message}\n`);
      this.bar.start(1000, Math.round((this.last?.fraction ?? 0) * 1000), this.payload(this.last ?? { fraction: 0, epoch: 1, loss: NaN, sequencesPerSecond: 0, etaMs: NaN }));
    } else {
      process.stderr.write(`${message}\n`);
    }
  }

  stop(): void {
    if (this.bar) {
      if (this.last) this.bar.update(Math.round(this.last.fraction * 1000), this.payload(this.last));
      this.bar.stop();
      this.bar = null;
    } else if (this.mode === 'lines' && this.last) {
      const line = this.line(this.last);
      if (line !== this.lastPrinted) this.print(line);
    }
  }

  private print(line: string): void {
    this.lastPrinted = line;
    process.stderr.write(`${this.label}: ${line}\n`);
  }

  private line(s: ProgressState): string {
    const p = this.payload(s);
    return `${(s.fraction * 100).toFixed(0).padStart(3)}% epoch ${p.epoch} loss ${p.loss} val ${p.val} ${p.rate} seq/s ETA ${p.etaText}`;
  }

  private payload(s: ProgressState): Record<string, string | number> {
    return {
      epoch: s.epoch,
      loss: Number.isFinite(s.loss) ? s.loss.toFixed(4) : '-',
      val: s.validationLoss !== undefined && Number.isFinite(s.validationLoss) ? s.validationLoss.toFixed(4) : '-',
      rate: s.sequencesPerSecond.toFixed(0),
      etaText: formatDuration(s.etaMs),
    };
  }
}
