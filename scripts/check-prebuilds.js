#!/usr/bin/env node
// prepublishOnly: refuses to publish without a current, self-contained prebuilt binary, so users
// never get a package that silently falls back to compiling (or a stale binary). Checks that
// prebuilds/linux-x64/ and prebuilds/linux-arm64/ each hold one .node file for that
// architecture, newer than every native source and build file, needing no OpenBLAS at run time.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const PLATFORMS = [
  { dir: 'linux-x64', machine: 'Advanced Micro Devices X86-64', build: 'npm run prebuild (on Linux x64)' },
  { dir: 'linux-arm64', machine: 'AArch64', build: 'npm run prebuild:arm64 (cross, after scripts/install-arm64-cross.sh)' },
];

function fail(message, build) {
  process.stderr.write(`\nrnnkit: not publishing: ${message}\n  Run \`${build}\`, then publish.\n\n`);
  process.exit(1);
}

function newestSource() {
  let newest = { file: '', mtime: 0 };
  const visit = (file) => {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) return fs.readdirSync(file).forEach((f) => visit(path.join(file, f)));
    if (stat.mtimeMs > newest.mtime) newest = { file, mtime: stat.mtimeMs };
  };
  ['native/kernels', 'native/addon', 'native/sources.json', 'binding.gyp'].forEach((f) => visit(path.join(root, f)));
  return newest;
}

const source = newestSource();
for (const { dir: name, machine, build } of PLATFORMS) {
  const dir = path.join(root, 'prebuilds', name);
  const binaries = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
  if (binaries.length !== 1) fail(`expected one prebuilt binary in prebuilds/${name}/, found ${binaries.length}`, build);
  const binary = path.join(dir, binaries[0]);
  const relative = path.relative(root, binary);
  if (fs.statSync(binary).mtimeMs < source.mtime) fail(`${relative} is older than ${path.relative(root, source.file)}`, build);
  const header = execFileSync('readelf', ['-h', binary], { encoding: 'utf8' });
  if (!header.includes(machine)) fail(`${relative} is not built for ${machine}`, build);
  const needed = execFileSync('readelf', ['-d', binary], { encoding: 'utf8' });
  if (/Shared library: \[[^\]]*(blas|lapack|gfortran)/.test(needed)) fail(`${relative} links a shared BLAS`, build);
  process.stdout.write(`rnnkit: publishing with ${relative}\n`);
}
