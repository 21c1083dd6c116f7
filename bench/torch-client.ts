// The Node end of bench/torch_worker.py: starts `/usr/bin/python3` (or
// $RNNKIT_BENCH_PYTHON) once with PyTorch's best settings and sends it one
// JSON request per line. When torch cannot be imported, `start` resolves to
// null with the reason, and the harness prints rnnkit's figures alone.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

export interface TorchInfo { torch: string; openblas: string | null; python: string; rss_kib: number }

/** Op 'decode': PyTorch's batched inference of an rnnkit EncoderDecoder file (see torch_worker.py). */
export interface DecodeRequest {
  /** Path of a model written by EncoderDecoder.save (attention 'bahdanau', 1-layer bidirectional GRU/LSTM encoder). */
  model: string;
  sources: ReadonlyArray<readonly number[]>;
  strategy: 'greedy' | 'beam';
  /** Defaults as in rnnkit's predict: beamWidth 5, lengthPenalty 1, maxLength 50; batchSize 64. */
  beamWidth?: number;
  lengthPenalty?: number;
  maxLength?: number;
  batchSize?: number;
}

export interface DecodeInfo {
  sources: number; encoder: 'gru' | 'lstm'; decoder: 'gru' | 'lstm'; bridge: boolean; hidden: number; attention: number;
}

/** Op 'tokens': the translations of the last 'predict' run, in source order (end token excluded). */
export interface DecodeTokens { tokens: number[][]; logProbs: number[] }

export const PYTHON = process.env.RNNKIT_BENCH_PYTHON ?? '/usr/bin/python3';
export const WORKER = path.join(__dirname, '..', '..', 'bench', 'torch_worker.py');
/** Environment the PyTorch process runs with (printed in the results). */
export const TORCH_ENV = { OMP_WAIT_POLICY: 'passive' };

export class TorchClient {
  private waiting: Array<(v: Record<string, unknown>) => void> = [];
  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly info: TorchInfo) {}

  static async start(): Promise<TorchClient | { unavailable: string }> {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(PYTHON, [WORKER], { env: { ...process.env, ...TORCH_ENV }, stdio: 'pipe' });
    } catch (error) {
      return { unavailable: `cannot start ${PYTHON}: ${(error as Error).message}` };
    }
    const lines = readline.createInterface({ input: child.stdout });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const first = await new Promise<Record<string, unknown> | null>((resolve) => {
      child.once('error', () => resolve(null));
      child.once('exit', () => resolve(null));
      lines.once('line', (line) => resolve(JSON.parse(line)));
    });
    if (!first || first.ok !== true) {
      child.kill();
      const why = first?.error ?? (stderr.trim().split('\n').pop() || `${PYTHON} did not start`);
      return { unavailable: String(why) };
    }
    const client = new TorchClient(child, first as unknown as TorchInfo);
    lines.on('line', (line) => client.waiting.shift()?.(JSON.parse(line)));
    return client;
  }

  async request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = new Promise<Record<string, unknown>>((resolve) => this.waiting.push(resolve));
    this.child.stdin.write(JSON.stringify(req) + '\n');
    const r = await answer;
    if (r.ok !== true) throw new Error(`torch worker: ${String(r.error)} (request ${JSON.stringify(req).slice(0, 200)})`);
    return r;
  }

  async threads(n: number): Promise<void> { await this.request({ op: 'threads', n }); }

  async run(id: string, pass: string, runs = 1): Promise<number[]> {
    return (await this.request({ op: 'run', id, pass, runs })).ms as number[];
  }

  /** Loads the model and sources as case `id`; then `run(id, 'predict', runs)` times full decodes. */
  async decode(id: string, req: DecodeRequest): Promise<DecodeInfo> {
    const { ok: _ok, ...info } = await this.request({ op: 'decode', id, ...req });
    return info as unknown as DecodeInfo;
  }

  async tokens(id: string): Promise<DecodeTokens> {
    const r = await this.request({ op: 'tokens', id });
    return { tokens: r.tokens as number[][], logProbs: r.logProbs as number[] };
  }

  async drop(id: string): Promise<void> { await this.request({ op: 'drop', id }); }

  async close(): Promise<void> {
    await this.request({ op: 'quit' });
    this.child.stdin.end();
  }
}
