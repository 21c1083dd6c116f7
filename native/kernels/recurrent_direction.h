// Forward pass and BPTT of one direction of one recurrent layer over all T
// steps. The input projection and the weight-gradient products are single
// GEMMs over T*B rows; only h W_hh^T and one fused element-wise pass run per
// step (GruResetBefore: two smaller products and two passes, gru_reset_before_cell.h). Batch rows are independent through time, so the time loops take a
// row range [b0, b1): the stack runs row ranges (and directions) on separate
// threads with no synchronisation inside the loop. An LSTM with a projection
// (PyTorch's proj_size) runs loops of its own: h = W_hr (o * tanh(c)) is P wide.
// Legend: T steps, B batch, I input size, H hidden size, GH = gates * H,
// P projection size (LSTM; the width of h, hN and y when set, else H).
#pragma once
#include <cstddef>
#include "cell.h"

namespace rnnkit {

class RowLease;  // row_stealing.h

// Pieces of work per thread (claimed as threads come free) for the weight
// gradients. 2 would soften a core that another process takes: measured on Zen 3
// with one core busy, GRU/LSTM config a fwd+bwd 3-10% faster, but 3-6% slower on
// a quiet machine, the common case. (Time loops hand rows over instead,
// row_stealing.h; rows_gemm splits large products finer.)
constexpr int kOversplit = 1;

struct DirectionShape {
  Cell cell;
  int T, B, I, H;
  bool reverse;  // walk t = T-1 .. 0; with lengths, each row starts at its own last step
  int P = 0;     // LSTM projection size, 0 < P < H (0: none); w_hh is then [GH,P] and w_hr [P,H]
};

// Width of the recurrent state h (and of y's columns): P with a projection, else H.
inline int state_size(const DirectionShape& s) { return s.P > 0 ? s.P : s.H; }

// Floats of workspace one direction needs; forward fills it, backward reads it.
// The backward-only part comes last: training = false gives the forward part.
size_t direction_workspace_floats(const DirectionShape& s, bool training = true);
// The same without a projection.
inline size_t direction_workspace_floats(Cell cell, int T, int B, int I, int H, bool training = true) {
  return direction_workspace_floats(DirectionShape{cell, T, B, I, H, false}, training);
}

// Phase 1 of forward: the combined biases, W_ih and W_hh packed for forward's
// products (when the shape pays for it), and ws's gate buffer = x W_ih^T for
// all T*B rows (one batch-invariant product, rows_gemm.h, split over the pool).
// b_ih/b_hh may be null; w_hr [P,H] is the projection, packed with W_hh (null without one).
template <typename Real>
void direction_project_input(Real* ws, const Real* x /*[T,B,I]*/, const Real* w_ih /*[GH,I]*/,
                             const Real* w_hh /*[GH,H or P]*/, const Real* b_ih /*[GH]*/, const Real* b_hh /*[GH]*/,
                             const Real* w_hr /*[P,H]*/, const DirectionShape& s);

// Before the backward time loops: packs W_hh (and W_hr) for them, and W_ih when fuse_dx
// (one thread, once per call). w_hr: null without a projection.
template <typename Real>
void direction_prepare_backward(Real* ws, const Real* w_ih /*[GH,I]*/, const Real* w_hh /*[GH,H or P]*/,
                                const Real* w_hr /*[P,H]*/, bool fuse_dx, const DirectionShape& s);

// Whether the backward time loop computes dx itself (packed path, one direction:
// two directions would add into the same dx rows from two threads).
bool direction_fuses_dx(const DirectionShape& s, bool is_float, int directions);

// Phase 2 of forward: the time loop for the batch rows of `rows` (a thief may
// take some of them between two steps, row_stealing.h).
// y: output rows at column offset of this direction, leading dimension ldy (zeros at padded steps).
// hN/cN: state after each row's last valid step (may be null). h0, c0, lengths may be null.
// h0, hN and y rows are P wide with a projection (w_hr non-null), c0 and cN stay H wide.
template <typename Real>
void direction_forward_rows(Real* y /*[T,B,ldy]*/, int ldy, Real* hN /*[B,H or P]*/, Real* cN /*[B,H] LSTM*/,
                            Real* ws, const Real* w_hh /*[GH,H or P]*/, const Real* w_hr /*[P,H]*/,
                            const Real* h0 /*[B,H or P]*/, const Real* c0 /*[B,H]*/, const int* lengths /*[B]*/,
                            const DirectionShape& s, RowLease& rows);

// Phase 1 of backward: BPTT for the batch rows of `rows`, after a forward with the same shape.
// Leaves the gate gradients in ws; writes dh0/dc0 rows (each may be null). dy, dhN, dcN may be null.
// dx non-null (only after direction_prepare_backward with fuse_dx): also writes (or, when
// accumulate_dx, adds) these rows of dx; then pass dx = null to direction_weight_gradients.
// With a projection dh0, dhN and dy rows are P wide.
template <typename Real>
void direction_backward_rows(Real* dx /*[T,B,I]*/, bool accumulate_dx, Real* dh0 /*[B,H or P]*/,
                             Real* dc0 /*[B,H]*/, Real* ws, const Real* w_hh, const Real* w_hr /*[P,H]*/,
                             const Real* dy /*[T,B,ldy]*/, int ldy, const Real* dhN /*[B,H or P]*/,
                             const Real* dcN /*[B,H]*/, const int* lengths, const DirectionShape& s, RowLease& rows);

// Phase 2 of backward, part `part` of `parts` (disjoint outputs; run them on
// any threads): accumulates dw_ih, dw_hh, db_ih, db_hh (gate rows of this part), dw_hr (its
// rows of this part, with a projection) and writes dx rows of this part (adds when accumulate_dx).
// dx, db_* may be null; dw_hr is null without a projection.
template <typename Real>
void direction_weight_gradients(Real* dx /*[T,B,I]*/, bool accumulate_dx, Real* dw_ih /*[GH,I]*/,
                                Real* dw_hh /*[GH,H or P]*/, Real* db_ih /*[GH]*/, Real* db_hh /*[GH]*/,
                                Real* dw_hr /*[P,H]*/, const Real* ws, const Real* x /*[T,B,I]*/, const Real* w_ih,
                                const DirectionShape& s, int part, int parts);

// All phases of one direction in order (the pool splits what is worth it). w_hr: null without a projection.
template <typename Real>
void direction_forward(Real* y /*[T,B,ldy]*/, int ldy, Real* hN /*[B,H or P]*/, Real* cN /*[B,H] LSTM*/,
                       Real* ws, const Real* x /*[T,B,I]*/, const Real* w_ih /*[GH,I]*/,
                       const Real* w_hh /*[GH,H or P]*/, const Real* b_ih /*[GH]*/, const Real* b_hh /*[GH]*/,
                       const Real* w_hr /*[P,H]*/, const Real* h0 /*[B,H or P]*/, const Real* c0 /*[B,H]*/,
                       const int* lengths /*[B]*/, const DirectionShape& s);

// Reads the workspace written by direction_forward with the same x, weights and shape.
// Accumulates into dw_ih, dw_hh, db_ih, db_hh (and dw_hr); writes dx (or adds to it when accumulate_dx).
// dy, dhN, dcN may be null (zero). dc0 is written only for LSTM. w_hr, dw_hr: null without a projection.
template <typename Real>
void direction_backward(Real* dx /*[T,B,I]*/, bool accumulate_dx, Real* dh0 /*[B,H or P]*/, Real* dc0 /*[B,H]*/,
                        Real* dw_ih /*[GH,I]*/, Real* dw_hh /*[GH,H or P]*/, Real* db_ih /*[GH]*/,
                        Real* db_hh /*[GH]*/, Real* dw_hr /*[P,H]*/, Real* ws, const Real* x /*[T,B,I]*/,
                        const Real* w_ih, const Real* w_hh, const Real* w_hr, const Real* dy /*[T,B,ldy]*/, int ldy,
                        const Real* dhN /*[B,H or P]*/, const Real* dcN /*[B,H]*/, const int* lengths /*[B]*/,
                        const DirectionShape& s);

// Whether the time loop's rows may change threads mid-loop (row_stealing.h):
// only where every per-step product is batch-invariant (float; backward only on
// the packed path).
template <typename Real>
bool rows_handover_safe(const DirectionShape& s, bool backward);

// How many batch-row ranges a time loop of this shape is worth splitting into
// when `threads` threads serve `directions` independent loops (1 = run whole).
int time_loop_parts(Cell cell, int T, int B, int H, int threads, int directions);

// Parts of direction_weight_gradients for `threads` threads (1 when too small to split).
inline int weight_gradient_parts(int T, int B, int I, int H, int gates, int threads) {
  const double flops = 2.0 * T * B * gates * double(H) * (2.0 * I + H);
  return threads <= 1 || flops < 6e6 ? 1 : kOversplit * threads;
}

}  // namespace rnnkit
