#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run (npm run test:asan):
# builds kernels, native tests and the addon with -DRNNKIT_SANITIZE=ON into
# build-asan, runs the native tests, then a training smoke run and the
# whole mocha suite in node with the ASan runtime preloaded and that addon
# loaded through RNNKIT_ADDON_PATH. Any ASan or UBSan report fails the run.
# Leak detection is off in node (node itself leaks at exit) but on for the
# native test executables. On 2 cores: about 2 minutes to build, then 3 minutes
# for the whole suite, or 1 minute with RNNKIT_ASAN_SUITE=quick (only the
# fuzz-* and reliability-* tests).
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-asan
npx cmake-js compile -d . -O "$out" --CDRNNKIT_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$out" --output-on-failure
npx tsc -p .

runtime="$(${CXX:-g++} -print-file-name=libasan.so)"
if [ ! -e "$runtime" ]; then echo "test-asan: no ASan runtime found ($runtime)" >&2; exit 1; fi
export LD_PRELOAD="$runtime"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export RNNKIT_ADDON_PATH="$out/Release/rnnkit.node"
export RNNKIT_SANITIZED=1  # tests that measure RSS skip that check (ASan's quarantine holds freed memory)

# Prove the sanitized addon is the one node loads, not build/Release.
node -e "
  require('./dist/lib/native');
  const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
  if (!maps.includes('$out/Release/rnnkit.node')) { console.error('test-asan: the ASan addon was not loaded'); process.exit(1); }
  console.log('test-asan: loaded $out/Release/rnnkit.node with', process.env.LD_PRELOAD);
"
node scripts/train-smoke.js
if [ "${RNNKIT_ASAN_SUITE:-full}" = quick ]; then
  # The fuzz and reliability tests only (what CI can afford): about a minute under ASan.
  npx mocha --no-config --timeout 600000 'dist/test/fuzz-*.test.js' 'dist/test/reliability-*.test.js'
else
  npx mocha
fi
echo "test-asan: clean"
