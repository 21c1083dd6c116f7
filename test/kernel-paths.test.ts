// Every kernel path this machine can run gets the numerical tests, not only
// the best one the rest of the suite runs: rnnkit's lower instruction-set
// paths (RNNKIT_ISA=baseline, avx2) and OpenBLAS forced to older kernel
// families (OPENBLAS_CORETYPE). Each runs the PyTorch parity, gradient and
// structure tests in a child mocha, since a process picks its paths once.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { kernelInfo, type IsaName } from '../lib';

const root = path.join(__dirname, '..', '..');
const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const lib = path.join(root, 'dist', 'lib');

// Parity with PyTorch, finite-difference gradients, batch invariance and
// decoding, training and learning, determinism (async, save/load, resume), non-finite handling,
// resetAfter and TensorFlow.js models in.
const NUMERICAL = ['recurrent-pytorch-parity', 'attention-decoder-pytorch-parity', 'blocks-pytorch-parity',
  'cells-pytorch-parity', 'recurrent-behaviour', 'recurrent-async', 'cells-behaviour', 'attention-decoder-workspace',
  'structures-gradients', 'structures-decoding', 'structures-attention', 'structures-training', 'structures-streaming',
  'structures-save-load', 'structures-learning', 'reliability-numerics', 'determinism', 'gru-reset-after', 'tfjs-import']
  .map((name) => path.join(root, 'dist', 'test', `${name}.test.js`));
const PARITY = NUMERICAL.slice(0, 4);

const ORDER: IsaName[] = ['baseline', 'avx2', 'avx512'];

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

// kernelInfo() as a child process with these variables sees it.
function childKernelInfo(extra: Record<string, string>): ReturnType<typeof kernelInfo> {
  const r = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(lib)}).kernelInfo()))`],
    { env: childEnv(extra), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function runSuite(files: string[], extra: Record<string, string>): void {
  const r = spawnSync(process.execPath, [mocha, '--no-config', '--timeout', '120000', '--reporter', 'dot', ...files],
    { env: childEnv(extra), encoding: 'utf8', maxBuffer: 64 << 20, timeout: 900_000 });
  const tail = `${r.stdout}\n${r.stderr}`.split('\n').slice(-60).join('\n');
  assert.equal(r.status, 0, `with ${JSON.stringify(extra)} the numerical tests failed:\n${tail}`);
  assert.match(r.stdout, /\d+ passing/, `with ${JSON.stringify(extra)} no test ran:\n${tail}`);
}

describe('kernel paths: the numerical tests on every path this machine runs', function () {
  this.timeout(900_000);
  const info = kernelInfo();
  // The rest of the suite runs the path this process has; here the others below the CPU's best.
  const others = ORDER.slice(0, ORDER.indexOf(info.cpuIsa) + 1).filter((isa) => isa !== info.isa);

  it('reports the path it runs, and RNNKIT_ISA lowers it but never raises it past the CPU', function () {
    assert.ok(ORDER.includes(info.isa) && ORDER.includes(info.cpuIsa));
    assert.ok(ORDER.indexOf(info.isa) <= ORDER.indexOf(info.cpuIsa));
    for (const isa of ORDER) {
      const expected = ORDER.indexOf(isa) <= ORDER.indexOf(info.cpuIsa) ? isa : info.cpuIsa;
      assert.equal(childKernelInfo({ RNNKIT_ISA: isa }).isa, expected, `RNNKIT_ISA=${isa}`);
    }
  });

  it('refuses a misspelt RNNKIT_ISA at load with a RangeError naming it, rather than run another path', function () {
    const r = spawnSync(process.execPath, ['-e',
      `try { require(${JSON.stringify(lib)}); } catch (e) { console.log(JSON.stringify([e.name, e.code, e.message])); process.exit(3); }`],
    { env: childEnv({ RNNKIT_ISA: 'sse9' }), encoding: 'utf8' });
    assert.equal(r.status, 3, r.stderr);
    const [name, code, message] = JSON.parse(r.stdout) as string[];
    assert.equal(name, 'RangeError');
    assert.equal(code, 'ERR_RNNKIT_VALUE');
    assert.match(message, /RNNKIT_ISA: expected baseline, avx2 or avx512 .* got 'sse9'/);
  });

  for (const isa of ORDER) {
    it(`passes the parity, gradient and structure tests with RNNKIT_ISA=${isa}`, function () {
      if (!others.includes(isa)) this.skip();  // the path of this process (the whole suite runs it) or one the CPU lacks
      runSuite(NUMERICAL, { RNNKIT_ISA: isa });
    });
  }

  // Older OpenBLAS kernel families: Haswell (AVX2) and Prescott (SSE3), unless
  // this process already runs it (OPENBLAS_CORETYPE set outside). Only a
  // DYNAMIC_ARCH OpenBLAS (Debian's, and the static one in the prebuilt binary) can switch.
  for (const core of ['Haswell', 'Prescott']) {
    it(`passes the PyTorch parity tests with OpenBLAS's ${core} kernels (OPENBLAS_CORETYPE=${core})`, function () {
      if (!/DYNAMIC_ARCH/.test(info.blasConfig) || info.blasCore === core) this.skip();
      assert.equal(childKernelInfo({ OPENBLAS_CORETYPE: core }).blasCore, core);
      runSuite(PARITY, { OPENBLAS_CORETYPE: core });
    });
  }
});
