// Element-wise step of the GRU cell, PyTorch's formulation:
//   r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r * gh_n), h' = (1-z) n + z h
// where gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh (so b_hn sits inside r * (...)).
#pragma once
#include "cell.h"

namespace rnnkit {

// cache row [4H] = r, z, n, gh_n: all backward needs besides h_prev.
template <typename Real>
inline void gru_row_forward(Real* h /*[H]*/, Real* y /*[H] or null*/, Real* cache /*[4H]*/,
                            const Real* gi /*[3H]*/, const Real* gh /*[3H]*/, const Real* h_prev /*[H]*/,
                            bool active, int H) {
  if (!active) {
    for (int j = 0; j < H; ++j) h[j] = h_prev[j];
    if (y) for (int j = 0; j < H; ++j) y[j] = Real(0);
    return;
  }
  const int R = GruGate::r * H, Z = GruGate::z * H, N = GruGate::n * H;
  for (int j = 0; j < H; ++j) {
    const Real r = sigmoid(gi[R + j] + gh[R + j]);
    const Real z = sigmoid(gi[Z + j] + gh[Z + j]);
    const Real n = std::tanh(gi[N + j] + r * gh[N + j]);
    const Real v = (Real(1) - z) * n + z * h_prev[j];
    cache[j] = r; cache[H + j] = z; cache[2 * H + j] = n; cache[3 * H + j] = gh[N + j];
    h[j] = v;
    if (y) y[j] = v;
  }
}

// dgi = d(gi), dgh = d(gh) (they differ in the n block by the factor r).
template <typename Real>
inline void gru_row_backward(Real* dgi /*[3H]*/, Real* dgh /*[3H]*/, Real* dh_direct /*[H]*/, const Real* dh /*[H]*/,
                             const Real* cache /*[4H]*/, const Real* h_prev /*[H]*/, bool active, int H) {
  const int R = GruGate::r * H, Z = GruGate::z * H, N = GruGate::n * H;
  if (!active) {
    for (int j = 0; j < 3 * H; ++j) { dgi[j] = Real(0); dgh[j] = Real(0); }
    for (int j = 0; j < H; ++j) dh_direct[j] = dh[j];
    return;
  }
  for (int j = 0; j < H; ++j) {
    const Real r = cache[j], z = cache[H + j], n = cache[2 * H + j], ghn = cache[3 * H + j];
    const Real dn_pre = dh[j] * (Real(1) - z) * (Real(1) - n * n);
    const Real dz_pre = dh[j] * (h_prev[j] - n) * z * (Real(1) - z);
    const Real dr_pre = dn_pre * ghn * r * (Real(1) - r);
    dgi[R + j] = dr_pre; dgi[Z + j] = dz_pre; dgi[N + j] = dn_pre;
    dgh[R + j] = dr_pre; dgh[Z + j] = dz_pre; dgh[N + j] = dn_pre * r;
    dh_direct[j] = dh[j] * z;
  }
}

}  // namespace rnnkit
