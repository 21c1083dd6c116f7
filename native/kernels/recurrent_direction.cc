// One direction of one recurrent layer: the time loop and its BPTT.
// See recurrent_direction.h for the contract; cell math lives in *_cell.h.
#include "recurrent_direction.h"

#include <algorithm>
#include <cstring>

#include "blas.h"
#include "gru_cell.h"
#include "lstm_cell.h"
#include "rnn_cell.h"

namespace rnnkit {
namespace {

// Workspace layout of one direction, in floats.
//   gi    [T,B,GH]   input projection; reused as d(gi) in backward
//   dgh   [T,B,GH]   d(gh), GRU only (RNN/LSTM: d(gh) == d(gi))
//   cache [T,B,CW]   per-step gate values for backward
//   hs    [T+1,B,H]  states; slot of step t's input is t (forward) or t+1 (reverse)
//   cs    [T+1,B,H]  cell states, LSTM only
//   step  [B,GH]     GRU's h W_hh^T + b_hh of the current step
//   dh, dh_next, dc [B,H] each
struct Layout {
  size_t gi, dgh, cache, hs, cs, step, dh, dh_next, dc, total;
  Layout(Cell cell, int T, int B, int H) {
    const size_t TB = size_t(T) * B, GH = size_t(gate_count(cell)) * H, BH = size_t(B) * H;
    const bool gru = cell == Cell::Gru, lstm = cell == Cell::Lstm;
    size_t at = 0;
    gi = at;      at += TB * GH;
    dgh = at;     at += gru ? TB * GH : 0;
    cache = at;   at += TB * size_t(cache_width(cell, H));
    hs = at;      at += (size_t(T) + 1) * BH;
    cs = at;      at += lstm ? (size_t(T) + 1) * BH : 0;
    step = at;    at += gru ? size_t(B) * GH : 0;
    dh = at;      at += BH;
    dh_next = at; at += BH;
    dc = at;      at += lstm ? BH : 0;
    total = at;
  }
};

inline bool is_active(const int* lengths, int b, int t) { return lengths == nullptr || t < lengths[b]; }
inline int input_slot(const DirectionShape& s, int t) { return s.reverse ? t + 1 : t; }
inline int output_slot(const DirectionShape& s, int t) { return s.reverse ? t : t + 1; }

template <typename Real>
void copy_or_zero(Real* dst, const Real* src, size_t n) {
  if (src) std::memcpy(dst, src, n * sizeof(Real));
  else std::fill(dst, dst + n, Real(0));
}

// rows[r, :] += bias for every row.
template <typename Real>
void add_bias_rows(Real* rows, const Real* bias, size_t count, int width) {
  for (size_t r = 0; r < count; ++r) {
    Real* row = rows + r * width;
    for (int j = 0; j < width; ++j) row[j] += bias[j];
  }
}

// out[j] += sum over rows of m[r, j].
template <typename Real>
void add_column_sums(Real* out, const Real* m, size_t rows, int width) {
  for (size_t r = 0; r < rows; ++r) {
    const Real* row = m + r * width;
    for (int j = 0; j < width; ++j) out[j] += row[j];
  }
}

}  // namespace

size_t direction_workspace_floats(Cell cell, int T, int B, int H) { return Layout(cell, T, B, H).total; }

template <typename Real>
void direction_forward(Real* y, int ldy, Real* hN, Real* cN, Real* ws, const Real* x, const Real* w_ih,
                       const Real* w_hh, const Real* b_ih, const Real* b_hh, const Real* h0, const Real* c0,
                       const int* lengths, const DirectionShape& s) {
  const Cell cell = s.cell;
  const int T = s.T, B = s.B, I = s.I, H = s.H, GH = gate_count(cell) * H;
  const size_t BH = size_t(B) * H, TB = size_t(T) * B;
  const Layout L(cell, T, B, H);
  Real* gi = ws + L.gi;
  Real* cache = ws + L.cache;
  Real* hs = ws + L.hs;
  Real* cs = ws + L.cs;
  Real* step = ws + L.step;
  const int CW = cache_width(cell, H);
  const bool gru = cell == Cell::Gru, lstm = cell == Cell::Lstm, relu = cell == Cell::RnnRelu;

  // Hoisted input projection for all steps; non-GRU cells fold b_hh in too.
  gemm(false, true, int(TB), GH, I, Real(1), x, I, w_ih, I, Real(0), gi, GH);
  if (b_ih) add_bias_rows(gi, b_ih, TB, GH);
  if (b_hh && !gru) add_bias_rows(gi, b_hh, TB, GH);

  copy_or_zero(hs + size_t(s.reverse ? T : 0) * BH, h0, BH);
  if (lstm) copy_or_zero(cs + size_t(s.reverse ? T : 0) * BH, c0, BH);

  for (int k = 0; k < T; ++k) {
    const int t = s.reverse ? T - 1 - k : k;
    const Real* h_prev = hs + size_t(input_slot(s, t)) * BH;
    Real* h = hs + size_t(output_slot(s, t)) * BH;
    Real* gi_t = gi + size_t(t) * B * GH;
    Real* y_t = y ? y + size_t(t) * B * ldy : nullptr;
    if (gru) {
      if (b_hh) for (int b = 0; b < B; ++b) std::memcpy(step + size_t(b) * GH, b_hh, GH * sizeof(Real));
      gemm(false, true, B, GH, H, Real(1), h_prev, H, w_hh, H, b_hh ? Real(1) : Real(0), step, GH);
    } else {
      gemm(false, true, B, GH, H, Real(1), h_prev, H, w_hh, H, Real(1), gi_t, GH);
    }
    for (int b = 0; b < B; ++b) {
      const bool active = is_active(lengths, b, t);
      const size_t hb = size_t(b) * H;
      Real* yb = y_t ? y_t + size_t(b) * ldy : nullptr;
      Real* cache_b = cache + (size_t(t) * B + b) * CW;
      if (gru) {
        gru_row_forward(h + hb, yb, cache_b, gi_t + size_t(b) * GH, step + size_t(b) * GH, h_prev + hb, active, H);
      } else if (lstm) {
        const Real* c_prev = cs + size_t(input_slot(s, t)) * BH + hb;
        Real* c = cs + size_t(output_slot(s, t)) * BH + hb;
        lstm_row_forward(h + hb, c, yb, cache_b, gi_t + size_t(b) * GH, h_prev + hb, c_prev, active, H);
      } else {
        rnn_row_forward(h + hb, yb, gi_t + size_t(b) * GH, h_prev + hb, active, relu, H);
      }
    }
  }
  const size_t final_slot = s.reverse ? 0 : size_t(T);
  if (hN) std::memcpy(hN, hs + final_slot * BH, BH * sizeof(Real));
  if (lstm && cN) std::memcpy(cN, cs + final_slot * BH, BH * sizeof(Real));
}

template <typename Real>
void direction_backward(Real* dx, bool accumulate_dx, Real* dh0, Real* dc0, Real* dw_ih, Real* dw_hh, Real* db_ih,
                        Real* db_hh, Real* ws, const Real* x, const Real* w_ih, const Real* w_hh, const Real* dy,
                        int ldy, const Real* dhN, const Real* dcN, const int* lengths, const DirectionShape& s) {
  const Cell cell = s.cell;
  const int T = s.T, B = s.B, I = s.I, H = s.H, GH = gate_count(cell) * H;
  const size_t BH = size_t(B) * H, TB = size_t(T) * B;
  const Layout L(cell, T, B, H);
  const bool gru = cell == Cell::Gru, lstm = cell == Cell::Lstm, relu = cell == Cell::RnnRelu;
  Real* dgi = ws + L.gi;  // forward's gi is dead by now
  Real* dgh = gru ? ws + L.dgh : dgi;
  const Real* cache = ws + L.cache;
  const Real* hs = ws + L.hs;
  const Real* cs = ws + L.cs;
  Real* dh = ws + L.dh;
  Real* dh_next = ws + L.dh_next;
  Real* dc = ws + L.dc;
  const int CW = cache_width(cell, H);

  copy_or_zero(dh, dhN, BH);
  if (lstm) copy_or_zero(dc, dcN, BH);

  for (int k = 0; k < T; ++k) {
    const int t = s.reverse ? k : T - 1 - k;  // the forward order, reversed
    if (dy) {
      const Real* dy_t = dy + size_t(t) * B * ldy;
      for (int b = 0; b < B; ++b) {
        if (!is_active(lengths, b, t)) continue;  // padded outputs are constant zeros
        for (int j = 0; j < H; ++j) dh[size_t(b) * H + j] += dy_t[size_t(b) * ldy + j];
      }
    }
    const Real* h_prev = hs + size_t(input_slot(s, t)) * BH;
    const Real* h = hs + size_t(output_slot(s, t)) * BH;
    Real* dgi_t = dgi + size_t(t) * B * GH;
    Real* dgh_t = dgh + size_t(t) * B * GH;
    for (int b = 0; b < B; ++b) {
      const bool active = is_active(lengths, b, t);
      const size_t hb = size_t(b) * H;
      const Real* cache_b = cache + (size_t(t) * B + b) * CW;
      if (gru) {
        gru_row_backward(dgi_t + size_t(b) * GH, dgh_t + size_t(b) * GH, dh_next + hb, dh + hb, cache_b,
                         h_prev + hb, active, H);
      } else if (lstm) {
        const Real* c = cs + size_t(output_slot(s, t)) * BH + hb;
        const Real* c_prev = cs + size_t(input_slot(s, t)) * BH + hb;
        lstm_row_backward(dgi_t + size_t(b) * GH, dh_next + hb, dc + hb, dh + hb, cache_b, c, c_prev, active, H);
      } else {
        rnn_row_backward(dgi_t + size_t(b) * GH, dh_next + hb, dh + hb, h + hb, active, relu, H);
      }
    }
    gemm(false, false, B, H, GH, Real(1), dgh_t, GH, w_hh, H, Real(1), dh_next, H);
    std::swap(dh, dh_next);
  }

  // Weight gradients and dx: one GEMM each over all T*B rows.
  const Real* h_inputs = hs + (s.reverse ? BH : 0);  // row t*B+b = state fed into step t
  gemm(true, false, GH, I, int(TB), Real(1), dgi, GH, x, I, Real(1), dw_ih, I);
  gemm(true, false, GH, H, int(TB), Real(1), dgh, GH, h_inputs, H, Real(1), dw_hh, H);
  if (db_ih) add_column_sums(db_ih, dgi, TB, GH);
  if (db_hh) add_column_sums(db_hh, dgh, TB, GH);
  if (dx) gemm(false, false, int(TB), I, GH, Real(1), dgi, GH, w_ih, I, accumulate_dx ? Real(1) : Real(0), dx, I);
  if (dh0) std::memcpy(dh0, dh, BH * sizeof(Real));
  if (lstm && dc0) std::memcpy(dc0, dc, BH * sizeof(Real));
}

template void direction_forward<float>(float*, int, float*, float*, float*, const float*, const float*, const float*,
                                       const float*, const float*, const float*, const float*, const int*,
                                       const DirectionShape&);
template void direction_forward<double>(double*, int, double*, double*, double*, const double*, const double*,
                                        const double*, const double*, const double*, const double*, const double*,
                                        const int*, const DirectionShape&);
template void direction_backward<float>(float*, bool, float*, float*, float*, float*, float*, float*, float*,
                                        const float*, const float*, const float*, const float*, int, const float*,
                                        const float*, const int*, const DirectionShape&);
template void direction_backward<double>(double*, bool, double*, double*, double*, double*, double*, double*,
                                         double*, const double*, const double*, const double*, const double*, int,
                                         const double*, const double*, const int*, const DirectionShape&);

}  // namespace rnnkit
