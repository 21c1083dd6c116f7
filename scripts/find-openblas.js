#!/usr/bin/env node
// Locates OpenBLAS for binding.gyp: `--cflags` prints include directories,
// `--libs` prints linker flags. Fails loudly, naming the package to install.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// Debian/Ubuntu multiarch directories of the architecture being built (a cross
// build sets RNNKIT_TARGET_ARCH): never another architecture's OpenBLAS, which
// a machine with arm64 packages beside its x86-64 ones also holds.
const arch = process.env.RNNKIT_TARGET_ARCH || os.arch();
const triple = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[arch] || `${arch}-linux-gnu`;

function pkgConfig(flag) {
  try {
    return execFileSync('pkg-config', [flag, 'openblas'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function fromKnownPaths() {
  const includes = [`/usr/include/${triple}`, '/usr/include/openblas',
    '/usr/include', '/usr/local/include', '/opt/homebrew/opt/openblas/include', '/usr/local/opt/openblas/include'];
  const header = includes.find((dir) => fs.existsSync(path.join(dir, 'cblas.h')));
  if (!header) return null;
  const libDir = [`/usr/lib/${triple}`, '/usr/lib64', '/usr/lib', '/usr/local/lib',
    '/opt/homebrew/opt/openblas/lib', '/usr/local/opt/openblas/lib']
    .find((dir) => ['libopenblas.so', 'libopenblas.dylib'].some((f) => fs.existsSync(path.join(dir, f))));
  if (!libDir) return null;
  return { cflags: header, libs: `-L${libDir} -lopenblas` };
}

function find() {
  if (arch !== os.arch()) return fromKnownPaths();  // the host's pkg-config describes the host
  const cflags = pkgConfig('--cflags-only-I');
  const libs = pkgConfig('--libs');
  if (cflags !== null && libs !== null) {
    return { cflags: cflags.split(/\s+/).filter(Boolean).map((f) => f.replace(/^-I/, '')).join(' '), libs };
  }
  return fromKnownPaths();
}

const found = find();
if (!found) {
  process.stderr.write(
    '\nrnnkit: OpenBLAS (cblas.h and libopenblas) was not found, so the native addon cannot be built from source.\n' +
    '  Debian/Ubuntu: apt-get install -y libopenblas-dev\n' +
    '  Fedora/RHEL:   dnf install -y openblas-devel\n' +
    '  macOS:         brew install openblas\n\n');
  process.exit(1);
}
process.stdout.write((process.argv[2] === '--libs' ? found.libs : found.cflags) + '\n');
