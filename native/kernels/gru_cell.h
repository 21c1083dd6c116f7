// Element-wise step of the GRU cell, PyTorch's formulation:
//   r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r * gh_n), h' = (1-z) n + z h
// where gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh (so b_hn sits inside r * (...)).
// One fused pass per row: biases, activations, state update, output and cache.
#pragma once
#include "cell.h"

namespace rnnkit {

// gates [3H]: x W_ih^T in, cached r, z, n out; ghn [H]: W_hn h + b_hn out (cache).
template <typename Real, bool with_y>
RNNKIT_INLINE void gru_row_forward(Real* __restrict h, Real* __restrict y, Real* __restrict gates,
                                   Real* __restrict ghn, const Real* __restrict gh, const Real* __restrict bias,
                                   const Real* __restrict h_prev, int H) {
  const int R = GruGate::r * H, Z = GruGate::z * H, N = GruGate::n * H;
  for (int j = 0; j < H; ++j) {
    const Real r = act_sigmoid(gates[R + j] + gh[R + j] + bias[R + j]);
    const Real z = act_sigmoid(gates[Z + j] + gh[Z + j] + bias[Z + j]);
    const Real hn = gh[N + j] + bias[3 * H + j];
    const Real n = act_tanh(gates[N + j] + bias[N + j] + r * hn);
    const Real v = (Real(1) - z) * n + z * h_prev[j];
    gates[R + j] = r; gates[Z + j] = z; gates[N + j] = n;
    ghn[j] = hn;
    h[j] = v;
    if (with_y) y[j] = v;
  }
}

// cache [3H]: r, z, n; ghn [H]: W_hn h + b_hn; dh_total = dh + dy. Out: dgi [3H], dghn [H] = d(W_hn h + b_hn),
// dgh [3H] = d(h W_hh^T) (dgi with the n block times r), dh_next [H] = dh_total * z.
template <typename Real, bool with_dy>
RNNKIT_INLINE void gru_row_backward(Real* __restrict dgi, Real* __restrict dghn, Real* __restrict dgh,
                                    Real* __restrict dh_next, const Real* __restrict dh, const Real* __restrict dy,
                                    const Real* __restrict cache, const Real* __restrict ghn,
                                    const Real* __restrict h_prev, int H) {
  const int R = GruGate::r * H, Z = GruGate::z * H, N = GruGate::n * H;
  for (int j = 0; j < H; ++j) {
    const Real d = with_dy ? dh[j] + dy[j] : dh[j];
    const Real r = cache[R + j], z = cache[Z + j], n = cache[N + j], hn = ghn[j];
    const Real dn_pre = d * (Real(1) - z) * (Real(1) - n * n);
    const Real dz_pre = d * (h_prev[j] - n) * z * (Real(1) - z);
    const Real dr_pre = dn_pre * hn * r * (Real(1) - r);
    const Real dhn = dn_pre * r;
    dgi[R + j] = dr_pre; dgi[Z + j] = dz_pre; dgi[N + j] = dn_pre;
    dghn[j] = dhn;
    dgh[R + j] = dr_pre; dgh[Z + j] = dz_pre; dgh[N + j] = dhn;
    dh_next[j] = d * z;
  }
}

template <typename Real>
RNNKIT_INLINE void gru_step_forward(const StepRows<Real>& s) {
  const int H = s.H, GH = 3 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    Real* h = s.h + size_t(b) * H;
    const Real* h_prev = s.h_prev + size_t(b) * H;
    Real* y = s.y ? s.y + size_t(b) * s.ldy : nullptr;
    if (!s.active(b)) {
      for (int j = 0; j < H; ++j) h[j] = h_prev[j];
      if (s.y) for (int j = 0; j < H; ++j) y[j] = Real(0);
      continue;
    }
    Real* gates = s.gates + size_t(b) * GH;
    Real* ghn = s.ghn + size_t(b) * H;
    const Real* gh = s.gh + size_t(b) * GH;
    if (y) gru_row_forward<Real, true>(h, y, gates, ghn, gh, s.bias, h_prev, H);
    else gru_row_forward<Real, false>(h, nullptr, gates, ghn, gh, s.bias, h_prev, H);
  }
}

template <typename Real>
RNNKIT_INLINE void gru_step_backward(const StepRows<Real>& s) {
  const int H = s.H, GH = 3 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    Real* dgi = s.dgates + size_t(b) * GH;
    Real* dghn = s.dghn + size_t(b) * H;
    Real* dgh = s.dgh + size_t(b) * GH;
    Real* dh_next = s.dh_next + size_t(b) * H;
    const Real* dh = s.dh + size_t(b) * H;
    if (!s.active(b)) {
      gru_padded_step_backward(s, b);
      continue;
    }
    const Real* cache = s.gates + size_t(b) * GH;
    const Real* ghn = s.ghn + size_t(b) * H;
    const Real* h_prev = s.h_prev + size_t(b) * H;
    if (s.dy) gru_row_backward<Real, true>(dgi, dghn, dgh, dh_next, dh, s.dy + size_t(b) * s.ldy, cache, ghn, h_prev, H);
    else gru_row_backward<Real, false>(dgi, dghn, dgh, dh_next, dh, nullptr, cache, ghn, h_prev, H);
  }
}

// Float passes compiled per instruction set (fast_math.h); double uses the templates above.
RNNKIT_CPU_DISPATCH(void, gru_step_forward_f32, (const StepRows<float>& s), (s), gru_step_forward<float>(s);)
RNNKIT_CPU_DISPATCH(void, gru_step_backward_f32, (const StepRows<float>& s), (s), gru_step_backward<float>(s);)
inline void gru_forward_pass(const StepRows<float>& s) { gru_step_forward_f32(s); }
inline void gru_backward_pass(const StepRows<float>& s) { gru_step_backward_f32(s); }
inline void gru_forward_pass(const StepRows<double>& s) { gru_step_forward<double>(s); }
inline void gru_backward_pass(const StepRows<double>& s) { gru_step_backward<double>(s); }

}  // namespace rnnkit
