// One direction of one recurrent layer: the time loop and its BPTT.
// See recurrent_direction.h for the contract; cell math lives in *_cell.h.
#include "recurrent_direction.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "blas.h"
#include "cell_passes.h"
#include "gru_reset_before_cell.h"
#include "packed_gemm.h"
#include "parallel.h"
#include "row_stealing.h"
#include "rows_gemm.h"

namespace rnnkit {
namespace {

// Forward packs W_ih and W_hh once per call (one pass over each) when there are
// several steps or many rows; a one-step call with a few rows (a streaming step)
// reads them as they are (rows_gemm's register-transposing kernel).
inline bool forward_packs(int T, int B) { return T >= 2 || B >= 8; }

// Workspace layout of one direction, in floats. S is the width of h: P with a projection, else H.
//   gates  [T,B,GH]   x W_ih^T (+ h W_hh^T for RNN/LSTM), overwritten in place at
//                     each step by the activations backward needs (GRU r,z,n;
//                     LSTM i,f,g,o); backward only reads it, so it may run twice
//   ghn    [T,B,H]    GRU: W_hn h + b_hn (cache); GruResetBefore: r * h_prev (dW_hn's operand)
//   hs     [T+1,B,S]  states; slot of step t's input is t (forward) or t+1 (reverse)
//   cs     [T+1,B,H]  cell states, LSTM only
//   ms     [T,B,H]    projection only: m = o * tanh(c) of each step (h = m W_hr^T; dW_hr's operand)
//   step   [B,GH]     GRU: h W_hh^T of the current step, then d(h W_hh^T)
//   bias   [bias_width] combined biases
//   fwd_ih, fwd_hh, fwd_hn  W_ih, W_hh (GruResetBefore: its r, z rows, and fwd_hn its n rows) packed
//          for forward's products (rows_gemm_pack) when forward_packs(T, B); empty otherwise
//   backward only: wpack  W_hh packed for the per-step products d(gh) W_hh (float with AVX2,
//          packed_gemm.h; GruResetBefore: its r, z rows, and wpack_n its n rows, as two products);
//          wpack_hr  W_hr packed likewise (projection); wpack_ih  W_ih packed likewise, so that
//          dx_t = d(gi_t) W_ih runs inside the time loop (one direction); dgates [T,B,GH] d(gi);
//          dghn [T,B,H] GRU d(W_hn h + b_hn); dhs [T,B,P] projection: d(h_t) of each step (dW_hr's
//          operand); dh, dh_next [B,S]; dm [B,H] projection: d(m); dc [B,H]
// Forward's products (x W_ih^T for all steps, h W_hh^T per step) are rows_gemm: a sequence
// gives the same bits alone or in any batch, packed weights or not (rows_gemm.h).
struct Layout {
  size_t gates, ghn, hs, cs, ms, step, bias, fwd_ih, fwd_hh, fwd_hn, fwd_hr, wpack, wpack_n, wpack_hr, wpack_ih,
      dgates, dghn, dhs, dh, dh_next, dm, dc, forward_total, total;
  explicit Layout(const DirectionShape& s) {
    const Cell cell = s.cell;
    const int T = s.T, B = s.B, I = s.I, H = s.H, S = state_size(s);
    const size_t TB = size_t(T) * B, GH = size_t(gate_count(cell)) * H, BH = size_t(B) * H, BS = size_t(B) * S;
    const bool gru = is_gru(cell), lstm = cell == Cell::Lstm, before = cell == Cell::GruResetBefore;
    const bool proj = lstm && s.P > 0;
    size_t at = 0;
    gates = at;   at += TB * GH;
    ghn = at;     at += gru ? TB * size_t(H) : 0;
    hs = at;      at += (size_t(T) + 1) * BS;
    cs = at;      at += lstm ? (size_t(T) + 1) * BH : 0;
    ms = at;      at += proj ? TB * size_t(H) : 0;
    step = at;    at += gru ? size_t(B) * GH : 0;
    bias = at;    at += size_t(bias_width(cell, H));
    const bool pack = forward_packs(T, B);
    fwd_ih = at;  at += pack ? rows_gemm_packed_floats(int(GH), I) : 0;
    fwd_hh = at;  at += pack ? rows_gemm_packed_floats(before ? 2 * H : int(GH), S) : 0;
    fwd_hn = at;  at += pack && before ? rows_gemm_packed_floats(H, H) : 0;
    fwd_hr = at;  at += pack && proj ? rows_gemm_packed_floats(s.P, H) : 0;
    forward_total = at;
    wpack = at;   at += packed_floats(before ? 2 * H : int(GH), S);
    wpack_n = at; at += before ? packed_floats(H, H) : 0;
    wpack_hr = at; at += proj ? packed_floats(s.P, H) : 0;
    wpack_ih = at; at += packed_floats(int(GH), I);
    dgates = at;  at += TB * GH;
    dghn = at;    at += gru ? TB * size_t(H) : 0;
    dhs = at;     at += proj ? TB * size_t(s.P) : 0;
    dh = at;      at += BS;
    dh_next = at; at += BS;
    dm = at;      at += proj ? BH : 0;
    dc = at;      at += lstm ? BH : 0;
    total = at;
  }
};

// Backward's per-step products d(gh) W_hh run on W_hh packed once per call when
// the CPU has the micro-kernel (float only) and the call has enough steps to pay
// for packing; otherwise BLAS on W_hh as it is.
template <typename Real>
bool use_packed(const DirectionShape&) { return false; }
template <>
bool use_packed<float>(const DirectionShape& s) { return packed_gemm_available() && s.T >= 4; }

// Whether dx_t (backward, one direction) runs inside the time loop on packed
// W_ih: pays while packed W_ih and W_hh stay close to
// the core across steps. Measured on a 1 MB-L2 core: +3-17% at H=256 (1.5-2 MB
// of packed weights), -8-19% at H=512 (6-8 MB streamed from L3 every step by
// both threads); the cut is set at 2.5x L2.
bool fuse_input(const DirectionShape& s, bool packed) {
  if (!packed) return false;
  static const double budget = [] {
    long l2 = 0;
#if defined(_SC_LEVEL2_CACHE_SIZE)
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return 2.5 * double(l2 > 0 ? l2 : 1 << 20);
  }();
  const double bytes = 4.0 * (double(s.I) + s.H) * gate_count(s.cell) * s.H;
  // Slices of a few rows, or short rows (small I), run the micro-kernel below
  // BLAS's speed on the one big x W_ih^T (measured -2-6% on configs b and d).
  return bytes <= budget && s.B >= 32 && s.I >= 128;
}

// W [GH,K] (W_hh or W_ih) packed as it is, for backward's d(g) W (packed_gemm.h).
template <typename Real>
void pack_for_backward(Real*, const Real*, int, int) {}
template <>
void pack_for_backward<float>(float* dst, const float* w, int GH, int K) {
  pack_operand(dst, w, GH, K, false);
}

// Backward's C[rows, N] (+)= A[rows, K] W_hh: packed micro-kernel or BLAS.
template <typename Real>
void recurrent_product(Real* C, int ldc, const Real* A, int lda, const Real* w_hh, const Real* packed, int rows,
                       int N, int K, bool accumulate, bool use_pack) {
  if (use_pack) {
    packed_gemm(reinterpret_cast<float*>(C), ldc, reinterpret_cast<const float*>(A), lda,
                reinterpret_cast<const float*>(packed), rows, N, K, accumulate);
  } else {
    gemm(false, false, rows, N, K, Real(1), A, lda, w_hh, N, accumulate ? Real(1) : Real(0), C, ldc);
  }
}

}  // namespace

// Whether a time loop's rows may change threads mid-loop: only when every
// per-step product gives each row bits of its own (row_stealing.h).
template <typename Real>
bool rows_handover_safe(const DirectionShape& s, bool backward) {
  return sizeof(Real) == sizeof(float) && (!backward || use_packed<Real>(s));
}
template bool rows_handover_safe<float>(const DirectionShape&, bool);
template bool rows_handover_safe<double>(const DirectionShape&, bool);

namespace {

inline int input_slot(const DirectionShape& s, int t) { return s.reverse ? t + 1 : t; }
inline int output_slot(const DirectionShape& s, int t) { return s.reverse ? t : t + 1; }

// Rows [b0, b1) of a [B, H] block: copy from src (or zeros when src is null).
template <typename Real>
void copy_rows(Real* dst, const Real* src, int b0, int b1, int H) {
  const size_t from = size_t(b0) * H, n = size_t(b1 - b0) * H;
  if (src) std::memcpy(dst + from, src + from, n * sizeof(Real));
  else std::fill(dst + from, dst + from + n, Real(0));
}

// out_a[j] += sum_r m[r, j] and out_b[j] += the same sum (either may be null), j in [j0, j1).
template <typename Real>
void add_column_sums(Real* out_a, Real* out_b, const Real* m, size_t rows, int ld, int j0, int j1) {
  if (!out_a && !out_b) return;
  for (size_t r = 0; r < rows; ++r) {
    const Real* row = m + r * ld;
    if (out_a) for (int j = j0; j < j1; ++j) out_a[j] += row[j];
    if (out_b) for (int j = j0; j < j1; ++j) out_b[j] += row[j];
  }
}

// Smallest batch slice worth a task of its own, and the least per-step GEMM
// work of a whole loop that pays for waking a worker (measured in bench/).
constexpr int kMinRowsPerPart = 8;
constexpr double kMinLoopFlops = 2e6;

}  // namespace

size_t direction_workspace_floats(const DirectionShape& s, bool training) {
  const Layout L(s);
  return training ? L.total : L.forward_total;
}

int time_loop_parts(Cell cell, int T, int B, int H, int threads, int directions) {
  if (threads <= 1) return 1;
  const double flops = 2.0 * T * B * gate_count(cell) * double(H) * H;
  if (flops < kMinLoopFlops) return 1;
  // One slice per thread (kOversplit); the packed per-step GEMM keeps its speed
  // down to slices of a few rows.
  const int wanted = std::max(1, kOversplit * threads / std::max(1, directions));
  return std::max(1, std::min(wanted, B / kMinRowsPerPart));
}

template <typename Real>
void direction_project_input(Real* ws, const Real* x, const Real* w_ih, const Real* w_hh, const Real* b_ih,
                             const Real* b_hh, const Real* w_hr, const DirectionShape& s) {
  const Layout L(s);
  const int GH = gate_count(s.cell) * s.H, H = s.H, S = state_size(s);
  combine_bias(ws + L.bias, b_ih, b_hh, s.cell, s.H);
  const Real* packed_ih = nullptr;
  if (forward_packs(s.T, s.B)) {
    rows_gemm_pack(ws + L.fwd_ih, w_ih, s.I, GH, s.I);
    packed_ih = ws + L.fwd_ih;
    if (s.cell == Cell::GruResetBefore) {
      rows_gemm_pack(ws + L.fwd_hh, w_hh, H, 2 * H, H);
      rows_gemm_pack(ws + L.fwd_hn, w_hh + size_t(2) * H * H, H, H, H);
    } else {
      rows_gemm_pack(ws + L.fwd_hh, w_hh, S, GH, S);
    }
    if (s.P > 0) rows_gemm_pack(ws + L.fwd_hr, w_hr, H, s.P, H);
  }
  rows_gemm(ws + L.gates, GH, x, s.I, w_ih, s.I, s.T * s.B, GH, s.I, false, packed_ih);
}

template <typename Real>
void direction_prepare_backward(Real* ws, const Real* w_ih, const Real* w_hh, const Real* w_hr, bool fuse_dx,
                                const DirectionShape& s) {
  const Layout L(s);
  if (!use_packed<Real>(s)) return;
  if (s.cell == Cell::GruResetBefore) {  // the n rows are a product of their own
    pack_for_backward(ws + L.wpack, w_hh, 2 * s.H, s.H);
    pack_for_backward(ws + L.wpack_n, w_hh + size_t(2) * s.H * s.H, s.H, s.H);
  } else {
    pack_for_backward(ws + L.wpack, w_hh, gate_count(s.cell) * s.H, state_size(s));
  }
  if (s.P > 0) pack_for_backward(ws + L.wpack_hr, w_hr, s.P, s.H);
  if (fuse_dx) pack_for_backward(ws + L.wpack_ih, w_ih, gate_count(s.cell) * s.H, s.I);
}

bool direction_fuses_dx(const DirectionShape& s, bool is_float, int directions) {
  return is_float && directions == 1 && fuse_input(s, packed_gemm_available() && s.T >= 4);
}

namespace {

// The time loop of an LSTM with a projection (PyTorch's proj_size): per step
// gates += h_prev W_hh^T (K = P), the element-wise pass writes m = o * tanh(c'),
// then h' = m W_hr^T (rows_gemm, batch-invariant like the other forward products;
// W_hh and W_hr packed by direction_project_input when forward_packs).
// A padded row keeps h and c, and its y is zero. Its own loop, so the plain LSTM's
// step does no extra work.
template <typename Real>
void projected_forward_rows(Real* y, int ldy, Real* hN, Real* cN, Real* ws, const Real* w_hh, const Real* w_hr,
                            const Real* h0, const Real* c0, const int* lengths, const DirectionShape& s,
                            RowLease& lease) {
  const int T = s.T, B = s.B, H = s.H, P = s.P, GH = 4 * H, b0 = lease.begin();
  const size_t BH = size_t(B) * H, BP = size_t(B) * P;
  const Layout L(s);
  Real* hs = ws + L.hs;
  Real* cs = ws + L.cs;
  const bool packed = forward_packs(T, B);  // by direction_project_input
  const Real* fwd_hh = packed ? ws + L.fwd_hh : nullptr;
  const Real* fwd_hr = packed ? ws + L.fwd_hr : nullptr;

  StepRows<Real> st;
  st.b0 = b0; st.H = H; st.lengths = lengths; st.bias = ws + L.bias;
  int b1 = b0;
  for (int k = lease.first_step(); k < T; ++k) {
    b1 = lease.begin_step(k);
    const int rows = b1 - b0;
    if (k == 0) {
      copy_rows(hs + size_t(s.reverse ? T : 0) * BP, h0, b0, b1, P);
      copy_rows(cs + size_t(s.reverse ? T : 0) * BH, c0, b0, b1, H);
    }
    const int t = s.reverse ? T - 1 - k : k;
    const Real* h_prev = hs + size_t(input_slot(s, t)) * BP;
    Real* h = hs + size_t(output_slot(s, t)) * BP;
    Real* m = ws + L.ms + size_t(t) * BH;
    Real* gates_t = ws + L.gates + size_t(t) * B * GH;
    rows_gemm(gates_t + size_t(b0) * GH, GH, h_prev + size_t(b0) * P, P, w_hh, P, rows, GH, P, true, fwd_hh);
    st.b1 = b1;
    st.t = t;
    st.gates = gates_t;
    st.h = m;
    st.c_prev = cs + size_t(input_slot(s, t)) * BH;
    st.c = cs + size_t(output_slot(s, t)) * BH;
    lstm_projected_forward_pass(st);
    rows_gemm(h + size_t(b0) * P, P, m + size_t(b0) * H, H, w_hr, H, rows, P, H, false, fwd_hr);
    Real* y_t = y ? y + size_t(t) * B * ldy : nullptr;
    for (int b = b0; b < b1; ++b) {
      Real* hb = h + size_t(b) * P;
      const bool active = lengths == nullptr || t < lengths[b];
      if (!active) std::memcpy(hb, h_prev + size_t(b) * P, size_t(P) * sizeof(Real));
      if (!y_t) continue;
      Real* yb = y_t + size_t(b) * ldy;
      if (active) std::memcpy(yb, hb, size_t(P) * sizeof(Real));
      else std::fill(yb, yb + P, Real(0));
    }
    lease.end_step(k);
  }
  const size_t final_slot = s.reverse ? 0 : size_t(T);
  if (hN) copy_rows(hN, hs + final_slot * BP, b0, b1, P);
  if (cN) copy_rows(cN, cs + final_slot * BH, b0, b1, H);
}

// BPTT of projected_forward_rows. Per step: d(h_t) = dh + dy (zero at a padded step, kept
// in dhs for dW_hr), d(m) = d(h_t) W_hr, the LSTM's element-wise backward on d(m), then
// d(h_prev) = d(gi) W_hh (P wide); a padded step passes dh (and dc) through.
template <typename Real>
void projected_backward_rows(Real* dx, bool accumulate_dx, Real* dh0, Real* dc0, Real* ws, const Real* w_hh,
                             const Real* w_hr, const Real* dy, int ldy, const Real* dhN, const Real* dcN,
                             const int* lengths, const DirectionShape& s, RowLease& lease) {
  const int T = s.T, B = s.B, H = s.H, P = s.P, GH = 4 * H, b0 = lease.begin();
  const size_t BH = size_t(B) * H, BP = size_t(B) * P;
  const Layout L(s);
  const Real* cs = ws + L.cs;
  Real* dh = ws + L.dh;
  Real* dh_next = ws + L.dh_next;
  Real* dm = ws + L.dm;
  Real* dc = ws + L.dc;
  const bool pack = use_packed<Real>(s);
  const int first = lease.first_step();
  if (first % 2) std::swap(dh, dh_next);  // the buffers swap after every step

  StepRows<Real> st;
  st.b0 = b0; st.H = H; st.lengths = lengths; st.dc = dc; st.dh = dm; st.dy = nullptr;
  int b1 = b0;
  for (int k = first; k < T; ++k) {
    b1 = lease.begin_step(k);
    const int rows = b1 - b0;
    if (k == 0) {
      copy_rows(dh, dhN, b0, b1, P);
      copy_rows(dc, dcN, b0, b1, H);
    }
    const int t = s.reverse ? k : T - 1 - k;  // the forward order, reversed
    Real* dgates_t = ws + L.dgates + size_t(t) * B * GH;
    Real* dht = ws + L.dhs + size_t(t) * BP;
    const Real* dy_t = dy ? dy + size_t(t) * B * ldy : nullptr;
    for (int b = b0; b < b1; ++b) {
      Real* d = dht + size_t(b) * P;
      const Real* g = dh + size_t(b) * P;
      if (lengths && t >= lengths[b]) {
        std::fill(d, d + P, Real(0));
      } else if (dy_t) {
        const Real* e = dy_t + size_t(b) * ldy;
        for (int j = 0; j < P; ++j) d[j] = g[j] + e[j];
      } else {
        std::memcpy(d, g, size_t(P) * sizeof(Real));
      }
    }
    recurrent_product(dm + size_t(b0) * H, H, dht + size_t(b0) * P, P, w_hr, ws + L.wpack_hr, rows, H, P, false,
                      pack);
    st.b1 = b1;
    st.t = t;
    st.gates = ws + L.gates + size_t(t) * B * GH;
    st.dgates = dgates_t;
    st.c_prev = cs + size_t(input_slot(s, t)) * BH;
    st.c = const_cast<Real*>(cs + size_t(output_slot(s, t)) * BH);
    lstm_backward_pass(st);
    if (dx && pack) {  // dx_t = d(gi_t) W_ih for these rows, while d(gi_t) is hot
      const int I = s.I;
      packed_gemm(reinterpret_cast<float*>(dx + (size_t(t) * B + b0) * I), I,
                  reinterpret_cast<const float*>(dgates_t + size_t(b0) * GH), GH,
                  reinterpret_cast<const float*>(ws + L.wpack_ih), rows, I, GH, accumulate_dx);
    }
    recurrent_product(dh_next + size_t(b0) * P, P, dgates_t + size_t(b0) * GH, GH, w_hh, ws + L.wpack, rows, P, GH,
                      false, pack);
    if (lengths) {  // padded step: the state (and its gradient) passes through
      for (int b = b0; b < b1; ++b)
        if (t >= lengths[b]) std::memcpy(dh_next + size_t(b) * P, dh + size_t(b) * P, size_t(P) * sizeof(Real));
    }
    std::swap(dh, dh_next);
    lease.end_step(k);
  }
  if (dh0) copy_rows(dh0, dh, b0, b1, P);
  if (dc0) copy_rows(dc0, dc, b0, b1, H);
}

}  // namespace

template <typename Real>
void direction_forward_rows(Real* y, int ldy, Real* hN, Real* cN, Real* ws, const Real* w_hh, const Real* w_hr,
                            const Real* h0, const Real* c0, const int* lengths, const DirectionShape& s,
                            RowLease& lease) {
  if (s.P > 0) {
    projected_forward_rows(y, ldy, hN, cN, ws, w_hh, w_hr, h0, c0, lengths, s, lease);
    return;
  }
  const Cell cell = s.cell;
  const int T = s.T, B = s.B, H = s.H, GH = gate_count(cell) * H, b0 = lease.begin();
  const size_t BH = size_t(B) * H;
  const Layout L(s);
  const bool gru = is_gru(cell), lstm = cell == Cell::Lstm, before = cell == Cell::GruResetBefore;
  Real* hs = ws + L.hs;
  Real* cs = ws + L.cs;
  Real* step = ws + L.step;
  const bool packed = forward_packs(T, B);  // by direction_project_input
  const Real* fwd_hh = packed ? ws + L.fwd_hh : nullptr;
  const Real* fwd_hn = packed ? ws + L.fwd_hn : nullptr;

  StepRows<Real> st;
  st.b0 = b0; st.H = H; st.lengths = lengths; st.relu = cell == Cell::RnnRelu;
  st.bias = ws + L.bias; st.gh = step; st.ldy = ldy;
  int b1 = b0;
  for (int k = lease.first_step(); k < T; ++k) {
    b1 = lease.begin_step(k);
    const int rows = b1 - b0;
    if (k == 0) {
      copy_rows(hs + size_t(s.reverse ? T : 0) * BH, h0, b0, b1, H);
      if (lstm) copy_rows(cs + size_t(s.reverse ? T : 0) * BH, c0, b0, b1, H);
    }
    const int t = s.reverse ? T - 1 - k : k;
    const Real* h_prev = hs + size_t(input_slot(s, t)) * BH;
    Real* gates_t = ws + L.gates + size_t(t) * B * GH;
    if (before) rows_gemm(step + size_t(b0) * GH, GH, h_prev + size_t(b0) * H, H, w_hh, H, rows, 2 * H, H, false, fwd_hh);
    else if (gru) rows_gemm(step + size_t(b0) * GH, GH, h_prev + size_t(b0) * H, H, w_hh, H, rows, GH, H, false, fwd_hh);
    else rows_gemm(gates_t + size_t(b0) * GH, GH, h_prev + size_t(b0) * H, H, w_hh, H, rows, GH, H, true, fwd_hh);
    st.b1 = b1;
    st.t = t;
    st.h_prev = h_prev;
    st.h = hs + size_t(output_slot(s, t)) * BH;
    if (lstm) {
      st.c_prev = cs + size_t(input_slot(s, t)) * BH;
      st.c = cs + size_t(output_slot(s, t)) * BH;
    }
    st.y = y ? y + size_t(t) * B * ldy : nullptr;
    st.gates = gates_t;
    st.ghn = gru ? ws + L.ghn + size_t(t) * BH : nullptr;
    if (before) {  // r first, then the n block's product on r * h_prev
      gru_reset_before_forward_a(st);
      rows_gemm(step + size_t(b0) * GH + 2 * H, GH, st.ghn + size_t(b0) * H, H, w_hh + size_t(2) * H * H, H, rows, H,
                H, false, fwd_hn);
      gru_reset_before_forward_b(st);
    } else {
      forward_pass(cell, st);
    }
    lease.end_step(k);
  }
  const size_t final_slot = s.reverse ? 0 : size_t(T);
  if (hN) copy_rows(hN, hs + final_slot * BH, b0, b1, H);
  if (lstm && cN) copy_rows(cN, cs + final_slot * BH, b0, b1, H);
}

template <typename Real>
void direction_backward_rows(Real* dx, bool accumulate_dx, Real* dh0, Real* dc0, Real* ws, const Real* w_hh,
                             const Real* w_hr, const Real* dy, int ldy, const Real* dhN, const Real* dcN,
                             const int* lengths, const DirectionShape& s, RowLease& lease) {
  if (s.P > 0) {
    projected_backward_rows(dx, accumulate_dx, dh0, dc0, ws, w_hh, w_hr, dy, ldy, dhN, dcN, lengths, s, lease);
    return;
  }
  const Cell cell = s.cell;
  const int T = s.T, B = s.B, H = s.H, GH = gate_count(cell) * H, b0 = lease.begin();
  const size_t BH = size_t(B) * H, rb = size_t(b0) * H;
  const Layout L(s);
  const bool gru = is_gru(cell), lstm = cell == Cell::Lstm, before = cell == Cell::GruResetBefore;
  const Real* hs = ws + L.hs;
  const Real* cs = ws + L.cs;
  Real* dgh = ws + L.step;
  Real* dh = ws + L.dh;
  Real* dh_next = ws + L.dh_next;
  Real* dc = ws + L.dc;
  const bool pack = use_packed<Real>(s);
  const int first = lease.first_step();
  if (first % 2) std::swap(dh, dh_next);  // the buffers swap after every step

  StepRows<Real> st;
  st.b0 = b0; st.H = H; st.lengths = lengths; st.relu = cell == Cell::RnnRelu;
  st.ldy = ldy; st.dgh = dgh; st.dc = dc;
  int b1 = b0;
  for (int k = first; k < T; ++k) {
    b1 = lease.begin_step(k);
    const int rows = b1 - b0;
    if (k == 0) {
      copy_rows(dh, dhN, b0, b1, H);
      if (lstm) copy_rows(dc, dcN, b0, b1, H);
    }
    const int t = s.reverse ? k : T - 1 - k;  // the forward order, reversed
    Real* dgates_t = ws + L.dgates + size_t(t) * B * GH;
    st.b1 = b1;
    st.t = t;
    st.gates = ws + L.gates + size_t(t) * B * GH;
    st.dgates = dgates_t;
    st.ghn = gru ? ws + L.ghn + size_t(t) * BH : nullptr;
    st.dghn = gru ? ws + L.dghn + size_t(t) * BH : nullptr;
    st.h_prev = hs + size_t(input_slot(s, t)) * BH;
    st.h_out = hs + size_t(output_slot(s, t)) * BH;
    if (lstm) {
      st.c_prev = cs + size_t(input_slot(s, t)) * BH;
      st.c = const_cast<Real*>(cs + size_t(output_slot(s, t)) * BH);
    }
    st.dh = dh;
    st.dh_next = dh_next;
    st.dy = dy ? dy + size_t(t) * B * ldy : nullptr;
    if (before) {  // d(n) first, d(r * h) = d(n) W_hn into the r block, then d(r)
      gru_reset_before_backward_a(st);
      Real* dgh_rows = dgh + size_t(b0) * GH;
      recurrent_product(dgh_rows, GH, dgh_rows + 2 * H, GH, w_hh + size_t(2) * H * H, ws + L.wpack_n, rows, H, H,
                        false, pack);
      gru_reset_before_backward_b(st);
    } else {
      backward_pass(cell, st);
    }
    if (dx && pack) {  // dx_t = d(gi_t) W_ih for these rows, while d(gi_t) is hot
      const int I = s.I;
      packed_gemm(reinterpret_cast<float*>(dx + (size_t(t) * B + b0) * I), I,
                  reinterpret_cast<const float*>(dgates_t + size_t(b0) * GH), GH,
                  reinterpret_cast<const float*>(ws + L.wpack_ih), rows, I, GH, accumulate_dx);
    }
    if (before) {  // the n rows reached h_prev through d(r * h) already
      recurrent_product(dh_next + rb, H, dgh + size_t(b0) * GH, GH, w_hh, ws + L.wpack, rows, H, 2 * H, true, pack);
    } else if (gru) {
      recurrent_product(dh_next + rb, H, dgh + size_t(b0) * GH, GH, w_hh, ws + L.wpack, rows, H, GH, true, pack);
    } else {
      recurrent_product(dh_next + rb, H, dgates_t + size_t(b0) * GH, GH, w_hh, ws + L.wpack, rows, H, GH, false, pack);
      if (lengths) {  // padded step: the state (and its gradient) passes through
        for (int b = b0; b < b1; ++b)
          if (t >= lengths[b]) std::memcpy(dh_next + size_t(b) * H, dh + size_t(b) * H, size_t(H) * sizeof(Real));
      }
    }
    std::swap(dh, dh_next);
    lease.end_step(k);
  }
  if (dh0) copy_rows(dh0, dh, b0, b1, H);
  if (lstm && dc0) copy_rows(dc0, dc, b0, b1, H);
}

template <typename Real>
void direction_weight_gradients(Real* dx, bool accumulate_dx, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                                Real* dw_hr, const Real* ws, const Real* x, const Real* w_ih, const DirectionShape& s,
                                int part, int parts) {
  const Cell cell = s.cell;
  const int T = s.T, B = s.B, I = s.I, H = s.H, S = state_size(s), GH = gate_count(cell) * H, TB = T * B;
  const Layout L(s);
  const Real* dgi = ws + L.dgates;
  const Real* h_inputs = ws + L.hs + (s.reverse ? size_t(B) * S : 0);  // row t*B+b = state fed into step t
  const Range g = split_range(GH, parts, part, 16);
  const int rows = g.end - g.begin;
  if (rows > 0) {
    gemm(true, false, rows, I, TB, Real(1), dgi + g.begin, GH, x, I, Real(1), dw_ih + size_t(g.begin) * I, I);
    if (is_gru(cell)) {
      // d(gh) is d(gi) for the r and z blocks and ghn's gradient for the n block, whose
      // product took h (GruResetBefore: r * h, kept in the ghn slot).
      const int split = 2 * H;
      const int a0 = g.begin, a1 = std::min(g.end, split), n0 = std::max(g.begin, split), n1 = g.end;
      const Real* dghn = ws + L.dghn;
      const Real* n_inputs = cell == Cell::GruResetBefore ? ws + L.ghn : h_inputs;
      if (a1 > a0) {
        gemm(true, false, a1 - a0, H, TB, Real(1), dgi + a0, GH, h_inputs, H, Real(1), dw_hh + size_t(a0) * H, H);
        add_column_sums(db_ih, db_hh, dgi, size_t(TB), GH, a0, a1);
      }
      if (n1 > n0) {
        gemm(true, false, n1 - n0, H, TB, Real(1), dghn + (n0 - split), H, n_inputs, H, Real(1),
             dw_hh + size_t(n0) * H, H);
        add_column_sums(db_ih, static_cast<Real*>(nullptr), dgi, size_t(TB), GH, n0, n1);
        if (db_hh) add_column_sums(db_hh + split, static_cast<Real*>(nullptr), dghn, size_t(TB), H, n0 - split, n1 - split);
      }
    } else {
      gemm(true, false, rows, S, TB, Real(1), dgi + g.begin, GH, h_inputs, S, Real(1), dw_hh + size_t(g.begin) * S, S);
      add_column_sums(db_ih, db_hh, dgi, size_t(TB), GH, g.begin, g.end);
    }
  }
  if (dw_hr && s.P > 0) {  // dW_hr += sum over steps of d(h_t)^T m_t, its rows split like the gates'
    const Range p = split_range(s.P, parts, part, 4);
    if (p.end > p.begin)
      gemm(true, false, p.end - p.begin, H, TB, Real(1), ws + L.dhs + p.begin, s.P, ws + L.ms, H, Real(1),
           dw_hr + size_t(p.begin) * H, H);
  }
  if (dx) {
    const Range r = split_range(TB, parts, part, 16);
    if (r.end > r.begin)
      gemm(false, false, r.end - r.begin, I, GH, Real(1), dgi + size_t(r.begin) * GH, GH, w_ih, I,
           accumulate_dx ? Real(1) : Real(0), dx + size_t(r.begin) * I, I);
  }
}

template <typename Real>
void direction_forward(Real* y, int ldy, Real* hN, Real* cN, Real* ws, const Real* x, const Real* w_ih,
                       const Real* w_hh, const Real* b_ih, const Real* b_hh, const Real* w_hr, const Real* h0,
                       const Real* c0, const int* lengths, const DirectionShape& s) {
  direction_project_input(ws, x, w_ih, w_hh, b_ih, b_hh, w_hr, s);
  const int parts = time_loop_parts(s.cell, s.T, s.B, s.H, num_threads(), 1);
  run_time_loops(1, parts, s.B, s.T, rows_handover_safe<Real>(s, false), [&](RowLease& rows) {
    direction_forward_rows(y, ldy, hN, cN, ws, w_hh, w_hr, h0, c0, lengths, s, rows);
  });
}

template <typename Real>
void direction_backward(Real* dx, bool accumulate_dx, Real* dh0, Real* dc0, Real* dw_ih, Real* dw_hh, Real* db_ih,
                        Real* db_hh, Real* dw_hr, Real* ws, const Real* x, const Real* w_ih, const Real* w_hh,
                        const Real* w_hr, const Real* dy, int ldy, const Real* dhN, const Real* dcN,
                        const int* lengths, const DirectionShape& s) {
  const bool fuse_dx = dx && direction_fuses_dx(s, sizeof(Real) == sizeof(float), 1);
  direction_prepare_backward(ws, w_ih, w_hh, w_hr, fuse_dx, s);
  Real* loop_dx = fuse_dx ? dx : nullptr;
  const int parts = time_loop_parts(s.cell, s.T, s.B, s.H, num_threads(), 1);
  run_time_loops(1, parts, s.B, s.T, rows_handover_safe<Real>(s, true), [&](RowLease& rows) {
    direction_backward_rows(loop_dx, accumulate_dx, dh0, dc0, ws, w_hh, w_hr, dy, ldy, dhN, dcN, lengths, s, rows);
  });
  const int wparts = weight_gradient_parts(s.T, s.B, s.I, s.H, gate_count(s.cell), num_threads());
  parallel_for(wparts, [&](int p) {
    direction_weight_gradients(fuse_dx ? nullptr : dx, accumulate_dx, dw_ih, dw_hh, db_ih, db_hh, dw_hr, ws, x, w_ih,
                               s, p, wparts);
  });
}

#define RNNKIT_INSTANTIATE(Real)                                                                                    \
  template void direction_project_input<Real>(Real*, const Real*, const Real*, const Real*, const Real*,           \
                                              const Real*, const Real*, const DirectionShape&);                     \
  template void direction_prepare_backward<Real>(Real*, const Real*, const Real*, const Real*, bool,              \
                                                 const DirectionShape&);                                            \
  template void direction_forward_rows<Real>(Real*, int, Real*, Real*, Real*, const Real*, const Real*, const Real*, \
                                             const Real*, const int*, const DirectionShape&, RowLease&);            \
  template void direction_backward_rows<Real>(Real*, bool, Real*, Real*, Real*, const Real*, const Real*,          \
                                              const Real*, int, const Real*, const Real*, const int*,              \
                                              const DirectionShape&, RowLease&);                                    \
  template void direction_weight_gradients<Real>(Real*, bool, Real*, Real*, Real*, Real*, Real*, const Real*,       \
                                                 const Real*, const Real*, const DirectionShape&, int, int);        \
  template void direction_forward<Real>(Real*, int, Real*, Real*, Real*, const Real*, const Real*, const Real*,    \
                                        const Real*, const Real*, const Real*, const Real*, const Real*,           \
                                        const int*, const DirectionShape&);                                         \
  template void direction_backward<Real>(Real*, bool, Real*, Real*, Real*, Real*, Real*, Real*, Real*, Real*,      \
                                         const Real*, const Real*, const Real*, const Real*, const Real*, int,      \
                                         const Real*, const Real*, const int*, const DirectionShape&);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
