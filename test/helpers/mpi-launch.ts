// Starting test workers under Open MPI's mpirun from mocha: whether the engine is here (and if
// not, the reason the tests skip), a launcher with a hard deadline that kills the whole process
// group, and the check that no worker outlives its job.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const CHILD = path.join(__dirname, '..', 'distributed.child.js');

/** Why the multi-process tests cannot run here, or null when they can. */
export function mpiSkipReason(): string | null {
  if (process.env.PREBUILDS_ONLY) return 'PREBUILDS_ONLY: the distributed module is never prebuilt (it is built from source against the system\'s Open MPI)';
  if (spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return 'Open MPI is not installed (apt-get install -y openmpi-bin libopenmpi-dev, then rebuild the addon)';
  }
  const built = ['build/Release', 'build-cmake/Release'].some((d) => fs.existsSync(path.join(ROOT, d, 'rnnkit_mpi.node')));
  if (!built && !process.env.RNNKIT_MPI_ADDON_PATH) return 'the distributed module rnnkit_mpi.node was not built (npm run build:native with Open MPI installed)';
  return null;
}

export interface JobResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Job {
  done: Promise<JobResult>;
  /** Worker pids, as each printed "pid RANK PID". */
  pids: Map<number, number>;
  /** Resolves when a stdout line matches. */
  line(pattern: RegExp): Promise<string>;
}

/** mpirun -np N node distributed.child.js ARGS..., killed with its whole process group after `deadlineMs`. */
export function launch(np: number, args: string[], deadlineMs = 60000): Job {
  return launchProgram(np, [process.execPath, CHILD, ...args], deadlineMs);
}

/** mpirun -np N PROGRAM ARGS..., killed with its whole process group after `deadlineMs`. */
export function launchProgram(np: number, argv: string[], deadlineMs = 60000): Job {
  const started = Date.now();
  const args = argv.slice(1);
  const child = spawn('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', String(np), ...argv],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pids = new Map<number, number>();
  const waiters: Array<{ pattern: RegExp; resolve(line: string): void }> = [];
  let stdout = '', stderr = '', pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) {
      const m = /^pid (\d+) (\d+)$/.exec(l);
      if (m) pids.set(Number(m[1]), Number(m[2]));
      for (const w of waiters.filter((x) => x.pattern.test(l))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const done = new Promise<JobResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      reject(new Error(`mpirun ${args.join(' ')} still running after ${deadlineMs} ms (killed)\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, deadlineMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return {
    done, pids,
    line: (pattern) => new Promise((resolve) => {
      const seen = stdout.split('\n').find((l) => pattern.test(l));
      if (seen !== undefined) resolve(seen);
      else waiters.push({ pattern, resolve });
    }),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every pid is gone (within a second or two of its job's end); kills and fails on any that is not. */
export async function assertNoOrphans(pids: Iterable<number>): Promise<void> {
  const list = [...pids];
  for (let i = 0; i < 40 && list.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  const left = list.filter(alive);
  for (const pid of left) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ } }
  if (left.length) throw new Error(`worker processes outlived their job: ${left.join(', ')}`);
}
