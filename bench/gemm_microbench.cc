// Per-step GEMM shapes of the recurrent time loops on one thread: OpenBLAS
// sgemm (which packs W on every call) against rnnkit's packed micro-kernel
// (W packed once per call of a layer, native/kernels/packed_gemm.h).
// Not part of `npm run bench` (it needs a compiler); build and run with
//   g++ -O3 -std=c++17 -I/usr/include/x86_64-linux-gnu/openblas-pthread \
//       bench/gemm_microbench.cc -o /tmp/gemm_microbench -lopenblas && /tmp/gemm_microbench
// Times are process CPU time (std::clock), so other load on a shared machine
// does not inflate them; GFLOP/s is the best of 5 repetitions.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>

#include "../native/kernels/packed_gemm.h"

using namespace rnnkit;

static double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

int main() {
  openblas_set_num_threads(1);
  if (!packed_gemm_available()) {
    std::printf("this CPU has no AVX2+FMA: rnnkit uses OpenBLAS for these shapes\n");
    return 0;
  }
  // C[M,N] = A[M,K] W^T, W [N,K]: batch slice x hidden x gates*hidden (forward),
  // and the backward product C[M,H] = dG[M,GH] W_hh (K = GH).
  const int shapes[][3] = {{64, 256, 768},  {32, 256, 768},  {64, 256, 1024}, {32, 256, 1024}, {64, 512, 1536},
                           {32, 512, 1536}, {32, 512, 2048}, {32, 64, 192},   {16, 64, 256},   {16, 128, 384},
                           {8, 128, 384},   {8, 128, 512},   {32, 768, 256},  {32, 2048, 512}, {4, 256, 768}};
  {  // warm up: clocks ramp, caches and OpenBLAS buffers settle
    std::vector<float> a(512 * 512, 0.5f), b(512 * 512, 0.25f), c(512 * 512);
    const double until = cpu_seconds() + 0.5;
    while (cpu_seconds() < until)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 512, 512, 512, 1, a.data(), 512, b.data(), 512, 0, c.data(), 512);
  }
  std::printf("  M     K     N   OpenBLAS GF/s   packed GF/s\n");
  for (const auto& s : shapes) {
    const int M = s[0], K = s[1], N = s[2];
    std::vector<float> A(size_t(M) * K), W(size_t(N) * K), C(size_t(M) * N), P(packed_floats(K, N));
    for (size_t i = 0; i < A.size(); ++i) A[i] = std::sin(0.1f * i);
    for (size_t i = 0; i < W.size(); ++i) W[i] = std::cos(0.07f * i);
    pack_operand(P.data(), W.data(), K, N, true);
    const double flops = 2.0 * M * N * K;
    const int reps = std::max(10, int(3e8 / flops));
    double blas = 1e9, packed = 1e9;
    for (int r = 0; r < 5; ++r) {
      double t = cpu_seconds();
      for (int i = 0; i < reps; ++i)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A.data(), K, W.data(), K, 0, C.data(), N);
      blas = std::min(blas, (cpu_seconds() - t) / reps);
      t = cpu_seconds();
      for (int i = 0; i < reps; ++i) packed_gemm(C.data(), N, A.data(), K, P.data(), M, N, K, false);
      packed = std::min(packed, (cpu_seconds() - t) / reps);
    }
    std::printf("%3d %5d %5d   %13.1f   %11.1f\n", M, K, N, flops / blas / 1e9, flops / packed / 1e9);
  }
  return 0;
}
