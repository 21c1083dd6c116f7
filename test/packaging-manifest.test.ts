// What the npm package declares and ships, checked without installing it: one N-API version for
// both build files and the binary, CommonJS and ESM entry points with types, the files whitelist
// (`npm pack --dry-run`), and an ESM entry that exports exactly what the CommonJS one does.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native } from '../lib/native';
import { describeRun, readPackageJson, repoRoot, run } from './packaging-support';

interface PackedFile { path: string; size: number }

describe('packaging: the package manifest', function () {
  this.timeout(60_000);
  const pkg = readPackageJson();

  before(() => {
    // The ESM entry is written after tsc (npm run build / prepare); refresh it from lib/index.ts.
    const result = run(process.execPath, [path.join(repoRoot, 'scripts', 'write-esm-entry.js')], { cwd: repoRoot });
    assert.equal(result.status, 0, describeRun(result));
  });

  it('the N-API version is declared once, in package.json, and binding.gyp, CMakeLists.txt and the binary agree', () => {
    const declared: number[] = pkg.binary.napi_versions;
    assert.ok(Array.isArray(declared) && declared.length > 0, 'package.json binary.napi_versions');
    const version = Math.min(...declared);
    const gyp = fs.readFileSync(path.join(repoRoot, 'binding.gyp'), 'utf8');
    assert.match(gyp, /NAPI_VERSION=<!\(node -p .*require\('\.\/package\.json'\)\.binary\.napi_versions/,
      'binding.gyp reads NAPI_VERSION from package.json');
    assert.doesNotMatch(gyp, /NAPI_VERSION=\d/, 'binding.gyp has no NAPI_VERSION literal of its own');
    const cmake = fs.readFileSync(path.join(repoRoot, 'CMakeLists.txt'), 'utf8');
    for (const literal of cmake.matchAll(/NAPI_VERSION=(\d+)/g)) {
      assert.equal(Number(literal[1]), version, 'CMakeLists.txt NAPI_VERSION agrees with package.json');
    }
    assert.equal(native.napiVersion, version, 'the loaded binary was built for the declared N-API version');
    assert.ok(Number(process.versions.napi) >= version, 'this Node offers that N-API version');
  });

  it('exports CommonJS and ESM entry points, each with its types, for Node >= 18', () => {
    assert.equal(pkg.engines.node, '>=18');
    assert.deepEqual(pkg.exports['.'], {
      import: { types: './dist/lib/index.d.mts', default: './dist/lib/index.mjs' },
      require: { types: './dist/lib/index.d.ts', default: './dist/lib/index.js' },
    });
    assert.match(pkg.scripts.prepare, /tsc -p \. && node scripts\/write-esm-entry\.js/,
      'npm pack and npm publish compile dist/ first (prepare)');
    assert.equal(pkg.main, 'dist/lib/index.js');
    assert.equal(pkg.types, 'dist/lib/index.d.ts');
    for (const conditions of Object.values(pkg.exports['.']) as Record<string, string>[]) {
      for (const file of Object.values(conditions)) assert.ok(fs.existsSync(path.join(repoRoot, file)), `${file} exists`);
    }
  });

  it('the ESM entry exports the same names, and the same objects, as the CommonJS entry', () => {
    const index = path.join(repoRoot, 'dist', 'lib', 'index');
    const script = `
      import * as esm from ${JSON.stringify(`${index}.mjs`)};
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)(${JSON.stringify(`${index}.js`)});
      const names = (o) => Object.keys(o).filter((k) => k !== 'default' && k !== '__esModule').sort();
      const same = names(cjs).every((k) => esm[k] === cjs[k]) && esm.default === cjs;
      console.log(JSON.stringify({ esm: names(esm), cjs: names(cjs), same }));`;
    const result = run(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot });
    assert.equal(result.status, 0, describeRun(result));
    const { esm, cjs, same } = JSON.parse(result.stdout);
    assert.deepEqual(esm, cjs);
    assert.ok(cjs.includes('GRU') && cjs.includes('ManyToOne'), 'the usual names are there');
    assert.ok(same, 'one set of classes: the ESM entry re-exports the CommonJS build');
  });

  it('the files whitelist ships compiled JS and types, prebuilds, native sources, both build files, and no tests', () => {
    const result = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot });
    assert.equal(result.status, 0, describeRun(result));
    const [packed] = JSON.parse(result.stdout) as { files: PackedFile[]; size: number; unpackedSize: number }[];
    const files = new Set(packed.files.map((f) => f.path));
    const sources = JSON.parse(fs.readFileSync(path.join(repoRoot, 'native', 'sources.json'), 'utf8'));
    const required = ['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'CMakeLists.txt', 'native/sources.json',
      'scripts/find-openblas.js', 'scripts/find-openblas-static.js', 'scripts/find-mpi.js', 'dist/lib/index.js', 'dist/lib/index.d.ts',
      'dist/lib/index.mjs', 'dist/lib/index.d.mts', 'dist/lib/native.js',
      ...Object.values(sources).flat() as string[]];
    // Every header the sources include must ship too, or a from-source install cannot compile.
    for (const dir of ['native/kernels', 'native/addon']) {
      for (const f of fs.readdirSync(path.join(repoRoot, dir))) if (f.endsWith('.h')) required.push(`${dir}/${f}`);
    }
    for (const file of required) assert.ok(files.has(file), `${file} is in the package`);
    for (const file of files) {
      assert.doesNotMatch(file, /^(test|bench|examples|lib|build|build-cmake|docs|\.ci)\//, `${file} should not ship`);
      assert.doesNotMatch(file, /^dist\/(?!lib\/)/, `${file}: only dist/lib ships`);
      assert.doesNotMatch(file, /\.(map|tgz|o)$|\.ts$(?<!\.d\.ts)/, `${file} should not ship`);
      if (file.startsWith('prebuilds/')) assert.match(file, /^prebuilds\/[^/]+-[^/]+\/[^/]+\.node$/);
    }
  });
});
