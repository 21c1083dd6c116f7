// Which instruction-set path the kernels run: the best the CPU has, or a lower
// one asked for with RNNKIT_ISA=baseline|avx2|avx512 (capped at what the CPU
// has), so every path can be tested on one machine. Read once per process, at
// the first kernel call; the addon checks the value when it loads. The gate
// math (RNNKIT_CPU_DISPATCH in fast_math.h) and the packed per-step GEMM
// (packed_gemm.h) both follow it. Off x86-64 there is one path, "baseline":
// the target's own baseline (on arm64 that includes NEON, which ARMv8-A makes
// mandatory: rows_gemm.h has NEON tiles, the rest the compiler vectorises).
#pragma once
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace rnnkit {

enum class Isa { Baseline = 1, Avx2 = 3, Avx512 = 4 };

inline const char* isa_name(Isa isa) {
  return isa == Isa::Avx512 ? "avx512" : isa == Isa::Avx2 ? "avx2" : "baseline";
}

// Parses an RNNKIT_ISA value; false for anything but the three names.
inline bool parse_isa(const char* text, Isa* out) {
  for (Isa isa : {Isa::Baseline, Isa::Avx2, Isa::Avx512}) {
    if (std::strcmp(text, isa_name(isa)) == 0) {
      *out = isa;
      return true;
    }
  }
  return false;
}

// The best path this CPU runs: AVX-512 (F, VL, BW, DQ), AVX2 + FMA, or baseline.
inline Isa cpu_best_isa() {
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
  static const Isa best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
      return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Baseline;
  }();
  return best;
#else
  return Isa::Baseline;
#endif
}

// RNNKIT_ISA as set, unset or empty: true with *requested = the CPU's best; an
// unknown value: false (the addon refuses to load with an error naming it).
inline bool requested_isa(Isa* requested) {
  const char* text = std::getenv("RNNKIT_ISA");
  if (text == nullptr || *text == '\0') {
    *requested = cpu_best_isa();
    return true;
  }
  return parse_isa(text, requested);
}

// The path the kernels run: RNNKIT_ISA capped at the CPU's best (an unknown
// value counts as unset here; the addon has refused it before any kernel runs).
inline Isa active_isa() {
  static const Isa active = [] {
    Isa requested = cpu_best_isa();
    if (!requested_isa(&requested)) requested = cpu_best_isa();
    return int(requested) < int(cpu_best_isa()) ? requested : cpu_best_isa();
  }();
  return active;
}

}  // namespace rnnkit
