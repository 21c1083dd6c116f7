// Element-wise passes of the GRU with the reset gate before the recurrent
// product (Keras reset_after=False, tfjs's GRU), same parameters as PyTorch's:
//   r = s(gi_r + h W_hr^T + b_r), z = s(gi_z + h W_hz^T + b_z),
//   n = tanh(gi_n + b_in + (r * h) W_hn^T + b_hn), h' = (1-z) n + z h
// (b_r, b_z are b_ih + b_hh; b_hn sits outside r here, so it adds to b_in).
// n needs r first, so a step is two passes around a second product: the
// driver (recurrent_direction.cc) runs h W_h{r,z}^T, pass a, (r*h) W_hn^T, pass b;
// backward runs pass a, d(n) W_hn, pass b, d(r,z) W_h{r,z}.
#pragma once
#include "cell.h"

namespace rnnkit {

// Forward pass a. gates [3H]: x W_ih^T in; r, z out. gh [3H]: the r, z blocks of h W_hh^T.
// rh [H] out: r * h_prev, the input of the n product (and cached for dW_hn).
template <typename Real>
RNNKIT_INLINE void grub_row_forward_a(Real* __restrict gates, Real* __restrict rh, const Real* __restrict gh,
                                      const Real* __restrict bias, const Real* __restrict h_prev, int H) {
  const int R = GruGate::r * H, Z = GruGate::z * H;
  for (int j = 0; j < H; ++j) {
    const Real r = act_sigmoid(gates[R + j] + gh[R + j] + bias[R + j]);
    const Real z = act_sigmoid(gates[Z + j] + gh[Z + j] + bias[Z + j]);
    gates[R + j] = r; gates[Z + j] = z;
    rh[j] = r * h_prev[j];
  }
}

// Forward pass b. gates: n block x W_in^T in, n out (r, z read). gh: n block (r*h) W_hn^T.
template <typename Real, bool with_y>
RNNKIT_INLINE void grub_row_forward_b(Real* __restrict h, Real* __restrict y, Real* __restrict gates,
                                      const Real* __restrict gh, const Real* __restrict bias,
                                      const Real* __restrict h_prev, int H) {
  const int Z = GruGate::z * H, N = GruGate::n * H;
  for (int j = 0; j < H; ++j) {
    const Real n = act_tanh(gates[N + j] + bias[N + j] + gh[N + j] + bias[3 * H + j]);
    const Real z = gates[Z + j];
    const Real v = (Real(1) - z) * n + z * h_prev[j];
    gates[N + j] = n;
    h[j] = v;
    if (with_y) y[j] = v;
  }
}

// Backward pass a, dh_total = dh + dy. Out: dgi z, n blocks; dghn [H] = d(n_pre) (for dW_hn, db_hn);
// dgh z block d(z_pre), n block d(n_pre) (the operand of d(r*h) = d(n_pre) W_hn); dh_next = dh_total * z.
template <typename Real, bool with_dy>
RNNKIT_INLINE void grub_row_backward_a(Real* __restrict dgi, Real* __restrict dghn, Real* __restrict dgh,
                                       Real* __restrict dh_next, const Real* __restrict dh, const Real* __restrict dy,
                                       const Real* __restrict cache, const Real* __restrict h_prev, int H) {
  const int Z = GruGate::z * H, N = GruGate::n * H;
  for (int j = 0; j < H; ++j) {
    const Real d = with_dy ? dh[j] + dy[j] : dh[j];
    const Real z = cache[Z + j], n = cache[N + j];
    const Real dn_pre = d * (Real(1) - z) * (Real(1) - n * n);
    const Real dz_pre = d * (h_prev[j] - n) * z * (Real(1) - z);
    dgi[Z + j] = dz_pre; dgi[N + j] = dn_pre;
    dghn[j] = dn_pre;
    dgh[Z + j] = dz_pre; dgh[N + j] = dn_pre;
    dh_next[j] = d * z;
  }
}

// Backward pass b. dgh r block: d(r*h) in, d(r_pre) out; dgi r block d(r_pre); dh_next += d(r*h) * r.
template <typename Real>
RNNKIT_INLINE void grub_row_backward_b(Real* __restrict dgi, Real* __restrict dgh, Real* __restrict dh_next,
                                       const Real* __restrict cache, const Real* __restrict h_prev, int H) {
  const int R = GruGate::r * H;
  for (int j = 0; j < H; ++j) {
    const Real drh = dgh[R + j], r = cache[R + j];
    const Real dr_pre = drh * h_prev[j] * r * (Real(1) - r);
    dgi[R + j] = dr_pre;
    dgh[R + j] = dr_pre;
    dh_next[j] += drh * r;
  }
}

template <typename Real>
RNNKIT_INLINE void grub_step_forward_a(const StepRows<Real>& s) {
  const int H = s.H, GH = 3 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    Real* rh = s.ghn + size_t(b) * H;
    if (!s.active(b)) {  // zeros keep the dW_hn product finite; the row's gradients are zero
      for (int j = 0; j < H; ++j) rh[j] = Real(0);
      continue;
    }
    grub_row_forward_a(s.gates + size_t(b) * GH, rh, s.gh + size_t(b) * GH, s.bias, s.h_prev + size_t(b) * H, H);
  }
}

template <typename Real>
RNNKIT_INLINE void grub_step_forward_b(const StepRows<Real>& s) {
  const int H = s.H, GH = 3 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    Real* h = s.h + size_t(b) * H;
    const Real* h_prev = s.h_prev + size_t(b) * H;
    Real* y = s.y ? s.y + size_t(b) * s.ldy : nullptr;
    if (!s.active(b)) {
      for (int j = 0; j < H; ++j) h[j] = h_prev[j];
      if (y) for (int j = 0; j < H; ++j) y[j] = Real(0);
      continue;
    }
    Real* gates = s.gates + size_t(b) * GH;
    const Real* gh = s.gh + size_t(b) * GH;
    if (y) grub_row_forward_b<Real, true>(h, y, gates, gh, s.bias, h_prev, H);
    else grub_row_forward_b<Real, false>(h, nullptr, gates, gh, s.bias, h_prev, H);
  }
}

template <typename Real>
RNNKIT_INLINE void grub_step_backward_a(const StepRows<Real>& s) {
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
    const Real* h_prev = s.h_prev + size_t(b) * H;
    if (s.dy) grub_row_backward_a<Real, true>(dgi, dghn, dgh, dh_next, dh, s.dy + size_t(b) * s.ldy, cache, h_prev, H);
    else grub_row_backward_a<Real, false>(dgi, dghn, dgh, dh_next, dh, nullptr, cache, h_prev, H);
  }
}

template <typename Real>
RNNKIT_INLINE void grub_step_backward_b(const StepRows<Real>& s) {
  const int H = s.H, GH = 3 * H;
  for (int b = s.b0; b < s.b1; ++b) {
    Real* dgh = s.dgh + size_t(b) * GH;
    if (!s.active(b)) {
      for (int j = 0; j < H; ++j) dgh[j] = Real(0);
      continue;
    }
    grub_row_backward_b(s.dgates + size_t(b) * GH, dgh, s.dh_next + size_t(b) * H, s.gates + size_t(b) * GH,
                        s.h_prev + size_t(b) * H, H);
  }
}

// Float passes compiled per instruction set (fast_math.h); double uses the templates above.
RNNKIT_CPU_DISPATCH(void, grub_step_forward_a_f32, (const StepRows<float>& s), (s), grub_step_forward_a<float>(s);)
RNNKIT_CPU_DISPATCH(void, grub_step_forward_b_f32, (const StepRows<float>& s), (s), grub_step_forward_b<float>(s);)
RNNKIT_CPU_DISPATCH(void, grub_step_backward_a_f32, (const StepRows<float>& s), (s), grub_step_backward_a<float>(s);)
RNNKIT_CPU_DISPATCH(void, grub_step_backward_b_f32, (const StepRows<float>& s), (s), grub_step_backward_b<float>(s);)
inline void gru_reset_before_forward_a(const StepRows<float>& s) { grub_step_forward_a_f32(s); }
inline void gru_reset_before_forward_b(const StepRows<float>& s) { grub_step_forward_b_f32(s); }
inline void gru_reset_before_backward_a(const StepRows<float>& s) { grub_step_backward_a_f32(s); }
inline void gru_reset_before_backward_b(const StepRows<float>& s) { grub_step_backward_b_f32(s); }
inline void gru_reset_before_forward_a(const StepRows<double>& s) { grub_step_forward_a<double>(s); }
inline void gru_reset_before_forward_b(const StepRows<double>& s) { grub_step_forward_b<double>(s); }
inline void gru_reset_before_backward_a(const StepRows<double>& s) { grub_step_backward_a<double>(s); }
inline void gru_reset_before_backward_b(const StepRows<double>& s) { grub_step_backward_b<double>(s); }

}  // namespace rnnkit
