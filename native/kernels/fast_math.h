// Branch-free exp, sigmoid and tanh for float that compilers vectorise (plain
// arithmetic, selects and integer bit moves; no libm calls), within 1e-6
// relative of the exact values (native/tests/kernel_tests.cc sweeps them).
// The double overloads are the exact std:: functions (gradient checks).
// The build passes -fno-trapping-math (binding.gyp, CMakeLists.txt): the selects
// below (tanh's small/large branch) guard a division, and without that flag GCC
// keeps them as branches for AVX2, which has no masked division, so every cell
// loop ran scalar on AVX2-only CPUs (vectorised only for AVX-512). The flag changes
// no computed value: element-wise IEEE arithmetic gives the same bits in vector
// and scalar form, and -std=c++17 keeps FMA contraction off.
// Also: RNNKIT_CPU_DISPATCH, which compiles one element-wise loop for
// baseline x86-64, AVX2+FMA and AVX-512 and picks one at run time (the
// CPU's best, or RNNKIT_ISA: cpu_isa.h), so the shipped binary needs no -march flag.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu_isa.h"

namespace rnnkit {

#if defined(__GNUC__)
#define RNNKIT_INLINE inline __attribute__((always_inline))
#else
#define RNNKIT_INLINE inline
#endif

namespace fast {

RNNKIT_INLINE float bits_to_float(int32_t i) { float f; std::memcpy(&f, &i, 4); return f; }
RNNKIT_INLINE int32_t float_to_bits(float f) { int32_t i; std::memcpy(&i, &f, 4); return i; }

// e^x for x in [-87.3, 88]; inputs outside are clamped (NaN stays NaN). Cody-Waite
// reduction x = n ln2 + f, |f| <= ln2/2, and Cephes' degree-5 polynomial: ~1 ulp.
RNNKIT_INLINE float exp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.0f ? 88.0f : x;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float r = x * 1.44269504088896341f + shifter;
  const float n = r - shifter;
  const int32_t ni = float_to_bits(r) - float_to_bits(shifter);
  float f = x - n * 0.693359375f;
  f = f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * (f * f) + f + 1.0f;
  // Shifted as unsigned: for a NaN x, ni is garbage and a signed shift past bit 31 would be UB (UBSan).
  return p * bits_to_float(int32_t(uint32_t(ni + 127) << 23));
}

RNNKIT_INLINE float sigmoid(float x) { return 1.0f / (1.0f + fast::exp(-x)); }

// |x| < 0.625: odd minimax polynomial x + x^3 P(x^2); otherwise 1 - 2 / (e^{2|x|} + 1)
// with the sign put back (|x| clamped to 10, where tanh rounds to 1 in float).
RNNKIT_INLINE float tanh(float x) {
  const float a = x < 0.0f ? -x : x;
  const float u = x * x;
  float p = -5.703992675989866e-3f;
  p = p * u + 2.0637817680835724e-2f;
  p = p * u + -5.3739145398139954e-2f;
  p = p * u + 1.33314311504364e-1f;
  p = p * u + -3.333328068256378e-1f;
  const float small = x + x * u * p;
  const float e = fast::exp(2.0f * (a > 10.0f ? 10.0f : a));
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float signed_big = x < 0.0f ? -big : big;
  return a < 0.625f ? small : signed_big;
}

}  // namespace fast

// The activations the cell kernels use: fast for float, exact for double.
RNNKIT_INLINE float act_sigmoid(float x) { return fast::sigmoid(x); }
RNNKIT_INLINE float act_tanh(float x) { return fast::tanh(x); }
RNNKIT_INLINE float act_exp(float x) { return fast::exp(x); }
RNNKIT_INLINE double act_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
RNNKIT_INLINE double act_exp(double x) { return std::exp(x); }
RNNKIT_INLINE double act_tanh(double x) { return std::tanh(x); }

// sum_i a[i] * b[i] with 8 independent partial sums (vectorisable without
// -ffast-math; the summation order is fixed, so results are reproducible).
template <typename Real>
RNNKIT_INLINE Real dot(const Real* __restrict a, const Real* __restrict b, int n) {
  Real acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  Real tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

}  // namespace rnnkit

// RNNKIT_CPU_DISPATCH(ret, name, params, args, body): defines `ret name params`
// that runs `body` compiled for the active instruction set (x86-64 with GCC or
// Clang: AVX-512, AVX2+FMA or baseline, see cpu_isa.h; elsewhere the plain body).
// body is a statement list using the parameters; keep it free of calls that
// are not inlined (they would run at the baseline ISA).
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#define RNNKIT_CPU_DISPATCH(ret, name, params, args, body)                                            \
  namespace dispatch_##name {                                                                          \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) inline ret v4 params { body } \
  __attribute__((target("avx2,fma"))) inline ret v3 params { body }                                    \
  inline ret v1 params { body }                                                                        \
  using fn = ret(*) params;                                                                            \
  inline fn pick() {                                                                                   \
    const ::rnnkit::Isa isa = ::rnnkit::active_isa();                                                  \
    return isa == ::rnnkit::Isa::Avx512 ? v4 : isa == ::rnnkit::Isa::Avx2 ? v3 : v1;                   \
  }                                                                                                    \
  }                                                                                                    \
  inline ret name params {                                                                             \
    static const dispatch_##name::fn chosen = dispatch_##name::pick();                                 \
    return chosen args;                                                                                \
  }
#else
#define RNNKIT_CPU_DISPATCH(ret, name, params, args, body) \
  inline ret name params { body }
#endif

namespace rnnkit {
// Array forms of the float activations, through the same per-CPU dispatch as
// the cell kernels (the native tests sweep these).
RNNKIT_CPU_DISPATCH(void, tanh_f32, (float* __restrict y, const float* __restrict x, size_t n), (y, x, n),
                    for (size_t i = 0; i < n; ++i) y[i] = fast::tanh(x[i]);)
RNNKIT_CPU_DISPATCH(void, sigmoid_f32, (float* __restrict y, const float* __restrict x, size_t n), (y, x, n),
                    for (size_t i = 0; i < n; ++i) y[i] = fast::sigmoid(x[i]);)
RNNKIT_CPU_DISPATCH(void, exp_f32, (float* __restrict y, const float* __restrict x, size_t n), (y, x, n),
                    for (size_t i = 0; i < n; ++i) y[i] = fast::exp(x[i]);)
}  // namespace rnnkit
