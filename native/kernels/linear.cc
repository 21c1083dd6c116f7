// nn.Linear forward and backward as single GEMMs over all N rows.
#include "linear.h"

#include <algorithm>
#include <cstddef>

#include "blas.h"
#include "rows_gemm.h"

namespace rnnkit {

template <typename Real>
void linear_forward(Real* y, const Real* x, const Real* w, const Real* b, int N, int I, int O) {
  if (b) {
    for (int n = 0; n < N; ++n) std::copy(b, b + O, y + size_t(n) * O);
  }
  rows_gemm(y, O, x, I, w, I, N, O, I, b != nullptr);  // batch-invariant: each row alone gives the same bits
}

template <typename Real>
void linear_backward(Real* dx, bool accumulate_dx, Real* dw, Real* db, const Real* dy, const Real* x, const Real* w,
                     int N, int I, int O) {
  gemm(true, false, O, I, N, Real(1), dy, O, x, I, Real(1), dw, I);
  if (db) {
    for (int n = 0; n < N; ++n) {
      const Real* row = dy + size_t(n) * O;
      for (int o = 0; o < O; ++o) db[o] += row[o];
    }
  }
  if (dx) gemm(false, false, N, I, O, Real(1), dy, O, w, I, accumulate_dx ? Real(1) : Real(0), dx, I);
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int, int, int);
template void linear_forward<double>(double*, const double*, const double*, const double*, int, int, int);
template void linear_backward<float>(float*, bool, float*, float*, const float*, const float*, const float*, int, int,
                                     int);
template void linear_backward<double>(double*, bool, double*, double*, const double*, const double*, const double*,
                                      int, int, int);

}  // namespace rnnkit
