// Element-wise step of the LSTM cell, PyTorch's gate order [i, f, g, o]:
//   c' = f c + i g, h' = o tanh(c'); pre-activations = x W_ih^T + b_ih + h W_hh^T + b_hh.
// One fused pass per row: bias, activations, state update, output and cache.
#pragma once
#include "cell.h"

namespace rnnkit {

// gates [4H]: x W_ih^T + h W_hh^T in, activated i, f, g, o out (the cache).
template <typename Real, bool with_y>
RNNKIT_INLINE void lstm_row_forward(Real* __restrict h, Real* __restrict c, Real* __restrict y,
                                    Real* __restrict gates, const Real* __restrict bias,
                                    const Real* __restrict c_prev, int H) {
  const int I = LstmGate::i * H, F = LstmGate::f * H, G = LstmGate::g * H, O = LstmGate::o * H;
  for (int j = 0; j < H; ++j) {
    const Real i = act_sigmoid(gates[I + j] + bias[I + j]);
    const Real f = act_sigmoid(gates[F + j] + bias[F + j]);
    const Real g = act_tanh(gates[G + j] + bias[G + j]);
    const Real o = act_sigmoid(gates[O + j] + bias[O + j]);
    const Real cv = f * c_prev[j] + i * g;
    const Real v = o * act_tanh(cv);
    gates[I + j] = i; gates[F + j] = f; gates[G + j] = g; gates[O + j] = o;
    c[j] = cv;
    h[j] = v;
    if (with_y) y[j] = v;
  }
}

// cache [4H]: i, f, g, o; dc [H]: d(c') in, d(c_prev) out; dh_total = dh + dy. Out: dpre [4H] (= d(gi) = d(gh)).
template <typename Real, bool with_dy>
RNNKIT_INLINE void lstm_row_backward(Real* __restrict dpre, Real* __restrict dc, const Real* __restrict dh,
                                     const Real* __restrict dy, const Real* __restrict cache,
                                     const Real* __restrict c, const Real* __restrict c_prev, int H) {
  const int I = LstmGate::i * H, F = LstmGate::f * H, G = LstmGate::g * H, O = LstmGate::o * H;
  for (int j = 0; j < H; ++j) {
    const Real d = with_dy ? dh[j] + dy[j] : dh[j];
    const Real i = cache[I + j], f = cache[F + j], g = cache[G + j], o = cache[O + j];
    const Real tc = act_tanh(c[j]);
    const Real dct = dc[j] + d * o * (Real(1) - tc * tc);
    dpre[I + j] = dct * g * i * (Real(1) - i);
    dpre[F + j] = dct * c_prev[j] * f * (Real(1) - f);
    dpre[G + j] = dct * i * (Real(1) - g * g);
    dpre[O + j] = d * tc * o * (Real(1) - o);
    dc[j] = dct * f;
  }
}

template <typename Real>
RNNKIT_INLINE void lstm_step_forward(const StepRows<Real>& s) {
  const int H = s.H, GH = 4 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    const size_t hb = size_t(b) * H;
    Real* y = s.y ? s.y + size_t(b) * s.ldy : nullptr;
    if (!s.active(b)) {
      for (int j = 0; j < H; ++j) { s.h[hb + j] = s.h_prev[hb + j]; s.c[hb + j] = s.c_prev[hb + j]; }
      if (s.y) for (int j = 0; j < H; ++j) y[j] = Real(0);
      continue;
    }
    Real* gates = s.gates + size_t(b) * GH;
    if (y) lstm_row_forward<Real, true>(s.h + hb, s.c + hb, y, gates, s.bias, s.c_prev + hb, H);
    else lstm_row_forward<Real, false>(s.h + hb, s.c + hb, nullptr, gates, s.bias, s.c_prev + hb, H);
  }
}

// Writes d(pre) into dgates and updates dc; d(h_prev) comes only through W_hh
// (the caller's GEMM), except at padded steps where dh passes through.
template <typename Real>
RNNKIT_INLINE void lstm_step_backward(const StepRows<Real>& s) {
  const int H = s.H, GH = 4 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    const size_t hb = size_t(b) * H;
    Real* dpre = s.dgates + size_t(b) * GH;
    if (!s.active(b)) {  // dc passes through unchanged
      for (int j = 0; j < GH; ++j) dpre[j] = Real(0);
      continue;
    }
    const Real* cache = s.gates + size_t(b) * GH;
    if (s.dy) lstm_row_backward<Real, true>(dpre, s.dc + hb, s.dh + hb, s.dy + size_t(b) * s.ldy, cache, s.c + hb, s.c_prev + hb, H);
    else lstm_row_backward<Real, false>(dpre, s.dc + hb, s.dh + hb, nullptr, cache, s.c + hb, s.c_prev + hb, H);
  }
}

// With a projection (PyTorch's proj_size): the element-wise part of a step writes m = o tanh(c') into
// s.h ([B,H], the step's slot of the m buffer) and the caller's product makes h' = m W_hr^T. A padded
// row keeps its cell state and gets m = 0 (so it adds nothing to dW_hr); the caller keeps its h.
template <typename Real>
RNNKIT_INLINE void lstm_projected_step_forward(const StepRows<Real>& s) {
  const int H = s.H, GH = 4 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    const size_t hb = size_t(b) * H;
    if (!s.active(b)) {
      for (int j = 0; j < H; ++j) { s.h[hb + j] = Real(0); s.c[hb + j] = s.c_prev[hb + j]; }
      continue;
    }
    lstm_row_forward<Real, false>(s.h + hb, s.c + hb, nullptr, s.gates + size_t(b) * GH, s.bias, s.c_prev + hb, H);
  }
}

RNNKIT_CPU_DISPATCH(void, lstm_step_forward_f32, (const StepRows<float>& s), (s), lstm_step_forward<float>(s);)
RNNKIT_CPU_DISPATCH(void, lstm_projected_step_forward_f32, (const StepRows<float>& s), (s),
                    lstm_projected_step_forward<float>(s);)
RNNKIT_CPU_DISPATCH(void, lstm_step_backward_f32, (const StepRows<float>& s), (s), lstm_step_backward<float>(s);)
inline void lstm_forward_pass(const StepRows<float>& s) { lstm_step_forward_f32(s); }
inline void lstm_backward_pass(const StepRows<float>& s) { lstm_step_backward_f32(s); }
inline void lstm_forward_pass(const StepRows<double>& s) { lstm_step_forward<double>(s); }
inline void lstm_backward_pass(const StepRows<double>& s) { lstm_step_backward<double>(s); }
inline void lstm_projected_forward_pass(const StepRows<float>& s) { lstm_projected_step_forward_f32(s); }
inline void lstm_projected_forward_pass(const StepRows<double>& s) { lstm_projected_step_forward<double>(s); }

}  // namespace rnnkit
