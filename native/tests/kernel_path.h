// Native tests: say which kernel path runs (RNNKIT_ISA capped at the CPU's best,
// see cpu_isa.h) and refuse a misspelt RNNKIT_ISA rather than test another path.
// ctest runs each test once per path (CMakeLists.txt).
#pragma once
#include <cstdio>
#include <cstdlib>

#include "../kernels/cpu_isa.h"

inline void announce_kernel_path() {
  rnnkit::Isa requested;
  if (!rnnkit::requested_isa(&requested)) {
    std::fprintf(stderr, "RNNKIT_ISA: expected baseline, avx2 or avx512, got '%s'\n", std::getenv("RNNKIT_ISA"));
    std::exit(2);
  }
  std::printf("kernel path: %s (asked: %s, CPU best: %s)\n", rnnkit::isa_name(rnnkit::active_isa()),
              rnnkit::isa_name(requested), rnnkit::isa_name(rnnkit::cpu_best_isa()));
}
