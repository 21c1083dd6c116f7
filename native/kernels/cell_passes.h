// The element-wise pass of one step for any cell kind, dispatched once per
// step (shared by the recurrent layers and the attention decoder). Not for
// GruResetBefore, whose step is two passes around a product of its own
// (gru_reset_before_cell.h, driven by recurrent_direction.cc).
#pragma once
#include "cell.h"
#include "gru_cell.h"
#include "lstm_cell.h"
#include "rnn_cell.h"

namespace rnnkit {

template <typename Real>
void forward_pass(Cell cell, const StepRows<Real>& s) {
  if (cell == Cell::Gru) gru_forward_pass(s);
  else if (cell == Cell::Lstm) lstm_forward_pass(s);
  else rnn_forward_pass(s);
}

template <typename Real>
void backward_pass(Cell cell, const StepRows<Real>& s) {
  if (cell == Cell::Gru) gru_backward_pass(s);
  else if (cell == Cell::Lstm) lstm_backward_pass(s);
  else rnn_backward_pass(s);
}

}  // namespace rnnkit
