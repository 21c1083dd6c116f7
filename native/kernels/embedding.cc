// nn.Embedding forward (row gather) and backward (row scatter-add).
#include "embedding.h"

#include <algorithm>
#include <cstddef>

namespace rnnkit {

template <typename Real>
void embedding_forward(Real* out, const Real* w, const int* ids, int N, int E) {
  for (int n = 0; n < N; ++n) {
    const Real* row = w + size_t(ids[n]) * E;
    std::copy(row, row + E, out + size_t(n) * E);
  }
}

template <typename Real>
void embedding_backward(Real* dw, const Real* dout, const int* ids, int padding_idx, int N, int E) {
  for (int n = 0; n < N; ++n) {
    if (ids[n] == padding_idx) continue;
    Real* row = dw + size_t(ids[n]) * E;
    const Real* d = dout + size_t(n) * E;
    for (int e = 0; e < E; ++e) row[e] += d[e];
  }
}

template void embedding_forward<float>(float*, const float*, const int*, int, int);
template void embedding_forward<double>(double*, const double*, const int*, int, int);
template void embedding_backward<float>(float*, const float*, const int*, int, int, int);
template void embedding_backward<double>(double*, const double*, const int*, int, int, int);

}  // namespace rnnkit
