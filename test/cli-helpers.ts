// Runs the rnnkit CLI (bin/rnnkit, over dist/) as a child process for the CLI tests.
// Not a test file itself (no .test. in the name).

import { execFile } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'rnnkit');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `rnnkit ...args` and resolves with its exit code and output (never rejects on a non-zero exit). */
export function rnnkit(args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT, timeout: options.timeoutMs ?? 60000, maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, RNNKIT_DEBUG: '' },
    }, (error, stdout, stderr) => {
      if (error && typeof (error as { code?: unknown }).code !== 'number') return reject(error);
      resolve({ code: error ? (error as { code: number }).code : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** True when `text` looks like a JavaScript stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+\(.*:\d+:\d+\)$/m.test(text) || /^\s+at .+:\d+:\d+$/m.test(text);
}
