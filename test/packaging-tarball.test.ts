// The package as users get it: `npm pack`, installed from the
// tarball into a fresh project, where require('rnnkit') and import('rnnkit') train with the
// shipped prebuilt binary, TypeScript finds the types both ways, and, with the system OpenBLAS
// hidden in a mount namespace, the prebuild still trains while a from-source install fails with
// the message that says what to install.
// Runs with RNNKIT_TEST_PACKAGING=1 after `npm run prebuild` (`npm run test:prebuilt`, CI).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  cleanEnv, describeRun, hideOpenblasScript, namespaceUnavailable, neededLibraries, prebuiltBinary, repoRoot, run,
  runWithoutOpenblas, tempDir,
} from './packaging-support';

// Trains a small GRU a few steps; prints what it learned and which binaries this process mapped.
const TRAIN = `
const { GRU, Adam, mseLoss, setNumThreads, getNumThreads } = rnnkit;
setNumThreads(2);
const T = 6, B = 2, I = 3, H = 5;
const gru = new GRU({ inputSize: I, hiddenSize: H, seed: 3 });
const optimizer = new Adam({ lr: 0.05 });
const x = { data: Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(i)), shape: [T, B, I] };
const target = { data: Float32Array.from({ length: T * B * H }, (_, i) => 0.5 * Math.cos(i)), shape: [T, B, H] };
const losses = [];
for (let step = 0; step < 5; step++) {
  gru.zeroGrad();
  const { output } = gru.forward(x, { training: true });
  const { loss, dPred } = mseLoss(output, target);
  gru.backward({ dOutput: dPred });
  optimizer.step(gru.parameters, gru.gradients);
  losses.push(loss);
}
const mapped = [...new Set(require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n')
  .map((line) => line.trim().split(/\\s+/)[5]).filter(Boolean))];
console.log(JSON.stringify({ losses, threads: getNumThreads(), extra,
  addons: mapped.filter((f) => f.endsWith('.node')), blas: mapped.filter((f) => /blas|lapack|gfortran/.test(f)) }));
`;

const CJS = `'use strict';\nconst rnnkit = require('rnnkit');\nconst extra = {};\n${TRAIN}`;

const ESM = `import * as rnnkit from 'rnnkit';
import rnnkitDefault from 'rnnkit';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const cjs = require('rnnkit');
const extra = { sameClasses: rnnkit.GRU === cjs.GRU && rnnkitDefault === cjs,
  names: Object.keys(rnnkit).filter((k) => k !== 'default').length };
${TRAIN}`;

interface TrainReport {
  losses: number[];
  threads: number;
  extra: { sameClasses?: boolean; names?: number };
  addons: string[];
  blas: string[];
}

function parseReport(result: ReturnType<typeof run>): TrainReport {
  assert.equal(result.status, 0, describeRun(result));
  return JSON.parse(result.stdout.trim().split('\n').pop()!);
}

function assertTrainedWithPrebuild(report: TrainReport, installed: string): void {
  assert.equal(report.losses.length, 5);
  assert.ok(report.losses.every(Number.isFinite), `finite losses: ${report.losses}`);
  assert.ok(report.losses[4] < report.losses[0], `training lowered the loss: ${report.losses}`);
  assert.equal(report.threads, 2, 'setNumThreads reaches the statically linked OpenBLAS');
  const prebuildDir = path.join(installed, 'prebuilds', `${os.platform()}-${os.arch()}`);
  assert.equal(report.addons.length, 1, `one addon mapped: ${report.addons}`);
  assert.equal(path.dirname(report.addons[0]), prebuildDir, 'the shipped prebuild is the binary in use');
  assert.deepEqual(report.blas, [], 'no system BLAS library was loaded');
}

describe('packaging: the npm tarball, installed in a fresh project', function () {
  this.timeout(300_000);
  let work = '';
  let tarball = '';
  let app = '';
  let installed = '';
  let packedFiles: string[] = [];

  before(function () {
    if (process.env.RNNKIT_TEST_PACKAGING !== '1') this.skip();  // `npm run prebuild && npm run test:prebuilt`
    assert.ok(prebuiltBinary(), 'no prebuilt binary: run `npm run prebuild` first');
    work = tempDir('pack');
    // `npm pack` runs prepare (tsc + the ESM entry) for `npm publish`; test:prebuilt has just done that same
    // compile, so skip a second one that would rewrite dist/ under this very test run.
    const pack = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
      { cwd: repoRoot, timeout: 180_000 });
    assert.equal(pack.status, 0, describeRun(pack));
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')));
    tarball = path.join(work, info.filename);
    packedFiles = info.files.map((f: { path: string }) => f.path);
    console.log(`      npm pack: ${info.filename}, ${(info.size / 2 ** 20).toFixed(1)} MiB packed, ` +
      `${(info.unpackedSize / 2 ** 20).toFixed(1)} MiB unpacked, ${info.entryCount} files`);

    app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'rnnkit-packaging-app', private: true }));
    // Dependencies come from npm's cache (filled by the repository's `npm ci`); the registry only if one is missing.
    const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball],
      { cwd: app, timeout: 240_000 });
    assert.equal(install.status, 0, describeRun(install));
    installed = path.join(app, 'node_modules', 'rnnkit');
    fs.writeFileSync(path.join(app, 'train.cjs'), CJS);
    fs.writeFileSync(path.join(app, 'train.mjs'), ESM);
  });

  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the tarball holds the prebuilt binary, compiled JS with types, the ESM entry and the native sources', () => {
    for (const file of ['dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/index.mjs', 'dist/lib/index.d.mts',
      'binding.gyp', 'CMakeLists.txt', 'native/sources.json', 'LICENSE', 'README.md']) {
      assert.ok(packedFiles.includes(file), `${file} is packed`);
    }
    assert.ok(packedFiles.some((f) => /^prebuilds\/linux-x64\/[^/]+\.node$/.test(f)), 'the linux-x64 prebuild is packed');
    // Every prebuild that was built ships (CI builds linux-arm64 too; check-prebuilds.js
    // refuses to publish without it).
    for (const dir of fs.readdirSync(path.join(repoRoot, 'prebuilds'), { withFileTypes: true }).filter((d) => d.isDirectory())) {
      for (const file of fs.readdirSync(path.join(repoRoot, 'prebuilds', dir.name)).filter((f) => f.endsWith('.node'))) {
        assert.ok(packedFiles.includes(`prebuilds/${dir.name}/${file}`), `prebuilds/${dir.name}/${file} is packed`);
      }
    }
    assert.ok(!packedFiles.some((f) => f.startsWith('dist/test/')), 'no compiled tests');
  });

  it('the library pulls in none of the CLI\'s dataset packages, and a task without its data names the install', () => {
    assert.ok(!fs.existsSync(path.join(app, 'node_modules', '@stdlib')), 'no @stdlib packages installed');
    const cli = run(process.execPath, [path.join(installed, 'bin', 'rnnkit'), 'train', 'g2p', '--epochs', '1',
      '--out', path.join(work, 'g2p-run')], { cwd: app });
    assert.equal(cli.status, 2, describeRun(cli));
    assert.match(cli.stderr, /npm install @stdlib\/datasets-cmudict/);
    assert.ok(!fs.existsSync(path.join(work, 'g2p-run')), 'nothing written for a task that could not start');
  });

  it('installing used the prebuilt binary: nothing was compiled', () => {
    assert.ok(fs.existsSync(path.join(installed, 'package.json')));
    assert.ok(!fs.existsSync(path.join(installed, 'build')), 'no build/ folder: node-gyp did not run');
  });

  it("require('rnnkit') trains a GRU with the shipped binary, and no system BLAS is loaded", () => {
    assertTrainedWithPrebuild(parseReport(run(process.execPath, ['train.cjs'], { cwd: app })), installed);
  });

  it("import('rnnkit') gives the same classes as require('rnnkit') and trains too", () => {
    const report = parseReport(run(process.execPath, ['train.mjs'], { cwd: app }));
    assertTrainedWithPrebuild(report, installed);
    assert.equal(report.extra.sameClasses, true, 'ESM and CommonJS share one build');
    assert.ok((report.extra.names ?? 0) > 20, `named ESM exports: ${report.extra.names}`);
  });

  it('TypeScript (module nodenext) finds the types for both import and require', () => {
    fs.writeFileSync(path.join(app, 'esm.mts'),
      "import { GRU, type Tensor } from 'rnnkit';\nconst t: Tensor = { data: new Float32Array(3), shape: [1, 1, 3] };\n" +
      'export const out = new GRU({ inputSize: 3, hiddenSize: 2 }).forward(t).output.shape;\n');
    fs.writeFileSync(path.join(app, 'cjs.cts'),
      "import rnnkit = require('rnnkit');\nexport const gru: rnnkit.GRU = new rnnkit.GRU({ inputSize: 3, hiddenSize: 2 });\n");
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true,
        skipLibCheck: true, types: ['node'], typeRoots: [path.join(repoRoot, 'node_modules', '@types')] },
      files: ['esm.mts', 'cjs.cts'],
    }));
    const tsc = run(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
      { cwd: app });
    assert.equal(tsc.status, 0, describeRun(tsc));
  });

  it('the shipped binary needs no OpenBLAS: the dynamic loader is asked for none', () => {
    const binary = fs.readdirSync(path.join(installed, 'prebuilds', `${os.platform()}-${os.arch()}`))[0];
    const needed = neededLibraries(path.join(installed, 'prebuilds', `${os.platform()}-${os.arch()}`, binary));
    assert.deepEqual(needed.filter((lib) => /blas|lapack|gfortran|gomp/.test(lib)), [], `NEEDED: ${needed}`);
  });

  describe('with the system OpenBLAS hidden (a mount namespace)', () => {
    before(function () {
      const why = namespaceUnavailable();
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
      assert.ok(hideOpenblasScript().hidden.length > 0, 'found the system OpenBLAS to hide');
    });

    it('the hiding works: the system OpenBLAS cannot be opened there', () => {
      const { hidden } = hideOpenblasScript();
      const probe = `const fs = require('fs'); console.log(JSON.stringify(${JSON.stringify(hidden)}
        .filter((f) => fs.existsSync(f) && fs.statSync(f).size > 0)));`;
      const result = runWithoutOpenblas(process.execPath, ['-e', probe], { cwd: app });
      assert.equal(result.status, 0, describeRun(result));
      assert.deepEqual(JSON.parse(result.stdout), [], 'every BLAS library and header is gone or empty');
      // A from-source build of the repository links the system OpenBLAS, so it must fail to load there.
      const local = path.join(repoRoot, 'build', 'Release', 'rnnkit.node');
      if (fs.existsSync(local) && neededLibraries(local).some((lib) => /openblas/.test(lib))) {
        const load = runWithoutOpenblas(process.execPath, ['-e', `require(${JSON.stringify(local)})`], { cwd: app });
        assert.notEqual(load.status, 0, 'the from-source build loaded without OpenBLAS?');
        assert.match(load.stderr, /libopenblas[^:]*: cannot open shared object file/);
      }
    });

    it("require('rnnkit') still trains with the shipped binary", () => {
      assertTrainedWithPrebuild(parseReport(runWithoutOpenblas(process.execPath, ['train.cjs'], { cwd: app })),
        installed);
    });

    it('`npm install --build-from-source` fails with the message that names the package to install', function () {
      if (!hideOpenblasScript().headersHidden) this.skip();  // cblas.h lives in a shared include directory here
      const fromSource = path.join(work, 'from-source');
      fs.mkdirSync(fromSource);
      fs.writeFileSync(path.join(fromSource, 'package.json'), JSON.stringify({ name: 'rnnkit-from-source', private: true }));
      const install = runWithoutOpenblas('npm', ['install', '--build-from-source', '--prefer-offline', '--no-audit',
        '--no-fund', '--foreground-scripts', tarball], { cwd: fromSource, env: cleanEnv(), timeout: 240_000 });
      assert.notEqual(install.status, 0, describeRun(install));
      const output = install.stdout + install.stderr;
      assert.match(output, /OpenBLAS \(cblas\.h and libopenblas\) was not found/, describeRun(install));
      assert.match(output, /apt-get install -y libopenblas-dev/);
    });
  });
});
