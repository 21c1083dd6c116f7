// Element-wise step of the vanilla RNN cell, h' = f(pre), f = tanh or relu,
// pre = x W_ih^T + h W_hh^T (summed by the driver's GEMMs) + b_ih + b_hh.
#pragma once
#include "cell.h"

namespace rnnkit {

template <typename Real, bool with_y>
RNNKIT_INLINE void rnn_row_forward(Real* __restrict h, Real* __restrict y, const Real* __restrict pre,
                                   const Real* __restrict bias, bool relu, int H) {
  if (relu) {
    for (int j = 0; j < H; ++j) {
      const Real p = pre[j] + bias[j];
      const Real v = p > Real(0) ? p : Real(0);
      h[j] = v;
      if (with_y) y[j] = v;
    }
  } else {
    for (int j = 0; j < H; ++j) {
      const Real v = act_tanh(pre[j] + bias[j]);
      h[j] = v;
      if (with_y) y[j] = v;
    }
  }
}

// dpre [H] out, from h (this step's state) and dh_total = dh + dy.
template <typename Real, bool with_dy>
RNNKIT_INLINE void rnn_row_backward(Real* __restrict dpre, const Real* __restrict dh, const Real* __restrict dy,
                                    const Real* __restrict h, bool relu, int H) {
  if (relu) {
    for (int j = 0; j < H; ++j) {
      const Real d = with_dy ? dh[j] + dy[j] : dh[j];
      dpre[j] = h[j] > Real(0) ? d : Real(0);
    }
  } else {
    for (int j = 0; j < H; ++j) {
      const Real d = with_dy ? dh[j] + dy[j] : dh[j];
      dpre[j] = d * (Real(1) - h[j] * h[j]);
    }
  }
}

template <typename Real>
RNNKIT_INLINE void rnn_step_forward(const StepRows<Real>& s) {
  const int H = s.H;
  for (int b = s.b0; b < s.b1; ++b) {
    const size_t hb = size_t(b) * H;
    Real* y = s.y ? s.y + size_t(b) * s.ldy : nullptr;
    if (!s.active(b)) {
      for (int j = 0; j < H; ++j) s.h[hb + j] = s.h_prev[hb + j];
      if (s.y) for (int j = 0; j < H; ++j) y[j] = Real(0);
      continue;
    }
    if (y) rnn_row_forward<Real, true>(s.h + hb, y, s.gates + hb, s.bias, s.relu, H);
    else rnn_row_forward<Real, false>(s.h + hb, nullptr, s.gates + hb, s.bias, s.relu, H);
  }
}

template <typename Real>
RNNKIT_INLINE void rnn_step_backward(const StepRows<Real>& s) {
  const int H = s.H;
  for (int b = s.b0; b < s.b1; ++b) {
    const size_t hb = size_t(b) * H;
    Real* dpre = s.dgates + hb;
    if (!s.active(b)) {
      for (int j = 0; j < H; ++j) dpre[j] = Real(0);
      continue;
    }
    if (s.dy) rnn_row_backward<Real, true>(dpre, s.dh + hb, s.dy + size_t(b) * s.ldy, s.h_out + hb, s.relu, H);
    else rnn_row_backward<Real, false>(dpre, s.dh + hb, nullptr, s.h_out + hb, s.relu, H);
  }
}

RNNKIT_CPU_DISPATCH(void, rnn_step_forward_f32, (const StepRows<float>& s), (s), rnn_step_forward<float>(s);)
RNNKIT_CPU_DISPATCH(void, rnn_step_backward_f32, (const StepRows<float>& s), (s), rnn_step_backward<float>(s);)
inline void rnn_forward_pass(const StepRows<float>& s) { rnn_step_forward_f32(s); }
inline void rnn_backward_pass(const StepRows<float>& s) { rnn_step_backward_f32(s); }
inline void rnn_forward_pass(const StepRows<double>& s) { rnn_step_forward<double>(s); }
inline void rnn_backward_pass(const StepRows<double>& s) { rnn_step_backward<double>(s); }

}  // namespace rnnkit
