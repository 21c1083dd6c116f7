// The forward products of every layer, C[M,N] (+)= A[M,K] W[N,K]^T (x W_ih^T,
// h W_hh^T, x W^T of Linear, memory W_key^T), computed so that each output
// element's bits depend only on its own row of A, W and K: never on M, on the
// other rows, on how rows are split over threads or tiles, or on the call's
// shape otherwise. That is what makes a sequence's result the same alone, in
// any batch and at any thread count (batch-invariant inference: greedy
// decoding equals beam search of width 1, a server's answers do not change
// with load). OpenBLAS gives no such promise: its kernels pick other code
// paths (and summation orders) by M.
//
// Each C[m][n] is a dot product over k in 8 strided partial sums (lane l takes
// k = l, l+8, ...), reduced in one fixed tree, plus the K % 8 tail in order:
// the same in every tile size. Per path (cpu_isa.h): AVX2+FMA and portable C++
// (x86-64 baseline, other architectures) follow that order, AVX-512 uses 16
// lanes, arm64's NEON 4 lanes; paths agree within rounding, not bit for bit.
// W is read as it is (row-major [N,K], contiguous in k), so nothing is packed
// per call and a one-row streaming step costs one pass over W.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "blas.h"
#include "cpu_isa.h"
#include "parallel.h"

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#include <immintrin.h>
#define RNNKIT_ROWS_GEMM_X86 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define RNNKIT_ROWS_GEMM_NEON 1
#endif

namespace rnnkit {
namespace rows_detail {

constexpr int kLanes = 8;

// The one reduction tree, written for 8 plain floats: ((0+4)+(2+6)) + ((1+5)+(3+7)).
inline float reduce_lanes(const float* l) {
  const float s0 = l[0] + l[4], s1 = l[1] + l[5], s2 = l[2] + l[6], s3 = l[3] + l[7];
  return (s0 + s2) + (s1 + s3);
}

// Rows [0, MR) x columns [0, NR) of C, portable.
template <int MR, int NR>
inline void tile_portable(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K,
                          bool accumulate) {
  float acc[MR][NR][kLanes] = {};
  const int K8 = K - K % kLanes;
  for (int k = 0; k < K8; k += kLanes)
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n)
        for (int l = 0; l < kLanes; ++l) acc[m][n][l] += A[size_t(m) * lda + k + l] * W[size_t(n) * ldw + k + l];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      float tail = 0.0f;
      for (int k = K8; k < K; ++k) tail += A[size_t(m) * lda + k] * W[size_t(n) * ldw + k];
      const float sum = reduce_lanes(acc[m][n]) + tail;
      float& c = C[size_t(m) * ldc + n];
      c = accumulate ? c + sum : sum;
    }
}

#ifdef RNNKIT_ROWS_GEMM_X86
// The same tree on a ymm register: (lo + hi) gives lanes (0+4),(1+5),(2+6),(3+7);
// adding the upper pair gives (0+4)+(2+6), (1+5)+(3+7); then their sum.
__attribute__((target("avx2,fma"))) inline float reduce_lanes_avx2(__m256 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

// reduce_lanes_avx2 on eight accumulators at once, bit for bit the same tree:
// each stage adds the same pairs, two or four accumulators per register, so a
// tile pays 7 shuffle-add steps per 8 outputs instead of 5 per output.
// Returns [tree(v0), ..., tree(v7)].
// [a0+a4 .. a3+a7 | b0+b4 .. b3+b7]
__attribute__((target("avx2,fma"))) inline __m256 fold_halves_avx2(__m256 a, __m256 b) {
  return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

__attribute__((target("avx2,fma"))) inline __m256 reduce8_avx2(const __m256* v) {
  const auto fold = fold_halves_avx2;
  const __m256 p01 = fold(v[0], v[1]), p23 = fold(v[2], v[3]), p45 = fold(v[4], v[5]), p67 = fold(v[6], v[7]);
  // (0+4)+(2+6) and (1+5)+(3+7) of each: [0 0' 2 2' | 1 1' 3 3'] for accumulators 0-3, likewise 4-7.
  const __m256 q0 = _mm256_add_ps(_mm256_shuffle_ps(p01, p23, 0x44), _mm256_shuffle_ps(p01, p23, 0xEE));
  const __m256 q1 = _mm256_add_ps(_mm256_shuffle_ps(p45, p67, 0x44), _mm256_shuffle_ps(p45, p67, 0xEE));
  // Their sums: accumulators [0 2 4 6 | 1 3 5 7], put back in order.
  const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(q0, q1, 0x88), _mm256_shuffle_ps(q0, q1, 0xDD));
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

template <int MR, int NR>
__attribute__((target("avx2,fma"))) inline void tile_avx2(float* C, int ldc, const float* A, int lda, const float* W,
                                                           int ldw, int K, bool accumulate) {
  constexpr int kCount = MR * NR, kGroups = (kCount + 7) / 8;
  __m256 acc[kGroups * 8];  // element m * NR + n; the padding stays zero
#pragma GCC unroll 16
  for (int e = 0; e < kGroups * 8; ++e) acc[e] = _mm256_setzero_ps();
  const int K8 = K - K % kLanes;
  for (int k = 0; k < K8; k += kLanes) {
    __m256 w[NR];
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) w[n] = _mm256_loadu_ps(W + size_t(n) * ldw + k);
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      const __m256 a = _mm256_loadu_ps(A + size_t(m) * lda + k);
#pragma GCC unroll 4
      for (int n = 0; n < NR; ++n) acc[m * NR + n] = _mm256_fmadd_ps(a, w[n], acc[m * NR + n]);
    }
  }
  alignas(32) float sums[kGroups * 8];
#pragma GCC unroll 2
  for (int g = 0; g < kGroups; ++g) _mm256_store_ps(sums + 8 * g, reduce8_avx2(acc + 8 * g));
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) {
      __m128 tail = _mm_setzero_ps();
      for (int k = K8; k < K; ++k)
        tail = _mm_fmadd_ss(_mm_load_ss(A + size_t(m) * lda + k), _mm_load_ss(W + size_t(n) * ldw + k), tail);
      const float sum = sums[m * NR + n] + _mm_cvtss_f32(tail);
      float& c = C[size_t(m) * ldc + n];
      c = accumulate ? c + sum : sum;
    }
}

// (tile_avx2 and tile_avx512 share their loop shape but stay two functions: GCC
// applies a target attribute to every instantiation of a template, so one
// template over vector traits cannot be compiled for AVX2 and AVX-512 at once.)
// AVX-512: 16 lanes, folded to 8 (lane l + lane l+8) and then the 8-lane tree;
// 32 zmm registers hold a 6 x 4 tile. Another order than the 8-lane paths (its own path).
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) inline float reduce_lanes_avx512(__m512 v) {
  const __m256 folded = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(folded), _mm256_extractf128_ps(folded, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

template <int MR, int NR>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) inline void tile_avx512(
    float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K, bool accumulate) {
  constexpr int kWide = 16;
  __m512 acc[MR][NR];
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_setzero_ps();
  const int K16 = K - K % kWide;
  for (int k = 0; k < K16; k += kWide) {
    __m512 w[NR];
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) w[n] = _mm512_loadu_ps(W + size_t(n) * ldw + k);
#pragma GCC unroll 6
    for (int m = 0; m < MR; ++m) {
      const __m512 a = _mm512_loadu_ps(A + size_t(m) * lda + k);
#pragma GCC unroll 4
      for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_fmadd_ps(a, w[n], acc[m][n]);
    }
  }
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) {
      __m128 tail = _mm_setzero_ps();
      for (int k = K16; k < K; ++k)
        tail = _mm_fmadd_ss(_mm_load_ss(A + size_t(m) * lda + k), _mm_load_ss(W + size_t(n) * ldw + k), tail);
      const float sum = reduce_lanes_avx512(acc[m][n]) + _mm_cvtss_f32(tail);
      float& c = C[size_t(m) * ldc + n];
      c = accumulate ? c + sum : sum;
    }
}

template <int MR, int NR>
struct Avx512Tile {
  static void run(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K, bool accumulate) {
    tile_avx512<MR, NR>(C, ldc, A, lda, W, ldw, K, accumulate);
  }
};
template <int MR, int NR>
struct Avx2Tile {
  static void run(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K, bool accumulate) {
    tile_avx2<MR, NR>(C, ldc, A, lda, W, ldw, K, accumulate);
  }
};
#endif

#ifdef RNNKIT_ROWS_GEMM_NEON
// arm64 (NEON is part of ARMv8-A, so this is arm64's one path): 4 lanes per
// accumulator, reduced by FADDP (vaddvq_f32, a fixed order), the K % 4 tail
// fused in order.
template <int MR, int NR>
inline void tile_neon(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K, bool accumulate) {
  constexpr int kQuad = 4;
  float32x4_t acc[MR][NR];
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) acc[m][n] = vdupq_n_f32(0.0f);
  const int K4 = K - K % kQuad;
  for (int k = 0; k < K4; k += kQuad) {
    float32x4_t w[NR];
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) w[n] = vld1q_f32(W + size_t(n) * ldw + k);
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      const float32x4_t a = vld1q_f32(A + size_t(m) * lda + k);
#pragma GCC unroll 4
      for (int n = 0; n < NR; ++n) acc[m][n] = vfmaq_f32(acc[m][n], a, w[n]);
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int n = 0; n < NR; ++n) {
      float tail = 0.0f;
      for (int k = K4; k < K; ++k) tail = std::fma(A[size_t(m) * lda + k], W[size_t(n) * ldw + k], tail);
      const float sum = vaddvq_f32(acc[m][n]) + tail;
      float& c = C[size_t(m) * ldc + n];
      c = accumulate ? c + sum : sum;
    }
}

template <int MR, int NR>
struct NeonTile {
  static void run(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K, bool accumulate) {
    tile_neon<MR, NR>(C, ldc, A, lda, W, ldw, K, accumulate);
  }
};
#endif

template <int MR, int NR>
struct PortableTile {
  static void run(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K, bool accumulate) {
    tile_portable<MR, NR>(C, ldc, A, lda, W, ldw, K, accumulate);
  }
};

// Runs Tile<mr, nr> for run-time mr in [1, MR], nr in [1, NR].
template <template <int, int> class Tile, int MR, int NR>
inline void run_tile(int mr, int nr, float* C, int ldc, const float* A, int lda, const float* W, int ldw, int K,
                     bool accumulate) {
  if constexpr (MR > 1) {
    if (mr < MR) return run_tile<Tile, MR - 1, NR>(mr, nr, C, ldc, A, lda, W, ldw, K, accumulate);
  }
  if constexpr (NR > 1) {
    if (nr < NR) return run_tile<Tile, MR, NR - 1>(mr, nr, C, ldc, A, lda, W, ldw, K, accumulate);
  }
  Tile<MR, NR>::run(C, ldc, A, lda, W, ldw, K, accumulate);
}

// Tiles of MR x NR over all of C; edge tiles take fewer rows or columns (the
// per-element order is the same in all of them, so neither tiling nor blocking
// changes a bit). Blocked: a block of W's rows (C's columns, 16 KB) stays in L1
// while every row tile of a block of A's rows (128 KB, in L2) passes over it.
// Unblocked, each row tile streamed all of W from L3 once W passed L2 (GRU H=256:
// W_hh is 768 KB; Zen 3 has 512 KB of L2). Measured there against 12-128 KB W
// blocks and 16-128 KB A blocks: this pair was best or within noise everywhere.
constexpr int kBlockWFloats = 4 * 1024;
constexpr int kBlockAFloats = 32 * 1024;
template <int MR, int NR, typename Tile>
inline void for_each_tile(int M, int N, int K, Tile tile) {
  const int kk = std::max(1, K);
  const int block_n = std::max(NR, kBlockWFloats / kk / NR * NR), block_m = std::max(MR, kBlockAFloats / kk / MR * MR);
  for (int m0 = 0; m0 < M; m0 += block_m) {
    const int m1 = std::min(M, m0 + block_m);
    for (int n0 = 0; n0 < N; n0 += block_n) {
      const int n1 = std::min(N, n0 + block_n);
      for (int m = m0; m < m1; m += MR)
        for (int n = n0; n < n1; n += NR) tile(m, n, std::min(MR, m1 - m), std::min(NR, n1 - n));
    }
  }
}

template <template <int, int> class Tile, int MR, int NR>
inline void tiles(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int M, int N, int K,
                  bool accumulate) {
  for_each_tile<MR, NR>(M, N, K, [&](int m, int n, int mr, int nr) {
    run_tile<Tile, MR, NR>(mr, nr, C + size_t(m) * ldc + n, ldc, A + size_t(m) * lda, lda, W + size_t(n) * ldw, ldw,
                           K, accumulate);
  });
}

inline void serial(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int M, int N, int K,
                   bool accumulate) {
#ifdef RNNKIT_ROWS_GEMM_X86
  // AVX-512: 6 x 4 tiles, 24 accumulators + 4 W + 1 A of the 32 zmm registers.
  if (active_isa() == Isa::Avx512) return tiles<Avx512Tile, 6, 4>(C, ldc, A, lda, W, ldw, M, N, K, accumulate);
  // AVX2: 4 x 3 tiles, 12 accumulators + 3 W + 1 A = the 16 ymm registers.
  if (active_isa() == Isa::Avx2) return tiles<Avx2Tile, 4, 3>(C, ldc, A, lda, W, ldw, M, N, K, accumulate);
#endif
#ifdef RNNKIT_ROWS_GEMM_NEON
  // NEON: 4 x 4 tiles, 16 accumulators + 4 W + 1 A of the 32 q registers.
  return tiles<NeonTile, 4, 4>(C, ldc, A, lda, W, ldw, M, N, K, accumulate);
#endif
  // Portable: 2 x 2 tiles, 32 partial sums, what 16 SSE or NEON registers hold beside the operands.
  tiles<PortableTile, 2, 2>(C, ldc, A, lda, W, ldw, M, N, K, accumulate);
}

// Below this many FLOPs the product runs on the calling thread (as blas.h's gemm).
constexpr double kParallelFlops = 6e6;

}  // namespace rows_detail

// C[M,N] = A[M,K] W[N,K]^T, or C += that when accumulate; leading dimensions
// lda, ldw, ldc. Batch-invariant (see the top of this file). Splits rows over
// rnnkit's pool when large; nested inside a pool task it runs inline.
inline void rows_gemm(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int M, int N, int K,
                      bool accumulate) {
  if (M <= 0 || N <= 0) return;
  const int threads = num_threads();
  const double flops = 2.0 * M * N * K;
  // Large products go in more pieces than threads, claimed as threads come
  // free: a thread slowed by another process then does fewer of them. Pieces
  // of 64+ rows lose nothing (A is blocked by 128 KB anyway).
  const int parts = std::min(4 * threads, std::max(std::min(threads, M / 8), M / 64));
  if (threads <= 1 || parts <= 1 || flops < rows_detail::kParallelFlops) {
    rows_detail::serial(C, ldc, A, lda, W, ldw, M, N, K, accumulate);
    return;
  }
  parallel_for(parts, [&](int p) {
    const Range r = split_range(M, parts, p, 4);
    rows_detail::serial(C + size_t(r.begin) * ldc, ldc, A + size_t(r.begin) * lda, lda, W, ldw, r.end - r.begin, N,
                        K, accumulate);
  });
}

// double (the gradient checks' path): BLAS, with no invariance promised.
inline void rows_gemm(double* C, int ldc, const double* A, int lda, const double* W, int ldw, int M, int N, int K,
                      bool accumulate) {
  gemm(false, true, M, N, K, 1.0, A, lda, W, ldw, accumulate ? 1.0 : 0.0, C, ldc);
}

}  // namespace rnnkit
