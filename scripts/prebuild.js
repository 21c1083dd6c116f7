#!/usr/bin/env node
// `npm run prebuild`: builds the self-contained prebuilt binary
// prebuilds/<platform>-<arch>/rnnkit.<libc>.node with `prebuildify --napi --strip`,
// OpenBLAS linked statically (binding.gyp rnnkit_static_openblas=1), then checks
// it needs no OpenBLAS or libgfortran at run time and that it loads.
// Builds in a staging copy, so the development build in build/ is left alone.
// `--arch arm64` (npm run prebuild:arm64) cross-builds linux-arm64 on an x86-64
// host with Debian's aarch64 toolchain and arm64 static OpenBLAS, and loads the
// result in an arm64 Node.js under qemu (scripts/install-arm64-cross.sh).
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const archFlag = process.argv.indexOf('--arch');
const arch = archFlag >= 0 ? process.argv[archFlag + 1] : os.arch();
const cross = arch !== os.arch();
const outDir = path.join(root, 'prebuilds', `${os.platform()}-${arch}`);
// Cross builds: the one set up (x86-64 host, arm64 target) and its tools.
const crossPrefix = 'aarch64-linux-gnu-';
const tool = (name) => (cross ? crossPrefix + name : name);

function fail(message) {
  process.stderr.write(`\nrnnkit prebuild: ${message}\n`);
  process.exit(1);
}

// npm's own node-gyp when run outside `npm run` (which puts it on PATH).
function nodeGyp() {
  const npmCli = process.env.npm_execpath;
  const candidates = [
    npmCli && path.join(path.dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((file) => file && fs.existsSync(file)) || 'node-gyp';
}

// Headers of the running Node, so node-gyp needs no download (there may be no network).
function nodeDir() {
  const prefix = path.join(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? path.resolve(prefix) : undefined;
}

function stage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnkit-prebuild-'));
  // find-mpi.js: binding.gyp asks it whether to build the distributed module (never for a prebuild).
  for (const entry of ['binding.gyp', 'package.json', 'native', 'scripts/find-openblas.js', 'scripts/find-openblas-static.js',
    'scripts/find-mpi.js']) {
    fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

function check(file) {
  const dynamic = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1]);
  const unwanted = needed.filter((lib) => /blas|lapack|gfortran|gomp/.test(lib));
  if (unwanted.length) fail(`${file} still needs ${unwanted.join(', ')} at run time`);
  const machine = /Machine:\s+(.+)/.exec(execFileSync('readelf', ['-h', file], { encoding: 'utf8' }))?.[1].trim();
  const expected = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' }[arch];
  if (expected && machine !== expected) fail(`${file} is built for ${machine}, not ${arch}`);
  const symbols = execFileSync(tool('objdump'), ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const newest = (prefix) => [...symbols.matchAll(new RegExp(`\\b${prefix}_([0-9][0-9.]*)`, 'g'))].map((m) => m[1])
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop();
  // A cross-built binary loads in the target's Node.js under qemu.
  const [node, ...nodeArgs] = cross ? [path.join(root, 'scripts', 'node-arm64')] : [process.execPath];
  const load = spawnSync(node, [...nodeArgs, '-e',
    `const b = require(${JSON.stringify(file)}); b.setNumThreads(2);
     if (b.getNumThreads() !== 2) throw new Error('setNumThreads had no effect'); console.log(b.napiVersion)`],
  { encoding: 'utf8' });
  if (load.status !== 0) fail(`${file} does not load: ${load.stderr}`);
  const mib = (fs.statSync(file).size / (1 << 20)).toFixed(1);
  process.stdout.write(`rnnkit prebuild: ${path.relative(root, file)} ${mib} MiB (${machine}), N-API ${load.stdout.trim()}, ` +
    `needs ${needed.join(' ')} (glibc >= ${newest('GLIBC')}, libstdc++ GLIBCXX >= ${newest('GLIBCXX')})\n`);
}

function main() {
  if (os.platform() !== 'linux') fail('only Linux prebuilds are set up (static OpenBLAS from the distribution)');
  if (cross && !(os.arch() === 'x64' && arch === 'arm64')) fail(`cross builds are set up for x64 -> arm64 only, not ${os.arch()} -> ${arch}`);
  fs.rmSync(outDir, { recursive: true, force: true });  // no stale binary may win over the new one
  const dir = stage();
  let run;
  try {
    const env = { ...process.env, RNNKIT_STATIC_OPENBLAS: '1', JOBS: process.env.JOBS || 'max' };
    env.PREBUILD_NODE_GYP = env.PREBUILD_NODE_GYP || nodeGyp();
    if (cross) {
      // N-API headers are the same for every architecture, so the host's serve.
      Object.assign(env, {
        PREBUILD_ARCH: arch, RNNKIT_TARGET_ARCH: arch, PREBUILD_STRIP_BIN: tool('strip'),
        CC: tool('gcc'), CXX: tool('g++'), LINK: tool('g++'), AR: tool('ar'),
      });
    }
    if (!env.npm_config_nodedir && nodeDir()) env.npm_config_nodedir = nodeDir();
    const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
    run = spawnSync(process.execPath,
      [prebuildify, '--napi', '--strip', '--tag-libc', `--arch=${arch}`, `--cwd=${dir}`, `--out=${root}`],
      { env, stdio: 'inherit' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (run.status !== 0) fail(`prebuildify exited with ${run.status}`);
  const built = fs.readdirSync(outDir).filter((f) => f.endsWith('.node'));
  if (built.length !== 1) fail(`expected one binary in ${outDir}, found ${built.join(', ') || 'none'}`);
  check(path.join(outDir, built[0]));
}

main();
