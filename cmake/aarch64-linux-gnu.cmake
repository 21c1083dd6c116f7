# Cross-builds the native kernel tests for linux-arm64 on an x86-64 Debian host
# (scripts/install-arm64-cross.sh installs the toolchain, arm64 OpenBLAS and
# qemu-user); ctest then runs them under qemu-aarch64. Used by
# scripts/test-arm64.sh: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Debian multiarch: arm64 libraries and headers live beside the host's, under
# the aarch64-linux-gnu triple; never pick up the host's x86-64 ones.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# qemu's sysroot: the arm64 runtime that scripts/install-arm64-cross.sh unpacks
# (glibc, libstdc++ and Node.js). Not /usr/aarch64-linux-gnu itself: with that
# as its -L prefix, qemu 7.2 hangs in the guest's first pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${CMAKE_CURRENT_LIST_DIR}/../build-arm64/sysroot)