// Row-major GEMM and thread-count wrappers over cblas, overloaded for float
// (the library's path) and double (the gradient checks' path). No Node headers.
//
// Thread policy: OpenBLAS itself always runs single-threaded (set explicitly
// before the first call), so its pool never competes with libuv's or ours and
// no OpenBLAS thread spins after a call. Parallelism comes from rnnkit's pool
// (parallel.h): a GEMM big enough to pay for waking a worker is split into
// row (or column) blocks, one single-threaded OpenBLAS call each; inside a
// parallel task (e.g. one batch half of a time loop) GEMMs run inline.
#pragma once
#include <cblas.h>

#include <mutex>

#include "parallel.h"

namespace rnnkit {

namespace detail {
inline void openblas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Below this many FLOPs a GEMM runs on one thread: waking a worker costs more
// than it saves (measured: ~10-30 us per wake on the 2-core bench machine).
constexpr double kParallelGemmFlops = 6e6;
}  // namespace detail

// C[M,N] = alpha * op(A) * op(B) + beta * C on one thread, row-major with leading dimensions.
inline void gemm_serial(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                        const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  detail::openblas_single_threaded();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
}

inline void gemm_serial(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double* A, int lda,
                        const double* B, int ldb, double beta, double* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  detail::openblas_single_threaded();
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
}

// C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
// Split over the pool when large; each output element is computed by one call
// over the full K, so results do not depend on how many threads ran it.
template <typename Real>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, Real alpha, const Real* A, int lda, const Real* B, int ldb,
          Real beta, Real* C, int ldc) {
  const int threads = num_threads();
  const double flops = 2.0 * M * N * K;
  if (threads <= 1 || flops < detail::kParallelGemmFlops || (M < 32 && N < 32)) {
    gemm_serial(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool by_rows = M >= N || M >= 32 * threads;
  const int parts = std::max(1, std::min(threads, (by_rows ? M : N) / 32));
  parallel_for(parts, [&](int p) {
    if (by_rows) {
      const Range r = split_range(M, parts, p, 16);
      const Real* a = trans_a ? A + r.begin : A + size_t(r.begin) * lda;
      gemm_serial(trans_a, trans_b, r.end - r.begin, N, K, alpha, a, lda, B, ldb, beta, C + size_t(r.begin) * ldc, ldc);
    } else {
      const Range r = split_range(N, parts, p, 16);
      const Real* b = trans_b ? B + size_t(r.begin) * ldb : B + r.begin;
      gemm_serial(trans_a, trans_b, M, r.end - r.begin, K, alpha, A, lda, b, ldb, beta, C + r.begin, ldc);
    }
  });
}

// Threads a native call may use (rnnkit's pool, the caller included). OpenBLAS
// stays at one thread; set explicitly here so it never fights libuv's pool.
inline void blas_set_num_threads(int n) {
  thread_setting().store(n < 1 ? 1 : n > 64 ? 64 : n, std::memory_order_relaxed);
  detail::openblas_single_threaded();
  openblas_set_num_threads(1);
}
inline int blas_get_num_threads() { return num_threads(); }

}  // namespace rnnkit
