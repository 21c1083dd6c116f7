// Memory: 10,000 training steps keep RSS flat after warm-up; layers free their
// native workspace when garbage-collected and at once on dispose(); use after
// dispose() is refused with ERR_RNNKIT_DISPOSED; a layer dropped while its
// async call runs is kept alive by that call. Each case runs in a child
// process with --expose-gc (test/reliability-memory.child.ts), so gc() and
// RSS are its own. Under the sanitizers (RNNKIT_SANITIZED=1, set by
// scripts/test-asan.sh) RSS figures are not checked: ASan's quarantine holds
// freed memory on purpose.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const sanitized = process.env.RNNKIT_SANITIZED === '1';

function child(mode: string): Record<string, unknown> {
  // A fixed young generation keeps V8's own heap from resizing between samples.
  const flags = ['--expose-gc', '--min-semi-space-size=1', '--max-semi-space-size=1'];
  // One malloc arena: glibc otherwise gives each thread that allocates (libuv's pool running async calls,
  // OpenBLAS's threads) an arena of its own the first time it is scheduled, which adds a few MiB of RSS once,
  // at a random step; measured without this: a one-time rise of up to 8 MiB, flat over 40,000 steps after it.
  const out = execFileSync(process.execPath, [...flags, path.join(__dirname, 'reliability-memory.child.js'), mode],
    { encoding: 'utf8', timeout: 120000, env: { ...process.env, MALLOC_ARENA_MAX: '1' } });
  const result = JSON.parse(out.trim().split('\n').pop()!);
  if (process.env.RNNKIT_VERBOSE) console.log(`      ${JSON.stringify(result)}`);
  return result;
}

describe('reliability: memory', function () {
  this.timeout(180000);

  it('10,000 forward/backward/optimizer steps of a small GRU grow RSS by less than 5% after warm-up', function () {
    const r = child('steps') as { growth: number; baseMiB: number; endMiB: number; maxMiB: number };
    console.log(`      RSS after warm-up ${r.baseMiB.toFixed(1)} MiB, after 10,000 steps ${r.endMiB.toFixed(1)} MiB ` +
      `(max ${r.maxMiB.toFixed(1)}): growth ${(100 * r.growth).toFixed(2)}%`);
    if (!sanitized) assert.ok(r.growth < 0.05, `RSS grew by ${(100 * r.growth).toFixed(2)}%`);
  });

  it('layers dropped while the event loop turns give their native workspace back: RSS stays far below what they held', function () {
    const r = child('gc') as { layers: number; workspaceMiB: number; baseMiB: number; peakMiB: number; endMiB: number; leakedIfKeptMiB: number };
    console.log(`      ${r.layers} layers of ${r.workspaceMiB.toFixed(1)} MiB workspace each (${r.leakedIfKeptMiB.toFixed(0)} MiB if kept): ` +
      `RSS ${r.baseMiB.toFixed(0)} -> peak ${r.peakMiB.toFixed(0)} -> ${r.endMiB.toFixed(0)} MiB after gc()`);
    if (!sanitized) {
      assert.ok(r.peakMiB - r.baseMiB < r.leakedIfKeptMiB / 3, 'the workspaces of collected layers are freed');
      assert.ok(r.endMiB - r.baseMiB < 8 * r.workspaceMiB, 'and after a full collection, almost all of it');
    }
  });

  it('dispose() frees the native workspace at once (no GC needed) and every later use throws ERR_RNNKIT_DISPOSED', function () {
    const r = child('dispose') as { baseMiB: number; peakMiB: number; refused: Record<string, string> };
    console.log(`      60 layers created, run and disposed in a synchronous loop: RSS ${r.baseMiB.toFixed(0)} -> peak ${r.peakMiB.toFixed(0)} MiB`);
    if (!sanitized) assert.ok(r.peakMiB - r.baseMiB < 100, `RSS rose by ${(r.peakMiB - r.baseMiB).toFixed(0)} MiB`);
    for (const [call, outcome] of Object.entries(r.refused)) {
      assert.match(outcome, /^ERR_RNNKIT_DISPOSED: this layer was disposed/, `${call} after dispose(): ${outcome}`);
    }
  });

  it('models free their native memory when collected or on dispose(); every use after dispose() throws ERR_RNNKIT_DISPOSED', function () {
    const r = child('models') as { count: number; baseMiB: number; peakCollectedMiB: number; afterCollectedMiB: number; peakDisposedMiB: number; refused: Record<string, string> };
    console.log(`      ${r.count} trained models dropped: RSS ${r.baseMiB.toFixed(0)} -> peak ${r.peakCollectedMiB.toFixed(0)} MiB; ` +
      `${r.count} disposed: peak ${r.peakDisposedMiB.toFixed(0)} MiB`);
    if (!sanitized) {
      assert.ok(r.peakCollectedMiB - r.baseMiB < 400, 'dropped models are collected (each held ~20 MiB of workspace)');
      assert.ok(r.peakDisposedMiB - r.afterCollectedMiB < 100, 'disposed models free their workspace at once');
    }
    for (const [call, outcome] of Object.entries(r.refused)) {
      assert.match(outcome, /^ERR_RNNKIT_DISPOSED: this (model|layer) was disposed/, `${call} after dispose(): ${outcome}`);
    }
  });

  it('a layer that becomes garbage while its async call runs stays alive until the call ends, with the right result', function () {
    const r = child('pending') as { calls: number; mismatches: number };
    assert.equal(r.mismatches, 0, `${r.mismatches} of ${r.calls} results differ`);
  });
});
