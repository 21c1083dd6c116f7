// Element-wise step of the LSTM cell, PyTorch's gate order [i, f, g, o]:
//   c' = f c + i g, h' = o tanh(c'); pre-activations = x W_ih^T + b_ih + h W_hh^T + b_hh.
#pragma once
#include "cell.h"

namespace rnnkit {

// cache row [4H] = activated i, f, g, o.
template <typename Real>
inline void lstm_row_forward(Real* h /*[H]*/, Real* c /*[H]*/, Real* y /*[H] or null*/, Real* cache /*[4H]*/,
                             const Real* pre /*[4H]*/, const Real* h_prev /*[H]*/, const Real* c_prev /*[H]*/,
                             bool active, int H) {
  if (!active) {
    for (int j = 0; j < H; ++j) { h[j] = h_prev[j]; c[j] = c_prev[j]; }
    if (y) for (int j = 0; j < H; ++j) y[j] = Real(0);
    return;
  }
  const int I = LstmGate::i * H, F = LstmGate::f * H, G = LstmGate::g * H, O = LstmGate::o * H;
  for (int j = 0; j < H; ++j) {
    const Real i = sigmoid(pre[I + j]), f = sigmoid(pre[F + j]);
    const Real g = std::tanh(pre[G + j]), o = sigmoid(pre[O + j]);
    const Real cv = f * c_prev[j] + i * g;
    const Real v = o * std::tanh(cv);
    cache[I + j] = i; cache[F + j] = f; cache[G + j] = g; cache[O + j] = o;
    c[j] = cv;
    h[j] = v;
    if (y) y[j] = v;
  }
}

// dc is read as d(c') and overwritten with d(c_prev); dpre = dgi = dgh.
template <typename Real>
inline void lstm_row_backward(Real* dpre /*[4H]*/, Real* dh_direct /*[H]*/, Real* dc /*[H] in/out*/,
                              const Real* dh /*[H]*/, const Real* cache /*[4H]*/, const Real* c /*[H]*/,
                              const Real* c_prev /*[H]*/, bool active, int H) {
  const int I = LstmGate::i * H, F = LstmGate::f * H, G = LstmGate::g * H, O = LstmGate::o * H;
  if (!active) {
    for (int j = 0; j < 4 * H; ++j) dpre[j] = Real(0);
    for (int j = 0; j < H; ++j) dh_direct[j] = dh[j];
    return;  // dc passes through unchanged
  }
  for (int j = 0; j < H; ++j) {
    const Real i = cache[I + j], f = cache[F + j], g = cache[G + j], o = cache[O + j];
    const Real tc = std::tanh(c[j]);
    const Real dct = dc[j] + dh[j] * o * (Real(1) - tc * tc);
    dpre[I + j] = dct * g * i * (Real(1) - i);
    dpre[F + j] = dct * c_prev[j] * f * (Real(1) - f);
    dpre[G + j] = dct * i * (Real(1) - g * g);
    dpre[O + j] = dh[j] * tc * o * (Real(1) - o);
    dc[j] = dct * f;
    dh_direct[j] = Real(0);
  }
}

}  // namespace rnnkit
