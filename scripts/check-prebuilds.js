#!/usr/bin/env node
// prepublishOnly: refuses to publish without a current, self-contained prebuilt binary, so users
// never get a package that silently falls back to compiling (or a stale binary). Checks that
// prebuilds/linux-x64/ holds one .node file, newer than every native source and build file,
// needing no OpenBLAS at run time.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'prebuilds', 'linux-x64');

function fail(message) {
  process.stderr.write(`\nrnnkit: not publishing: ${message}\n  Run \`npm run prebuild\` (on Linux x64), then publish.\n\n`);
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

const binaries = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
if (binaries.length !== 1) fail(`expected one prebuilt binary in ${path.relative(root, dir)}/, found ${binaries.length}`);
const binary = path.join(dir, binaries[0]);
const source = newestSource();
if (fs.statSync(binary).mtimeMs < source.mtime) fail(`${path.relative(root, binary)} is older than ${path.relative(root, source.file)}`);
const needed = execFileSync('readelf', ['-d', binary], { encoding: 'utf8' });
if (/Shared library: \[[^\]]*(blas|lapack|gfortran)/.test(needed)) fail(`${path.relative(root, binary)} links a shared BLAS`);
process.stdout.write(`rnnkit: publishing with ${path.relative(root, binary)}\n`);
