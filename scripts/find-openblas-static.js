#!/usr/bin/env node
// Locates a static, pthread-threaded OpenBLAS (libopenblas.a) for the prebuilt
// binary (binding.gyp with rnnkit_static_openblas=1): `--cflags` prints the
// include directory, `--libs` the archive and what it needs. Only the BLAS
// objects rnnkit calls are linked, so no libgfortran is needed. Not used for
// a from-source install, which links the system OpenBLAS (find-openblas.js).
// Override: RNNKIT_OPENBLAS_STATIC=/path/libopenblas.a RNNKIT_OPENBLAS_INCLUDE=/path/include
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// The architecture being built: the host's, or RNNKIT_TARGET_ARCH in a cross build
// (scripts/prebuild.js --arch arm64).
const arch = process.env.RNNKIT_TARGET_ARCH || os.arch();
const triple = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[arch] || `${arch}-linux-gnu`;

// The pthread build only: an OpenMP build would need libgomp at run time, a serial
// one would ignore setNumThreads.
const candidates = [
  { lib: process.env.RNNKIT_OPENBLAS_STATIC, include: process.env.RNNKIT_OPENBLAS_INCLUDE },
  { lib: `/usr/lib/${triple}/openblas-pthread/libopenblas.a`, include: `/usr/include/${triple}/openblas-pthread` }, // Debian/Ubuntu
  { lib: '/usr/lib64/libopenblasp.a', include: '/usr/include/openblas' },                                           // Fedora/RHEL
  { lib: '/opt/OpenBLAS/lib/libopenblas.a', include: '/opt/OpenBLAS/include' },                                     // OpenBLAS `make install`
  { lib: '/usr/local/lib/libopenblas.a', include: '/usr/local/include' },
];

const found = candidates.find((c) => c.lib && c.include && fs.existsSync(c.lib) &&
  fs.existsSync(path.join(c.include, 'cblas.h')));
if (!found) {
  process.stderr.write(
    '\nrnnkit: a static OpenBLAS (libopenblas.a, pthread build, with cblas.h) was not found, so the\n' +
    'self-contained prebuilt binary cannot be linked. (A plain `npm install` does not need it.)\n' +
    '  Debian/Ubuntu: apt-get install -y libopenblas-pthread-dev\n' +
    '  Fedora/RHEL:   dnf install -y openblas-static openblas-devel\n' +
    '  elsewhere:     RNNKIT_OPENBLAS_STATIC=/path/libopenblas.a RNNKIT_OPENBLAS_INCLUDE=/path/include\n\n');
  process.exit(1);
}
process.stdout.write((process.argv[2] === '--libs' ? `${found.lib} -lpthread -lm` : found.include) + '\n');
