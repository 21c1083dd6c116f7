#!/usr/bin/env node
// Locates Open MPI for binding.gyp's optional distributed module (rnnkit_mpi.node):
// `--available` prints 1 or 0 (0 builds the addon without it; never an error), `--cflags`
// prints include directories, `--libs` linker flags, both from the mpicc wrapper.
// RNNKIT_NO_MPI=1 leaves the module out; so does a cross build or the static prebuild
// (the module must match the Open MPI of the machine that runs mpirun, so it is never shipped).
'use strict';
const { execFileSync } = require('node:child_process');
const os = require('node:os');

function showme(what) {
  try {
    return execFileSync('mpicc', [`--showme:${what}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function wanted() {
  if (process.env.RNNKIT_NO_MPI === '1' || process.env.RNNKIT_STATIC_OPENBLAS === '1') return false;
  if (process.env.RNNKIT_TARGET_ARCH && process.env.RNNKIT_TARGET_ARCH !== os.arch()) return false;
  return true;
}

const compile = wanted() ? showme('compile') : null;
const link = compile === null ? null : showme('link');
const available = compile !== null && link !== null;
const flag = process.argv[2];
if (flag === '--available') process.stdout.write(available ? '1' : '0');
else if (flag === '--cflags') process.stdout.write(available ? compile.split(/\s+/).filter((f) => f.startsWith('-I')).map((f) => f.slice(2)).join(' ') : '');
else if (flag === '--libs') process.stdout.write(available ? link : '');
else {
  process.stderr.write('usage: find-mpi.js --available | --cflags | --libs\n');
  process.exit(2);
}
