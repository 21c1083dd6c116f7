#!/usr/bin/env bash
# Installs what the linux-arm64 prebuild and its tests need on an x86-64
# Debian/Ubuntu host (npm run prebuild:arm64, npm run test:arm64), only what is
# missing, saying what it does:
#   - the cross compiler (g++-aarch64-linux-gnu) and qemu-user;
#   - Debian's arm64 OpenBLAS through multiarch (dpkg --add-architecture arm64):
#     the static pthread build the prebuild links, and the shared one the
#     cross-built native tests link;
#   - an arm64 runtime for qemu-aarch64 in build-arm64/sysroot: the cross
#     toolchain's glibc and libstdc++, and Debian 12's nodejs:arm64 with its
#     libraries, unpacked (not installed: nodejs:arm64 cannot sit beside the
#     host's own nodejs). scripts/node-arm64 runs that Node.js; ctest runs the
#     cross-built native tests in the same root (cmake/aarch64-linux-gnu.cmake).
# A user's `npm install` needs none of this. Installing needs root or sudo, as
# scripts/install-system-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v apt-get >/dev/null 2>&1 || [ "$(dpkg --print-architecture)" != amd64 ]; then
  echo "rnnkit: the arm64 cross build is set up for x86-64 Debian/Ubuntu hosts (apt-get, multiarch)" >&2
  exit 1
fi

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
dpkg -s libopenblas-pthread-dev:arm64 >/dev/null 2>&1 || missing+=(libopenblas-pthread-dev:arm64)
if [ ${#missing[@]} -gt 0 ]; then
  . scripts/as-root.sh "the arm64 cross build needs ${missing[*]}" \
    "installing them needs root: run this script as root or with sudo"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "rnnkit: adding arm64 as a dpkg foreign architecture (multiarch)"
    "${sudo[@]}" dpkg --add-architecture arm64
  fi
  echo "rnnkit: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian 12's arm64 Node.js (package names are bookworm's) with the libraries it loads beyond libc and libstdc++
# (which the cross toolchain's /usr/aarch64-linux-gnu provides), and the
# architecture-independent modules Debian's build keeps outside the binary.
root=build-arm64/sysroot
if [ ! -x "$root/usr/bin/node" ]; then
  echo "rnnkit: unpacking Debian's nodejs:arm64 into $root"
  debs="$(mktemp -d)"
  trap 'rm -rf "$debs"' EXIT
  # (As root, apt warns that the download is unsandboxed: harmless, into a private temp dir.)
  (cd "$debs" && apt-get download -q \
    nodejs:arm64 libnode108:arm64 libuv1:arm64 libc-ares2:arm64 libbrotli1:arm64 libicu72:arm64 libssl3:arm64 \
    zlib1g:arm64 libnghttp2-14:arm64 node-cjs-module-lexer node-acorn node-undici)
  rm -rf "$root.partial" && mkdir -p "$root.partial"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root.partial"; done
  mkdir -p "$root.partial/lib"
  cp -a /usr/aarch64-linux-gnu/lib/. "$root.partial/lib/aarch64-linux-gnu/"
  ln -sf aarch64-linux-gnu/ld-linux-aarch64.so.1 "$root.partial/lib/ld-linux-aarch64.so.1"
  rm -rf "$root" && mv "$root.partial" "$root"
fi
echo "rnnkit: arm64 toolchain ready; $(scripts/node-arm64 -p '`Node.js ${process.version} ${process.arch}`') under qemu"
