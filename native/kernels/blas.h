// Row-major GEMM and thread-count wrappers over cblas, overloaded for float
// (the library's path) and double (the gradient checks' path). No Node headers.
#pragma once
#include <cblas.h>

namespace rnnkit {

// C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
inline void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
}

inline void gemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double* A, int lda,
                 const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
}

// OpenBLAS keeps its own thread pool; callers set its size explicitly so it
// does not fight libuv's worker threads.
inline void blas_set_num_threads(int n) { openblas_set_num_threads(n); }
inline int blas_get_num_threads() { return openblas_get_num_threads(); }

}  // namespace rnnkit
