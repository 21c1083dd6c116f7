// Crash safety: a training process killed with SIGKILL, again and again, every
// other time just after a checkpoint's temp file appears (in the middle of
// writing or fsyncing a few MB), otherwise at a random moment; after every
// kill the checkpoint on disk is one that
// was completely written (its weights hash to what the child printed for that
// epoch), it loads, and training resumes from it. Temp files of killed writers
// are cleaned up by the next save, so they never pile up.
// RNNKIT_CRASH_KILLS=N sets the number of kills (default 20).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSafetensors } from '../lib';
import { FIT, makeData, makeModel, weightsHash } from './reliability-crash.child';

const KILLS = Number(process.env.RNNKIT_CRASH_KILLS ?? 20);

interface Run { printed: Map<number, string>; signal: string | null; code: number | null }

/**
 * Starts the child and kills it `delayMs` after its first printed epoch, or, with `midSave`, `delayMs`
 * after a temp file of a save appears (between open and rename: in the middle of writing or fsync).
 */
function runAndKill(file: string, delayMs: number, midSave: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'reliability-crash.child.js'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => setTimeout(() => child.kill('SIGKILL'), delayMs);
    let watcher: fs.FSWatcher | null = null;
    const printed = new Map<number, string>();
    let buffered = '', stderr = '', armed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [, epoch, hash] = line.split(' ');
        printed.set(Number(epoch), hash);
      }
      if (!armed) {
        armed = true;
        if (!midSave) kill();
        else {
          // Watch only from the first epoch on: the new save's temp file, not one left by the last kill.
          watcher = fs.watch(path.dirname(file), (event, name) => {
            if (name && String(name).endsWith('.tmp') && fs.existsSync(path.join(path.dirname(file), String(name)))) {
              watcher?.close();
              watcher = null;
              kill();
            }
          });
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      watcher?.close();
      if (signal !== 'SIGKILL') reject(new Error(`child exited by itself (code ${code}): ${stderr}`));
      else resolve({ printed, signal, code });
    });
  });
}

/** Weights of the model in a checkpoint, flat in model order, and its epoch. */
function readCheckpoint(file: string): { epoch: number; weights: Float32Array } {
  const { tensors, metadata } = loadSafetensors(file);
  const model = makeModel();
  const dict = Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith('model.')).map(([k, t]) => [k.slice(6), t]));
  model.loadStateDict(dict);
  return { epoch: JSON.parse(metadata.trainer).epoch, weights: model.parameters.slice() };
}

describe('reliability: crash safety of checkpoints', function () {
  this.timeout(600000);
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-crash-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(`survives ${KILLS} SIGKILLs (half of them while a checkpoint is being written): the last complete checkpoint always loads and resumes bit-identically`, async function () {
    const file = path.join(dir, 'train.ckpt');
    const printed = new Map<number, string>();  // every epoch any child printed, with its weights' hash
    let lastEpoch = 0, killsWhileSaving = 0, maxTemps = 0;
    let random = 12345;
    const next = () => ((random = (Math.imul(random, 1103515245) + 12345) >>> 0) / 4294967296);
    for (let kill = 1; kill <= KILLS; kill++) {
      const midSave = kill % 2 === 1;
      const run = await runAndKill(file, Math.floor(next() * (midSave ? 8 : 120)), midSave);
      for (const [epoch, hash] of run.printed) {
        if (printed.has(epoch)) assert.equal(printed.get(epoch), hash, `epoch ${epoch} was trained to the same weights again after resuming`);
        printed.set(epoch, hash);
      }
      const temps = fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));
      if (temps.length > 0) killsWhileSaving++;
      maxTemps = Math.max(maxTemps, temps.length);
      assert.ok(temps.length <= 1, `temp files pile up: ${temps.join(', ')}`);
      if (!fs.existsSync(file)) continue;  // killed before the first save completed
      const { epoch, weights } = readCheckpoint(file);
      assert.ok(epoch >= lastEpoch, `the checkpoint went back from epoch ${lastEpoch} to ${epoch}`);
      assert.equal(weightsHash(weights), printed.get(epoch), `the checkpoint of epoch ${epoch} holds exactly that epoch's weights`);
      lastEpoch = epoch;
    }
    assert.ok(lastEpoch > 0, 'some checkpoints were written');
    // Resume in this process for one more epoch: the result equals what an uninterrupted run gives.
    const resumed = makeModel();
    await resumed.fit(makeData(), { ...FIT, epochs: lastEpoch + 1, resumeFrom: file, checkpointPath: file });
    assert.ok(fs.readdirSync(dir).every((n) => !n.endsWith('.tmp')), 'a clean save removed the stale temp files');
    const straight = makeModel();
    await straight.fit(makeData(), { ...FIT, epochs: lastEpoch + 1 });
    assert.equal(weightsHash(resumed.parameters), weightsHash(straight.parameters), 'resumed training equals uninterrupted training');
    console.log(`      ${KILLS} kills (${killsWhileSaving} left a half-written temp file: killed mid-save), reached epoch ${lastEpoch}, ` +
      `at most ${maxTemps} temp file at a time`);
  });
});
