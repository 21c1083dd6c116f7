// A small GEMM for the per-step products of the time loops, C[M,N] (+)= A[M,K] op(W),
// with W packed once per call into 16-column panels that stay hot in cache
// across the T steps (OpenBLAS repacks W on every call; at the per-step
// shapes, M = a batch slice of 8-64 rows, that repacking and its per-call
// overhead cost 10-40%). An AVX2+FMA micro-kernel, used on the avx2 and avx512
// paths (cpu_isa.h); packed_gemm_available() is false on the baseline path and
// off x86-64, where callers use OpenBLAS.
// Float only. Header-only so it needs no entry in the build files' source list.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "cpu_isa.h"

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#include <immintrin.h>
#define RNNKIT_PACKED_GEMM_X86 1
#endif

namespace rnnkit {

constexpr int kPanel = 16;    // columns per packed panel
constexpr int kBlockK = 512;  // rows of a panel one pass reads (keeps it in L1/L2)
constexpr int kBlockM = 96;   // rows of A one pass reads (keeps them in L2)

// Floats a packed copy of a K x N operand takes (N rounded up to whole panels).
inline size_t packed_floats(int K, int N) { return size_t((N + kPanel - 1) / kPanel) * kPanel * size_t(K); }

// dst panel p, row k, lane i = op(W)[k][p*16 + i], zero past N.
// transposed: W is [N,K] and op(W) = W^T (forward: h W_hh^T); else W is [K,N] (backward: dgh W_hh).
// ldw: W's leading dimension (0: K when transposed, N otherwise).
inline void pack_operand(float* dst, const float* W, int K, int N, bool transposed, int ldw = 0) {
  if (ldw == 0) ldw = transposed ? K : N;
  const int panels = (N + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    float* panel = dst + size_t(p) * K * kPanel;
    const int n0 = p * kPanel, width = std::min(kPanel, N - n0);
    if (transposed) {
      for (int i = 0; i < kPanel; ++i) {
        if (i < width) {
          const float* row = W + size_t(n0 + i) * ldw;
          for (int k = 0; k < K; ++k) panel[size_t(k) * kPanel + i] = row[k];
        } else {
          for (int k = 0; k < K; ++k) panel[size_t(k) * kPanel + i] = 0.0f;
        }
      }
    } else {
      for (int k = 0; k < K; ++k) {
        const float* row = W + size_t(k) * ldw + n0;
        float* out = panel + size_t(k) * kPanel;
        for (int i = 0; i < width; ++i) out[i] = row[i];
        for (int i = width; i < kPanel; ++i) out[i] = 0.0f;
      }
    }
  }
}

#ifdef RNNKIT_PACKED_GEMM_X86
namespace packed_detail {

// Rows [0, MR) x one 16-column panel, AVX2 + FMA: 2 ymm accumulators per row.
// A(m, k) is A[m*lda + k], or A[k*lda + m] when trans_a. P: the panel's rows k = 0..K-1.
template <int MR, bool accumulate, bool trans_a>
__attribute__((target("avx2,fma"))) inline void tile_avx2(float* C, int ldc, const float* A, int lda,
                                                           const float* P, int K, int width) {
  __m256 acc[MR][2];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(P + size_t(k) * kPanel), b1 = _mm256_loadu_ps(P + size_t(k) * kPanel + 8);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m256 a = _mm256_broadcast_ss(trans_a ? A + size_t(k) * lda + m : A + size_t(m) * lda + k);
      acc[m][0] = _mm256_fmadd_ps(a, b0, acc[m][0]);
      acc[m][1] = _mm256_fmadd_ps(a, b1, acc[m][1]);
    }
  }
  if (width == kPanel) {
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      float* c = C + size_t(m) * ldc;
      if (accumulate) {
        acc[m][0] = _mm256_add_ps(acc[m][0], _mm256_loadu_ps(c));
        acc[m][1] = _mm256_add_ps(acc[m][1], _mm256_loadu_ps(c + 8));
      }
      _mm256_storeu_ps(c, acc[m][0]);
      _mm256_storeu_ps(c + 8, acc[m][1]);
    }
  } else {
    alignas(32) float tmp[kPanel];
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      float* c = C + size_t(m) * ldc;
      _mm256_store_ps(tmp, acc[m][0]);
      _mm256_store_ps(tmp + 8, acc[m][1]);
      for (int i = 0; i < width; ++i) c[i] = accumulate ? c[i] + tmp[i] : tmp[i];
    }
  }
}

// One block: all panels of N for rows [0, M), K rows of each panel (panels panel_stride floats apart).
template <bool accumulate, bool trans_a>
__attribute__((target("avx2,fma"))) inline void block_avx2(float* C, int ldc, const float* A, int lda, const float* P,
                                                            size_t panel_stride, int M, int N, int K) {
  const int panels = (N + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    const float* panel = P + size_t(p) * panel_stride;
    const int width = std::min(kPanel, N - p * kPanel);
    float* c = C + p * kPanel;
    auto a_at = [&](int row) { return trans_a ? A + row : A + size_t(row) * lda; };
    // Tiles of 6 rows; a remainder of 1-3 rows is evened out with the tile before
    // it (e.g. 32 = 6+6+6+6+4+4, not ...+6+2): a tile under 4 rows cannot keep the
    // FMA units busy.
    for (int m = 0; m < M;) {
      const int rem = M - m, take = rem >= 10 || rem == 6 ? 6 : rem >= 7 ? 4 : rem;
      float* c_m = c + size_t(m) * ldc;
      const float* a_m = a_at(m);
      switch (take) {
        case 6: tile_avx2<6, accumulate, trans_a>(c_m, ldc, a_m, lda, panel, K, width); break;
        case 5: tile_avx2<5, accumulate, trans_a>(c_m, ldc, a_m, lda, panel, K, width); break;
        case 4: tile_avx2<4, accumulate, trans_a>(c_m, ldc, a_m, lda, panel, K, width); break;
        case 3: tile_avx2<3, accumulate, trans_a>(c_m, ldc, a_m, lda, panel, K, width); break;
        case 2: tile_avx2<2, accumulate, trans_a>(c_m, ldc, a_m, lda, panel, K, width); break;
        default: tile_avx2<1, accumulate, trans_a>(c_m, ldc, a_m, lda, panel, K, width); break;
      }
      m += take;
    }
  }
}

template <bool trans_a>
__attribute__((target("avx2,fma"))) inline void gemm_avx2(float* C, int ldc, const float* A, int lda, const float* P,
                                                           int M, int N, int K, bool accumulate) {
  const size_t panel_stride = size_t(K) * kPanel;
  for (int k0 = 0; k0 < K; k0 += kBlockK) {
    const int kc = std::min(kBlockK, K - k0);
    const bool acc = accumulate || k0 > 0;
    for (int m0 = 0; m0 < M; m0 += kBlockM) {
      const int mc = std::min(kBlockM, M - m0);
      const float* a = trans_a ? A + size_t(k0) * lda + m0 : A + size_t(m0) * lda + k0;
      float* c = C + size_t(m0) * ldc;
      if (acc) block_avx2<true, trans_a>(c, ldc, a, lda, P + size_t(k0) * kPanel, panel_stride, mc, N, kc);
      else block_avx2<false, trans_a>(c, ldc, a, lda, P + size_t(k0) * kPanel, panel_stride, mc, N, kc);
    }
  }
}

}  // namespace packed_detail
#endif

inline bool packed_gemm_available() {
#ifdef RNNKIT_PACKED_GEMM_X86
  return active_isa() != Isa::Baseline;  // AVX2 + FMA, also under AVX-512
#else
  return false;
#endif
}

// C[M,N] = op(A) op(W) (or += when accumulate), op(A)[M,K]: A[M,K] with leading
// dimension lda, or A[K,M] read transposed when trans_a; op(W) [K,N] packed by
// pack_operand. One thread. Only call when packed_gemm_available().
inline void packed_gemm(float* C, int ldc, const float* A, int lda, const float* packed, int M, int N, int K,
                        bool accumulate, bool trans_a = false) {
#ifdef RNNKIT_PACKED_GEMM_X86
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) for (int m = 0; m < M; ++m) std::fill(C + size_t(m) * ldc, C + size_t(m) * ldc + N, 0.0f);
    return;
  }
  if (trans_a) packed_detail::gemm_avx2<true>(C, ldc, A, lda, packed, M, N, K, accumulate);
  else packed_detail::gemm_avx2<false>(C, ldc, A, lda, packed, M, N, K, accumulate);
#else
  (void)C; (void)ldc; (void)A; (void)lda; (void)packed; (void)M; (void)N; (void)K; (void)accumulate; (void)trans_a;
#endif
}

}  // namespace rnnkit
