// Cell kinds and their gate layout, written once. Gate order is PyTorch's:
// GRU [r, z, n], LSTM [i, f, g, o]. GruResetBefore is the GRU of Keras's
// reset_after=False (tfjs's only GRU): n = tanh(gi_n + b_in + W_hn (r * h) + b_hn),
// same parameters and gate order, the reset gate applied before the product. Legend used across kernels:
// T steps, B batch, I input size, H hidden size, G gates, GH = G*H.
#pragma once
#include <cstddef>

#include "fast_math.h"

namespace rnnkit {

enum class Cell { RnnTanh = 0, RnnRelu = 1, Gru = 2, Lstm = 3, GruResetBefore = 4 };

constexpr bool is_gru(Cell cell) { return cell == Cell::Gru || cell == Cell::GruResetBefore; }

constexpr int gate_count(Cell cell) {
  return is_gru(cell) ? 3 : cell == Cell::Lstm ? 4 : 1;
}

// Floats of the combined bias vector the element-wise passes read:
// GRU [b_ir+b_hr, b_iz+b_hz, b_in, b_hn] (b_hn stays apart: it sits inside r * (...)),
// LSTM and RNN b_ih + b_hh.
constexpr int bias_width(Cell cell, int H) { return is_gru(cell) ? 4 * H : gate_count(cell) * H; }

// Fills bias [bias_width] from b_ih, b_hh [GH] (either may be null: zeros).
template <typename Real>
void combine_bias(Real* bias, const Real* b_ih, const Real* b_hh, Cell cell, int H) {
  const int GH = gate_count(cell) * H;
  for (int j = 0; j < GH; ++j) bias[j] = (b_ih ? b_ih[j] : Real(0)) + (b_hh ? b_hh[j] : Real(0));
  if (is_gru(cell)) {
    for (int j = 0; j < H; ++j) {
      bias[2 * H + j] = b_ih ? b_ih[2 * H + j] : Real(0);
      bias[3 * H + j] = b_hh ? b_hh[2 * H + j] : Real(0);
    }
  }
}

// GRU gate offsets inside a [3H] row.
struct GruGate { static constexpr int r = 0, z = 1, n = 2; };
// LSTM gate offsets inside a [4H] row.
struct LstmGate { static constexpr int i = 0, f = 1, g = 2, o = 3; };

// One time step of one cell over batch rows [b0, b1): what the element-wise
// passes read and write. Pointers are the step's full-batch bases; row b of a
// [B, W] buffer starts at base + b * W. Fields a cell does not use stay null.
template <typename Real>
struct StepRows {
  int b0 = 0, b1 = 0, H = 0;
  int t = 0;                     // time index, for lengths
  const int* lengths = nullptr;  // [B] or null (all steps valid)
  bool relu = false;             // RNN nonlinearity
  // forward
  Real* h = nullptr;             // [B,H] state written at this step
  const Real* h_prev = nullptr;  // [B,H]
  Real* c = nullptr;             // [B,H] LSTM
  const Real* c_prev = nullptr;  // [B,H] LSTM
  Real* y = nullptr;             // [B,ldy] output rows of this step (may be null)
  int ldy = 0;
  Real* gates = nullptr;         // [B,GH] pre-activations in, cached activations out (backward reads them)
  Real* ghn = nullptr;           // GRU [B,H]: W_hn h + b_hn (cache); GruResetBefore: r * h_prev
  const Real* gh = nullptr;      // GRU [B,3H]: h W_hh^T of this step (forward); GruResetBefore: the
                                 // r, z blocks h W_hh^T, the n block (r * h) W_hn^T
  const Real* bias = nullptr;    // [bias_width]
  // backward (reads gates and ghn as the forward left them)
  Real* dgates = nullptr;        // [B,GH] d(gi) out
  Real* dghn = nullptr;          // GRU [B,H] d(W_hn h + b_hn) out
  Real* dgh = nullptr;           // GRU [B,3H]: d(h W_hh^T) of this step, for the per-step GEMM
                                 // (GruResetBefore: the r block holds d(r * h) between its two passes)
  Real* dh_next = nullptr;       // GRU [B,H] part of d(h_prev) that bypasses W_hh
  const Real* dh = nullptr;      // [B,H] d(h) from later steps
  const Real* dy = nullptr;      // [B,ldy] d(output) rows of this step (may be null)
  Real* dc = nullptr;            // [B,H] LSTM: d(c) in, d(c_prev) out
  const Real* h_out = nullptr;   // RNN backward: [B,H] the state this step produced

  bool active(int b) const { return lengths == nullptr || t < lengths[b]; }
};

// Backward of a padded step of a GRU (either variant) in row b: the state passes through and no
// gradient reaches the gates.
template <typename Real>
RNNKIT_INLINE void gru_padded_step_backward(const StepRows<Real>& s, int b) {
  const int H = s.H, GH = 3 * H;
  Real* dgi = s.dgates + size_t(b) * GH;
  Real* dgh = s.dgh + size_t(b) * GH;
  for (int j = 0; j < GH; ++j) { dgi[j] = Real(0); dgh[j] = Real(0); }
  Real* dghn = s.dghn + size_t(b) * H;
  Real* dh_next = s.dh_next + size_t(b) * H;
  const Real* dh = s.dh + size_t(b) * H;
  for (int j = 0; j < H; ++j) { dghn[j] = Real(0); dh_next[j] = dh[j]; }
}

}  // namespace rnnkit
