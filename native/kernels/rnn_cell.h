// Element-wise step of the vanilla RNN cell, h' = f(pre), f = tanh or relu.
// pre already holds x W_ih^T + b_ih + h W_hh^T + b_hh (the driver sums them).
#pragma once
#include "cell.h"

namespace rnnkit {

// One row (one sequence) of one step. Inactive rows keep their state.
template <typename Real>
inline void rnn_row_forward(Real* h /*[H]*/, Real* y /*[H] or null*/, const Real* pre /*[H]*/,
                            const Real* h_prev /*[H]*/, bool active, bool relu, int H) {
  if (!active) {
    for (int j = 0; j < H; ++j) h[j] = h_prev[j];
    if (y) for (int j = 0; j < H; ++j) y[j] = Real(0);
    return;
  }
  for (int j = 0; j < H; ++j) {
    const Real v = relu ? (pre[j] > Real(0) ? pre[j] : Real(0)) : std::tanh(pre[j]);
    h[j] = v;
    if (y) y[j] = v;
  }
}

// dh: gradient w.r.t. this step's output state (in); dpre (out, dgi = dgh);
// dh_direct (out): the part of dh_prev that bypasses W_hh.
template <typename Real>
inline void rnn_row_backward(Real* dpre /*[H]*/, Real* dh_direct /*[H]*/, const Real* dh /*[H]*/,
                             const Real* h /*[H]*/, bool active, bool relu, int H) {
  if (!active) {
    for (int j = 0; j < H; ++j) { dpre[j] = Real(0); dh_direct[j] = dh[j]; }
    return;
  }
  for (int j = 0; j < H; ++j) {
    dpre[j] = relu ? (h[j] > Real(0) ? dh[j] : Real(0)) : dh[j] * (Real(1) - h[j] * h[j]);
    dh_direct[j] = Real(0);
  }
}

}  // namespace rnnkit
