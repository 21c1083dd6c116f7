// The floors of lib/ and the rule between them: a file imports only from its
// own floor or the floors below, and no chain of imports (type-only ones
// included) comes back to where it started. Read from the sources, so a new
// import that breaks the rule fails here with the file and the line's target.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const LIB = path.join(__dirname, '..', '..', 'lib');

// Lowest first. Top-level files of lib/ (check, errors, native, tensor, ...) are the ground floor.
const FLOORS = ['', 'blocks', 'layers', 'train', 'structures', 'io', 'cli'];
// io holds both the low codec (safetensors, model-format) and the loader above the structures.
const LOW_IO = new Set(['io/safetensors.ts', 'io/model-format.ts', 'io/atomic-write.ts']);

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.[^']+)'/gm)) {
    const target = path.resolve(path.dirname(file), m[1]);
    const candidates = [`${target}.ts`, path.join(target, 'index.ts')];
    const found = candidates.find((c) => fs.existsSync(c));
    if (found) out.push(path.relative(LIB, found));
  }
  return out;
}

function floorOf(relative: string): number {
  if (LOW_IO.has(relative)) return 0.5;  // beside the ground floor: codecs that know no structure
  const top = relative.includes(path.sep) ? relative.split(path.sep)[0] : '';
  const i = FLOORS.indexOf(top);
  assert.ok(i >= 0, `${relative}: lib/${top} is not a known floor; add it to FLOORS in this test`);
  return i;
}

describe('architecture: the floors of lib/', () => {
  const graph = new Map(sourceFiles(LIB).map((f) => [path.relative(LIB, f), importsOf(f)]));

  it('reads the import graph (guards the parser itself)', () => {
    assert.ok(graph.size > 40, `found ${graph.size} files`);
    assert.ok(graph.get('index.ts')!.includes('layers/gru.ts'), 'index.ts imports layers/gru.ts');
    assert.ok(graph.get('train/fit.ts')!.includes('train/trainable.ts'), 'type-only imports count');
  });

  it('imports only from the same floor or below', () => {
    const bad: string[] = [];
    for (const [file, targets] of graph) {
      if (file === 'index.ts') continue;  // the public entry point re-exports every floor
      for (const t of targets) if (floorOf(t) > floorOf(file)) bad.push(`${file} -> ${t}`);
    }
    assert.deepEqual(bad, []);
  });

  it('has no import cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const t of graph.get(file) ?? []) visit(t, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    assert.deepEqual(cycles, []);
  });
});
