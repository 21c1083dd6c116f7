#!/usr/bin/env bash
# Installs the system packages rnnkit builds and tests with, and only those that
# are missing, saying what it installs: a C++ compiler, make, python3 (node-gyp),
# OpenBLAS (the shared library for source builds; the static pthread build for
# `npm run prebuild`), cmake (`npm run test:native`), and what the packaging and
# memory tests use (binutils, util-linux, valgrind), and Open MPI (mpirun and the headers the
# optional distributed module builds against; without it that module and its tests are skipped,
# everything else works). The README's first command
# and .ci/run both call it, so CI tests exactly what a new user runs.
#
# Debian and Ubuntu (apt-get); as root, or through sudo. Anywhere else, or when
# the system cannot be changed, it prints what to install and exits non-zero.
set -euo pipefail

# package  command-or-empty: a package counts as present when dpkg knows it, or
# (for tools that may come from elsewhere) when the command is on PATH.
wanted=(
  "g++ g++"
  "make make"
  "python3 python3"
  "libopenblas-dev -"
  "libopenblas-pthread-dev -"
  "cmake cmake"
  "binutils readelf"
  "util-linux unshare"
  "valgrind valgrind"
  "openmpi-bin mpirun"
  "libopenmpi-dev -"
)

# The machine's own architecture: with multiarch (e.g. arm64 OpenBLAS for the
# cross build) a bare package name is ambiguous to dpkg -s.
native_arch="$(dpkg --print-architecture 2>/dev/null || true)"
missing=()
for entry in "${wanted[@]}"; do
  read -r package command <<<"$entry"
  if [ "$command" != "-" ] && command -v "$command" >/dev/null 2>&1; then continue; fi
  if [ -n "$native_arch" ] && dpkg -s "$package:$native_arch" >/dev/null 2>&1; then continue; fi
  missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "rnnkit: system packages present (compiler, make, python3, OpenBLAS, cmake, binutils, valgrind, Open MPI)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "rnnkit: missing system packages: ${missing[*]}" >&2
  echo "This script installs them with apt-get (Debian/Ubuntu) only; install the equivalents with your" >&2
  echo "system's package manager (a C++17 compiler, make, python3, OpenBLAS with cblas.h, cmake), then rerun." >&2
  exit 1
fi

. "$(dirname "$0")/as-root.sh" "missing system packages: ${missing[*]}" \
  "installing them needs root: sudo apt-get install -y ${missing[*]}"

echo "rnnkit: installing missing system packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "rnnkit: installed ${missing[*]}"
