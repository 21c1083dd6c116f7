#!/usr/bin/env bash
# Valgrind memcheck of a short training run (npm run test:valgrind): node runs
# scripts/train-smoke.js, which calls every native binding, with the normal
# addon (build/Release). Fails on any invalid read/write, use of uninitialised
# memory that reaches our code, or a definite leak. scripts/valgrind-node.supp
# hides only uninitialised-value reports whose top frame is inside node/V8
# itself. About 15 s (valgrind is ~50x slower than native).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind-train: install valgrind (apt-get install -y valgrind)" >&2; exit 1; }
npx tsc -p .
log="${VALGRIND_LOG:-$(mktemp -t rnnkit-valgrind.XXXXXX)}"
status=0
OPENBLAS_NUM_THREADS=1 SMOKE_EPOCHS="${SMOKE_EPOCHS:-2}" valgrind --tool=memcheck --error-exitcode=99 \
  --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --suppressions=scripts/valgrind-node.supp --num-callers=30 --log-file="$log" \
  node scripts/train-smoke.js || status=$?
invalid=$(grep -cE "Invalid (read|write)" "$log" || true)
uninit=$(grep -cE "uninitialised|Uninitialised" "$log" || true)
echo "valgrind-train: invalid reads/writes: $invalid, uninitialised-value reports: $uninit"
grep -E "ERROR SUMMARY|definitely lost" "$log" | sed 's/^==[0-9]*== /valgrind-train: /'
if [ "$status" -ne 0 ]; then echo "valgrind-train: FAILED (exit $status), full log: $log" >&2; exit 1; fi
[ -n "${VALGRIND_LOG:-}" ] || rm -f "$log"
echo "valgrind-train: clean"
