// The forward products of every layer, C[M,N] (+)= A[M,K] W[N,K]^T (x W_ih^T,
// h W_hh^T, x W^T of Linear, the attention decoder's projections), computed so
// that each output element's bits depend only on its own row of A, W and K:
// never on M, on the other rows, on how rows are split over threads or tiles,
// on whether W was packed, or on the call's shape otherwise. That is what makes
// a sequence's result the same alone, in any batch and at any thread count
// (batch-invariant inference: greedy decoding equals beam search of width 1, a
// server's answers do not change with load). OpenBLAS gives no such promise:
// its kernels pick other code paths (and summation orders) by M.
//
// The order: one running sum per element, k = 0, 1, ..., K-1 in turn,
//   c = accumulate ? C[m][n] : 0;  for k: c = fma(A[m][k], W[n][k], c);  C[m][n] = c
// (the sum starts from C's old value when accumulating; the float a K-blocked
// kernel stores in C between two blocks of k and loads again is that same c).
// Per path (cpu_isa.h): AVX2+FMA rounds once per step (fma); the portable C++
// path rounds twice on x86-64 baseline (c + a*w, -ffp-contract=off) and once on
// arm64 (std::fma, an instruction there). The AVX-512 path runs the AVX2 kernels
// (a 512-bit variant measured 0-5% faster at these shapes, bench/RESULTS.md);
// paths agree within rounding, not bit for bit.
//
// Kernels, all of that order, chosen by shape alone:
//   - broadcast-A tiles over W packed in 16-column panels (k-major, packed_gemm.h's
//     layout): 6 x 16 (12 ymm accumulators) down to 4 rows, and 3/2/1-row tiles
//     over 2/2/4 panels so that small M still has 8+ independent chains;
//   - W packed by the caller once per native call (rows_gemm_pack, into its
//     workspace: the per-step products of the time loops), or packed here in
//     blocks of columns on the stack (large M: one pass over W per call);
//   - few rows on W as it is ([N,K]): 8 x 8 blocks of W transposed in registers,
//     then the same broadcast FMAs (a one-row streaming step reads W once).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "blas.h"
#include "cpu_isa.h"
#include "packed_gemm.h"
#include "parallel.h"

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#include <immintrin.h>
#define RNNKIT_ROWS_GEMM_X86 1
#endif

namespace rnnkit {
namespace rows_detail {

constexpr int kKBlock = 256;              // rows of a panel one pass over a row block reads (16 KB: L1)
constexpr int kMBlock = 96;               // rows of A one pass reads (96 KB at K = 256: L2)
constexpr int kScratchFloats = 16 * 1024; // on-the-fly packing: a block of W's columns, 64 KB on the stack
// Below this many rows W is read as it is (transposed in registers) rather than packed here.
constexpr int kPackRows = 8;

// ---------------------------------------------------------------- packing

// Columns [n0, n0 + nc) and k in [k0, k0 + kc) of op(W) = W^T, W [N,K] (ldw), into
// panels of 16 columns: panel p, row k, lane i at dst[p * pstride + k * 16 + i] =
// W[n0 + 16p + i][k0 + k], zero past N.
inline void pack_block_portable(float* dst, size_t pstride, const float* W, int ldw, int N, int n0, int nc, int k0,
                                int kc) {
  const int panels = (nc + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    float* panel = dst + size_t(p) * pstride;
    for (int i = 0; i < kPanel; ++i) {
      const int n = n0 + p * kPanel + i;
      if (n < N && n < n0 + nc) {
        const float* row = W + size_t(n) * ldw + k0;
        for (int k = 0; k < kc; ++k) panel[size_t(k) * kPanel + i] = row[k];
      } else {
        for (int k = 0; k < kc; ++k) panel[size_t(k) * kPanel + i] = 0.0f;
      }
    }
  }
}

#ifdef RNNKIT_ROWS_GEMM_X86
// t[i] = (rows[0][k + i], ..., rows[7][k + i]), i < 8: an 8 x 8 block of W read by rows and
// transposed. Halves come in by 128-bit broadcast loads and blends (load ports and any FP pipe),
// so only the 4 x 4 in-lane transposes use the two shuffle pipes: 16 shuffles per block, not 24.
__attribute__((target("avx2,fma"))) inline void load_transposed8_avx2(__m256* t, const float* const* rows, int k) {
  __m256 a[4], b[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    a[i] = _mm256_blend_ps(_mm256_broadcast_ps(reinterpret_cast<const __m128*>(rows[i] + k)),
                           _mm256_broadcast_ps(reinterpret_cast<const __m128*>(rows[i + 4] + k)), 0xF0);
    b[i] = _mm256_blend_ps(_mm256_broadcast_ps(reinterpret_cast<const __m128*>(rows[i] + k + 4)),
                           _mm256_broadcast_ps(reinterpret_cast<const __m128*>(rows[i + 4] + k + 4)), 0xF0);
  }
  const __m256 x0 = _mm256_unpacklo_ps(a[0], a[1]), x1 = _mm256_unpackhi_ps(a[0], a[1]);
  const __m256 x2 = _mm256_unpacklo_ps(a[2], a[3]), x3 = _mm256_unpackhi_ps(a[2], a[3]);
  t[0] = _mm256_shuffle_ps(x0, x2, 0x44);
  t[1] = _mm256_shuffle_ps(x0, x2, 0xEE);
  t[2] = _mm256_shuffle_ps(x1, x3, 0x44);
  t[3] = _mm256_shuffle_ps(x1, x3, 0xEE);
  const __m256 y0 = _mm256_unpacklo_ps(b[0], b[1]), y1 = _mm256_unpackhi_ps(b[0], b[1]);
  const __m256 y2 = _mm256_unpacklo_ps(b[2], b[3]), y3 = _mm256_unpackhi_ps(b[2], b[3]);
  t[4] = _mm256_shuffle_ps(y0, y2, 0x44);
  t[5] = _mm256_shuffle_ps(y0, y2, 0xEE);
  t[6] = _mm256_shuffle_ps(y1, y3, 0x44);
  t[7] = _mm256_shuffle_ps(y1, y3, 0xEE);
}

// pack_block_portable with 8 x 8 register transposes (the same floats, faster).
__attribute__((target("avx2,fma"))) inline void pack_block_avx2(float* dst, size_t pstride, const float* W, int ldw,
                                                                 int N, int n0, int nc, int k0, int kc) {
  const int n_end = std::min(N, n0 + nc), panels = (nc + kPanel - 1) / kPanel, k8 = kc - kc % 8;
  for (int p = 0; p < panels; ++p) {
    float* panel = dst + size_t(p) * pstride;
    for (int half = 0; half < 2; ++half) {
      const int nb = n0 + p * kPanel + 8 * half;
      float* out = panel + 8 * half;
      if (nb + 8 <= n_end) {
        const float* rows[8];
        for (int j = 0; j < 8; ++j) rows[j] = W + size_t(nb + j) * ldw + k0;
        for (int k = 0; k < k8; k += 8) {
          __m256 r[8];
          load_transposed8_avx2(r, rows, k);
#pragma GCC unroll 8
          for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + size_t(k + i) * kPanel, r[i]);
        }
        for (int k = k8; k < kc; ++k)
          for (int j = 0; j < 8; ++j) out[size_t(k) * kPanel + j] = rows[j][k];
      } else {
        for (int k = 0; k < kc; ++k)
          for (int j = 0; j < 8; ++j) out[size_t(k) * kPanel + j] = nb + j < n_end ? W[size_t(nb + j) * ldw + k0 + k] : 0.0f;
      }
    }
  }
}
#endif

inline void pack_block(float* dst, size_t pstride, const float* W, int ldw, int N, int n0, int nc, int k0, int kc) {
#ifdef RNNKIT_ROWS_GEMM_X86
  if (active_isa() != Isa::Baseline) return pack_block_avx2(dst, pstride, W, ldw, N, n0, nc, k0, kc);
#endif
  pack_block_portable(dst, pstride, W, ldw, N, n0, nc, k0, kc);
}

// ---------------------------------------------------------------- portable kernels

// One step of the order: fused on arm64 (an instruction), two roundings elsewhere.
inline float madd(float a, float w, float c) {
#if defined(__aarch64__)
  return std::fma(a, w, c);
#else
  return c + a * w;
#endif
}

// Rows [0, MR) x one panel (width columns valid), k in [0, kc).
template <int MR>
inline void panel_tile_portable(float* C, int ldc, const float* A, int lda, const float* P, int kc, int width,
                                bool load_c) {
  float acc[MR][kPanel];
  for (int m = 0; m < MR; ++m)
    for (int i = 0; i < kPanel; ++i) acc[m][i] = load_c && i < width ? C[size_t(m) * ldc + i] : 0.0f;
  for (int k = 0; k < kc; ++k) {
    const float* w = P + size_t(k) * kPanel;
    for (int m = 0; m < MR; ++m) {
      const float a = A[size_t(m) * lda + k];
      for (int i = 0; i < kPanel; ++i) acc[m][i] = madd(a, w[i], acc[m][i]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int i = 0; i < width; ++i) C[size_t(m) * ldc + i] = acc[m][i];
}

inline void panels_portable(float* C, int ldc, const float* A, int lda, const float* P, size_t pstride, int M, int N,
                            int kc, bool load_c) {
  const int panels = (N + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    const int width = std::min(kPanel, N - p * kPanel);
    for (int m = 0; m < M; m += 2) {
      float* c = C + size_t(m) * ldc + p * kPanel;
      if (M - m >= 2) panel_tile_portable<2>(c, ldc, A + size_t(m) * lda, lda, P + size_t(p) * pstride, kc, width, load_c);
      else panel_tile_portable<1>(c, ldc, A + size_t(m) * lda, lda, P + size_t(p) * pstride, kc, width, load_c);
    }
  }
}

// Few rows on W [N,K] as it is: 8 columns at a time, 8 running sums side by side.
inline void unpacked_portable(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int M, int N, int K,
                              bool accumulate) {
  for (int m = 0; m < M; ++m) {
    const float* a = A + size_t(m) * lda;
    float* c = C + size_t(m) * ldc;
    for (int n0 = 0; n0 < N; n0 += 8) {
      const int width = std::min(8, N - n0);
      float acc[8];
      const float* w[8];
      for (int j = 0; j < 8; ++j) {
        acc[j] = accumulate && j < width ? c[n0 + j] : 0.0f;
        w[j] = W + size_t(n0 + std::min(j, width - 1)) * ldw;
      }
      for (int k = 0; k < K; ++k)
        for (int j = 0; j < 8; ++j) acc[j] = madd(a[k], w[j][k], acc[j]);
      for (int j = 0; j < width; ++j) c[n0 + j] = acc[j];
    }
  }
}

// ---------------------------------------------------------------- AVX2 kernels

#ifdef RNNKIT_ROWS_GEMM_X86
// Lane masks for the first `count` of 8 floats (count in [0, 8]).
__attribute__((target("avx2,fma"))) inline __m256i lane_mask(int count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes);
}

// Rows [0, MR) x NP panels (the last has `width` valid columns, the others 16), k in
// [0, kc): accumulators start from C (load_c) or zero; one fma per k, in order.
template <int MR, int NP>
__attribute__((target("avx2,fma"))) inline void panel_tile_avx2(float* C, int ldc, const float* A, int lda,
                                                                 const float* P, size_t pstride, int kc, int width,
                                                                 bool load_c) {
  __m256 acc[MR][2 * NP];
  const __m256i lo = lane_mask(std::min(8, width)), hi = lane_mask(std::max(0, width - 8));
  const bool full = width == kPanel;
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
    for (int v = 0; v < 2 * NP; ++v) {
      const float* c = C + size_t(m) * ldc + 8 * v;
      const bool last = v >= 2 * NP - 2;
      if (!load_c) acc[m][v] = _mm256_setzero_ps();
      else if (!last || full) acc[m][v] = _mm256_loadu_ps(c);
      else acc[m][v] = _mm256_maskload_ps(c, v % 2 ? hi : lo);
    }
  for (int k = 0; k < kc; ++k) {
    __m256 w[2 * NP];
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      w[2 * p] = _mm256_loadu_ps(P + size_t(p) * pstride + size_t(k) * kPanel);
      w[2 * p + 1] = _mm256_loadu_ps(P + size_t(p) * pstride + size_t(k) * kPanel + 8);
    }
#pragma GCC unroll 6
    for (int m = 0; m < MR; ++m) {
      const __m256 a = _mm256_broadcast_ss(A + size_t(m) * lda + k);
#pragma GCC unroll 8
      for (int v = 0; v < 2 * NP; ++v) acc[m][v] = _mm256_fmadd_ps(a, w[v], acc[m][v]);
    }
  }
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
    for (int v = 0; v < 2 * NP; ++v) {
      float* c = C + size_t(m) * ldc + 8 * v;
      const bool last = v >= 2 * NP - 2;
      if (!last || full) _mm256_storeu_ps(c, acc[m][v]);
      else _mm256_maskstore_ps(c, v % 2 ? hi : lo, acc[m][v]);
    }
}

// All rows [0, M) x columns [0, N) over panels (panel p at P + p * pstride), k in [0, kc).
// Row tiles of 6 (a remainder evened out: 32 = 6+6+6+6+4+4) over one panel at a
// time; fewer than 4 rows take 2 or 4 panels per tile instead.
__attribute__((target("avx2,fma"))) inline void panels_avx2(float* C, int ldc, const float* A, int lda,
                                                             const float* P, size_t pstride, int M, int N, int kc,
                                                             bool load_c) {
  const int panels = (N + kPanel - 1) / kPanel;
  auto width_of = [&](int p_last) { return std::min(kPanel, N - p_last * kPanel); };
  if (M < 4) {
    const int np = M == 1 ? 4 : 2;
    for (int p = 0; p < panels; p += np) {
      const int group = std::min(np, panels - p), width = width_of(p + group - 1);
      float* c = C + p * kPanel;
      const float* panel = P + size_t(p) * pstride;
      if (M == 1) {
        if (group == 4) panel_tile_avx2<1, 4>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
        else if (group == 3) panel_tile_avx2<1, 3>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
        else if (group == 2) panel_tile_avx2<1, 2>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
        else panel_tile_avx2<1, 1>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
      } else if (M == 2) {
        if (group == 2) panel_tile_avx2<2, 2>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
        else panel_tile_avx2<2, 1>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
      } else {
        if (group == 2) panel_tile_avx2<3, 2>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
        else panel_tile_avx2<3, 1>(c, ldc, A, lda, panel, pstride, kc, width, load_c);
      }
    }
    return;
  }
  for (int m0 = 0; m0 < M; m0 += kMBlock) {
    const int mc = std::min(kMBlock, M - m0);
    for (int p = 0; p < panels; ++p) {
      const int width = width_of(p);
      const float* panel = P + size_t(p) * pstride;
      for (int m = m0; m < m0 + mc;) {
        const int rem = m0 + mc - m, take = rem >= 10 || rem == 6 ? 6 : rem >= 7 ? 4 : rem;
        float* c = C + size_t(m) * ldc + p * kPanel;
        const float* a = A + size_t(m) * lda;
        switch (take) {
          case 6: panel_tile_avx2<6, 1>(c, ldc, a, lda, panel, pstride, kc, width, load_c); break;
          case 5: panel_tile_avx2<5, 1>(c, ldc, a, lda, panel, pstride, kc, width, load_c); break;
          case 4: panel_tile_avx2<4, 1>(c, ldc, a, lda, panel, pstride, kc, width, load_c); break;
          case 3: panel_tile_avx2<3, 1>(c, ldc, a, lda, panel, pstride, kc, width, load_c); break;
          case 2: panel_tile_avx2<2, 1>(c, ldc, a, lda, panel, pstride, kc, width, load_c); break;
          default: panel_tile_avx2<1, 1>(c, ldc, a, lda, panel, pstride, kc, width, load_c); break;
        }
        m += take;
      }
    }
  }
}

// t[i] = (w[off[0] + i], ..., w[off[7] + i]), i < 4: a 4 x 8 block of W read by rows and
// transposed, its halves by 128-bit broadcast loads and blends (load ports and any FP pipe),
// then one 4 x 4 in-lane transpose (8 shuffles).
__attribute__((target("avx2,fma"))) inline void load_transposed4_avx2(__m256* t, const float* w, const size_t* off) {
  __m256 a[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
    a[i] = _mm256_blend_ps(_mm256_broadcast_ps(reinterpret_cast<const __m128*>(w + off[i])),
                           _mm256_broadcast_ps(reinterpret_cast<const __m128*>(w + off[i + 4])), 0xF0);
  const __m256 x0 = _mm256_unpacklo_ps(a[0], a[1]), x1 = _mm256_unpackhi_ps(a[0], a[1]);
  const __m256 x2 = _mm256_unpacklo_ps(a[2], a[3]), x3 = _mm256_unpackhi_ps(a[2], a[3]);
  t[0] = _mm256_shuffle_ps(x0, x2, 0x44);
  t[1] = _mm256_shuffle_ps(x0, x2, 0xEE);
  t[2] = _mm256_shuffle_ps(x1, x3, 0x44);
  t[3] = _mm256_shuffle_ps(x1, x3, 0xEE);
}

// Rows [0, MR) x 8 * G columns of C on W [N,K] as it is (rows of W past N repeat the
// last one; their sums are not stored): each 4 x 8 block of W is transposed in
// registers and fed to the same broadcast FMAs as the packed tiles, k in order.
// MR * G >= 8 accumulators hide the FMA latency.
template <int MR, int G>
__attribute__((target("avx2,fma"))) inline void unpacked_tile_avx2(float* C, int ldc, const float* A, int lda,
                                                                    const float* W, int ldw, int width, int K,
                                                                    bool accumulate) {
  __m256 acc[MR][G];
  // Row j of group g at W + off[8g + j]: one base pointer and a table, not 8G live pointers.
  size_t off[8 * G];
  for (int j = 0; j < 8 * G; ++j) off[j] = size_t(std::min(j, width - 1)) * ldw;
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const int valid = std::min(8, width - 8 * g);
      const float* c = C + size_t(m) * ldc + 8 * g;
      if (!accumulate || valid <= 0) acc[m][g] = _mm256_setzero_ps();
      else if (valid == 8) acc[m][g] = _mm256_loadu_ps(c);
      else acc[m][g] = _mm256_maskload_ps(c, lane_mask(valid));
    }
  const int K4 = K - K % 4;
  for (int k = 0; k < K4; k += 4) {
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      __m256 t[4];
      load_transposed4_avx2(t, W + k, off + 8 * g);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
        for (int m = 0; m < MR; ++m)
          acc[m][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + size_t(m) * lda + k + i), t[i], acc[m][g]);
    }
  }
  for (int k = K4; k < K; ++k) {
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const float* w = W + k;
      const size_t* o = off + 8 * g;
      const __m256 t = _mm256_setr_ps(w[o[0]], w[o[1]], w[o[2]], w[o[3]], w[o[4]], w[o[5]], w[o[6]], w[o[7]]);
#pragma GCC unroll 4
      for (int m = 0; m < MR; ++m)
        acc[m][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + size_t(m) * lda + k), t, acc[m][g]);
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const int valid = std::min(8, width - 8 * g);
      float* c = C + size_t(m) * ldc + 8 * g;
      if (valid == 8) _mm256_storeu_ps(c, acc[m][g]);
      else if (valid > 0) _mm256_maskstore_ps(c, lane_mask(valid), acc[m][g]);
    }
}

// Tiles of MR rows x 8 * G columns: 4 x 2, 3 x 3, 2 x 4 (8-9 chains); one row 1 x 2 (more groups
// spill the row offsets; measured 17 us against 26 for 1 x 4 at N=768, K=256).
template <int MR, int G>
__attribute__((target("avx2,fma"))) inline void unpacked_rows_avx2(float* C, int ldc, const float* A, int lda,
                                                                    const float* W, int ldw, int N, int K,
                                                                    bool accumulate) {
  for (int n = 0; n < N; n += 8 * G)
    unpacked_tile_avx2<MR, G>(C + n, ldc, A, lda, W + size_t(n) * ldw, ldw, std::min(8 * G, N - n), K, accumulate);
}

__attribute__((target("avx2,fma"))) inline void unpacked_avx2(float* C, int ldc, const float* A, int lda,
                                                               const float* W, int ldw, int M, int N, int K,
                                                               bool accumulate) {
  for (int m = 0; m < M;) {
    const int rem = M - m, take = rem >= 4 ? (rem == 5 ? 3 : 4) : rem;
    float* c = C + size_t(m) * ldc;
    const float* a = A + size_t(m) * lda;
    switch (take) {
      case 4: unpacked_rows_avx2<4, 2>(c, ldc, a, lda, W, ldw, N, K, accumulate); break;
      case 3: unpacked_rows_avx2<3, 3>(c, ldc, a, lda, W, ldw, N, K, accumulate); break;
      case 2: unpacked_rows_avx2<2, 4>(c, ldc, a, lda, W, ldw, N, K, accumulate); break;
      default: unpacked_rows_avx2<1, 2>(c, ldc, a, lda, W, ldw, N, K, accumulate); break;
    }
    m += take;
  }
}
#endif

// ---------------------------------------------------------------- drivers (one thread)

inline bool use_avx2() {
#ifdef RNNKIT_ROWS_GEMM_X86
  return active_isa() != Isa::Baseline;  // AVX2 + FMA, also under AVX-512 (see the top of this file)
#else
  return false;
#endif
}

inline void panels(float* C, int ldc, const float* A, int lda, const float* P, size_t pstride, int M, int N, int kc,
                   bool load_c) {
#ifdef RNNKIT_ROWS_GEMM_X86
  if (use_avx2()) return panels_avx2(C, ldc, A, lda, P, pstride, M, N, kc, load_c);
#endif
  panels_portable(C, ldc, A, lda, P, pstride, M, N, kc, load_c);
}

// On W packed whole by rows_gemm_pack (panel stride K * 16), k in blocks.
inline void serial_packed(float* C, int ldc, const float* A, int lda, const float* P, int M, int N, int K,
                          bool accumulate) {
  const size_t pstride = size_t(K) * kPanel;
  for (int k0 = 0; k0 < K; k0 += kKBlock) {
    const int kc = std::min(kKBlock, K - k0);
    panels(C, ldc, A + k0, lda, P + size_t(k0) * kPanel, pstride, M, N, kc, accumulate || k0 > 0);
  }
}

// On W as it is: few rows read it directly; more rows pack blocks of its columns on the stack.
inline void serial(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int M, int N, int K,
                   bool accumulate) {
  if (M < kPackRows) {
#ifdef RNNKIT_ROWS_GEMM_X86
    if (use_avx2()) return unpacked_avx2(C, ldc, A, lda, W, ldw, M, N, K, accumulate);
#endif
    return unpacked_portable(C, ldc, A, lda, W, ldw, M, N, K, accumulate);
  }
  alignas(64) float scratch[kScratchFloats];
  const int kc_max = std::min(K, kKBlock);
  const int nc_max = std::max(kPanel, kScratchFloats / kc_max / kPanel * kPanel);
  for (int n0 = 0; n0 < N; n0 += nc_max) {
    const int nc = std::min(nc_max, N - n0);
    for (int k0 = 0; k0 < K; k0 += kc_max) {
      const int kc = std::min(kc_max, K - k0);
      pack_block(scratch, size_t(kc) * kPanel, W, ldw, N, n0, nc, k0, kc);
      panels(C + n0, ldc, A + k0, lda, scratch, size_t(kc) * kPanel, M, nc, kc, accumulate || k0 > 0);
    }
  }
}

// Below this many FLOPs the product runs on the calling thread (as blas.h's gemm).
constexpr double kParallelFlops = 6e6;

}  // namespace rows_detail

// Floats of W [N,K] packed for the forward products (rows_gemm_pack).
inline size_t rows_gemm_packed_floats(int N, int K) { return packed_floats(K, N); }

// dst = W [N,K] (leading dimension ldw) packed for rows_gemm's `packed` argument.
inline void rows_gemm_pack(float* dst, const float* W, int ldw, int N, int K) {
  if (N > 0 && K > 0) rows_detail::pack_block(dst, size_t(K) * kPanel, W, ldw, N, 0, N, 0, K);
}
// (double has no packed path: the gradient checks' BLAS below.)
inline void rows_gemm_pack(double*, const double*, int, int, int) {}

// C[M,N] = A[M,K] W[N,K]^T, or C += that when accumulate; leading dimensions
// lda, ldw, ldc. packed: W packed by rows_gemm_pack, or null (then W is read as
// it is, or packed here in blocks); the bits are the same either way.
// Batch-invariant (see the top of this file). Splits rows over rnnkit's pool
// when large; nested inside a pool task it runs inline.
inline void rows_gemm(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int M, int N, int K,
                      bool accumulate, const float* packed = nullptr) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int m = 0; m < M; ++m) std::fill(C + size_t(m) * ldc, C + size_t(m) * ldc + N, 0.0f);
    return;
  }
  auto run = [&](int m0, int rows) {
    float* c = C + size_t(m0) * ldc;
    const float* a = A + size_t(m0) * lda;
    if (packed) rows_detail::serial_packed(c, ldc, a, lda, packed, rows, N, K, accumulate);
    else rows_detail::serial(c, ldc, a, lda, W, ldw, rows, N, K, accumulate);
  };
  const int threads = num_threads();
  const double flops = 2.0 * M * N * K;
  // Large products go in more pieces than threads, claimed as threads come
  // free: a thread slowed by another process then does fewer of them. Pieces
  // of 64+ rows lose nothing (A is blocked by rows anyway).
  const int parts = std::min(4 * threads, std::max(std::min(threads, M / 8), M / 64));
  if (threads <= 1 || parts <= 1 || flops < rows_detail::kParallelFlops) {
    run(0, M);
    return;
  }
  parallel_for(parts, [&](int p) {
    const Range r = split_range(M, parts, p, 4);
    if (r.end > r.begin) run(r.begin, r.end - r.begin);
  });
}

// double (the gradient checks' path): BLAS, with no invariance promised.
inline void rows_gemm(double* C, int ldc, const double* A, int lda, const double* W, int ldw, int M, int N, int K,
                      bool accumulate, const double* packed = nullptr) {
  (void)packed;
  gemm(false, true, M, N, K, 1.0, A, lda, W, ldw, accumulate ? 1.0 : 0.0, C, ldc);
}

}  // namespace rnnkit
