#!/usr/bin/env bash
# The linux-arm64 build, tested for real under qemu-aarch64 on an x86-64 host
# (npm run test:arm64, after scripts/install-arm64-cross.sh and
# npm run prebuild:arm64):
#   1. the native kernel tests, cross-built (cmake/aarch64-linux-gnu.cmake), under ctest + qemu;
#   2. in the arm64 Node.js with the shipped arm64 prebuild alone (PREBUILDS_ONLY=1): that the
#      prebuild is the binary loaded, PyTorch parity on the committed fixtures, gradients,
#      structures, decoding, save/load, streaming, determinism, training (fit, resume) and the
#      synthetic learning tasks. Left out: the EncoderDecoder learning tasks (minutes each under
#      emulation), and the two loader tests that start a child Node.js by process.execPath
#      (an arm64 binary the host cannot exec without qemu; their JS is the same on every arch),
#      and the ONNX export tests (onnx-*.test.js): the export is JavaScript that writes the same bytes
#      on every arch, and onnxruntime-node's own arm64 binary under qemu would test onnxruntime, not
#      rnnkit (rnnkit's arm64 numbers are compared with x86-64's in step 4);
#   3. the parity tests again with OpenBLAS's Neoverse N1 kernels (Graviton 2, Ampere Altra);
#   4. the arm64 results against the x86-64 build's on the same inputs (scripts/compare-arm64.js).
# About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

prebuild=prebuilds/linux-arm64/rnnkit.glibc.node
if [ ! -f "$prebuild" ]; then echo "test-arm64: no $prebuild; run npm run prebuild:arm64 first" >&2; exit 1; fi

echo "== native kernel tests (arm64, qemu)"
cmake -S . -B build-arm64-tests -DRNNKIT_ADDON=OFF -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
cmake --build build-arm64-tests -j "$(nproc)"
ctest --test-dir build-arm64-tests --output-on-failure

npx tsc -p .
tests=(packaging-load recurrent-pytorch-parity attention-decoder-pytorch-parity blocks-pytorch-parity
  recurrent-behaviour recurrent-async attention-decoder-workspace structures-gradients structures-decoding
  structures-attention structures-training structures-streaming structures-save-load structures-learning
  reliability-numerics determinism)
files=()
for t in "${tests[@]}"; do files+=("dist/test/$t.test.js"); done
mocha=(node_modules/mocha/bin/mocha.js --no-config --timeout 600000 --reporter dot)

echo "== mocha in the arm64 Node.js, on the arm64 prebuild"
skip='EncoderDecoder reverses random strings|a corrupt prebuilt binary fails|a platform with no prebuilt binary'
PREBUILDS_ONLY=1 scripts/node-arm64 "${mocha[@]}" --grep "$skip" --invert "${files[@]}"

echo "== PyTorch parity with OpenBLAS's Neoverse N1 kernels"
PREBUILDS_ONLY=1 OPENBLAS_CORETYPE=NEOVERSEN1 scripts/node-arm64 "${mocha[@]}" "${files[@]:1:3}"

echo "== arm64 against x86-64"
node scripts/compare-arm64.js
