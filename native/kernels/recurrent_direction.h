// Forward pass and BPTT of one direction of one recurrent layer over all T
// steps. The input projection and the weight-gradient products are single
// GEMMs over T*B rows; only h W_hh^T and an element-wise pass run per step.
// Legend: T steps, B batch, I input size, H hidden size, GH = gates * H.
#pragma once
#include <cstddef>
#include "cell.h"

namespace rnnkit {

struct DirectionShape {
  Cell cell;
  int T, B, I, H;
  bool reverse;  // walk t = T-1 .. 0; with lengths, each row starts at its own last step
};

// Floats of workspace one direction needs; forward fills it, backward reads it.
size_t direction_workspace_floats(Cell cell, int T, int B, int H);

// y: output rows at column offset of this direction, leading dimension ldy (zeros at padded steps).
// hN/cN: state after each row's last valid step. b_ih/b_hh, h0/c0, lengths may be null.
template <typename Real>
void direction_forward(Real* y /*[T,B,ldy]*/, int ldy, Real* hN /*[B,H]*/, Real* cN /*[B,H] LSTM*/,
                       Real* ws, const Real* x /*[T,B,I]*/, const Real* w_ih /*[GH,I]*/,
                       const Real* w_hh /*[GH,H]*/, const Real* b_ih /*[GH]*/, const Real* b_hh /*[GH]*/,
                       const Real* h0 /*[B,H]*/, const Real* c0 /*[B,H]*/, const int* lengths /*[B]*/,
                       const DirectionShape& s);

// Reads the workspace written by direction_forward with the same x, weights and shape.
// Accumulates into dw_ih, dw_hh, db_ih, db_hh; writes dx (or adds to it when accumulate_dx).
// dy, dhN, dcN may be null (zero). dc0 is written only for LSTM.
template <typename Real>
void direction_backward(Real* dx /*[T,B,I]*/, bool accumulate_dx, Real* dh0 /*[B,H]*/, Real* dc0 /*[B,H]*/,
                        Real* dw_ih /*[GH,I]*/, Real* dw_hh /*[GH,H]*/, Real* db_ih /*[GH]*/, Real* db_hh /*[GH]*/,
                        Real* ws, const Real* x /*[T,B,I]*/, const Real* w_ih, const Real* w_hh,
                        const Real* dy /*[T,B,ldy]*/, int ldy, const Real* dhN /*[B,H]*/, const Real* dcN /*[B,H]*/,
                        const int* lengths /*[B]*/, const DirectionShape& s);

}  // namespace rnnkit
