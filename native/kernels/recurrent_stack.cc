// Layers and directions of a recurrent stack, wired together; one direction's
// time loop is recurrent_direction.cc. Dropout masks are kept for backward.
#include "recurrent_stack.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "dropout.h"
#include "parallel.h"
#include "recurrent_direction.h"
#include "row_stealing.h"

namespace rnnkit {
namespace {

// Workspace layout of the stack, in floats (inference, training=false, needs
// only the outputs and the directions' forward parts):
//   input0          [T,B,I]         copy of x (backward needs it after the caller moved on), training only
//   outputs[l]      [T,B,D*S]       output of layer l, for l < L-1 (S: P with a projection, else H)
//   dropped[l]      [T,B,D*S]       input of layer l >= 1 after dropout (only when dropout > 0)
//   masks[l]        [T,B,D*S]       its mask
//   grad_a, grad_b  [T,B,D*S]       ping-pong buffers for gradients between layers
//   directions      one block per (layer, direction)
struct StackLayout {
  size_t input0, outputs, dropped, masks, grad_a, grad_b, directions, per_direction, total;
  size_t layer_floats;
  StackLayout(const StackConfig& c, int T, int B, bool training) {
    const size_t TB = size_t(T) * B;
    const int L = c.num_layers, D = c.num_directions;
    const bool drop = training && c.dropout > 0 && L > 1, grads = training && L > 1;
    layer_floats = TB * size_t(D) * stack_state_size(c);
    size_t at = 0;
    input0 = at;     at += training ? TB * size_t(c.input_size) : 0;
    outputs = at;    at += size_t(L - 1) * layer_floats;
    dropped = at;    at += drop ? size_t(L - 1) * layer_floats : 0;
    masks = at;      at += drop ? size_t(L - 1) * layer_floats : 0;
    grad_a = at;     at += grads ? layer_floats : 0;
    grad_b = at;     at += grads ? layer_floats : 0;
    const int widest_input = std::max(c.input_size, c.num_layers > 1 ? D * stack_state_size(c) : 0);
    per_direction = direction_workspace_floats(
        DirectionShape{c.cell, T, B, widest_input, c.hidden_size, false, c.proj_size}, training);
    directions = at; at += size_t(L) * D * per_direction;
    total = at;
  }
  // Slot l-1 holds the tensors that feed layer l (l >= 1).
  size_t output_of(int layer) const { return outputs + size_t(layer) * layer_floats; }
  size_t dropped_into(int layer) const { return dropped + size_t(layer - 1) * layer_floats; }
  size_t mask_into(int layer) const { return masks + size_t(layer - 1) * layer_floats; }
  size_t direction(const StackConfig& c, int layer, int d) const {
    return directions + (size_t(layer) * c.num_directions + d) * per_direction;
  }
};

bool uses_dropout(const StackConfig& c, bool training) { return training && c.dropout > 0 && c.num_layers > 1; }

DirectionShape shape_of(const StackConfig& c, int T, int B, int layer, int direction) {
  return DirectionShape{c.cell, T, B, layer_input_size(c, layer), c.hidden_size, direction == 1, c.proj_size};
}

}  // namespace

ParamOffsets param_offsets(const StackConfig& c, int layer, int direction) {
  const size_t GH = size_t(gate_count(c.cell)) * c.hidden_size, H = size_t(c.hidden_size);
  const size_t S = size_t(stack_state_size(c)), P = size_t(c.proj_size);
  size_t at = 0;
  for (int l = 0; l <= layer; ++l) {
    for (int d = 0; d < c.num_directions; ++d) {
      ParamOffsets p;
      p.w_ih = at;   at += GH * size_t(layer_input_size(c, l));
      p.w_hh = at;   at += GH * S;
      p.b_ih = at;   at += c.bias ? GH : 0;
      p.b_hh = at;   at += c.bias ? GH : 0;
      p.w_hr = at;   at += P * H;
      p.end = at;
      if (l == layer && d == direction) return p;
    }
  }
  return ParamOffsets{0, 0, 0, 0, 0, 0};  // unreachable for valid (layer, direction)
}

size_t stack_param_count(const StackConfig& c) {
  return param_offsets(c, c.num_layers - 1, c.num_directions - 1).end;
}

size_t stack_workspace_floats(const StackConfig& c, int T, int B, bool training) {
  return StackLayout(c, T, B, training).total;
}

template <typename Real>
void stack_forward(Real* y, Real* hN, Real* cN, Real* ws, const Real* params, const Real* x, const Real* h0,
                   const Real* c0, const int* lengths, bool training, uint64_t dropout_seed, const StackConfig& c,
                   int T, int B) {
  const StackLayout S(c, T, B, training);
  const int L = c.num_layers, D = c.num_directions, H = c.hidden_size, W = stack_state_size(c);
  const size_t BH = size_t(B) * H, BW = size_t(B) * W;
  const bool lstm = c.cell == Cell::Lstm, proj = c.proj_size > 0;
  const Real* layer_in = x;
  if (training) {
    std::memcpy(ws + S.input0, x, size_t(T) * B * c.input_size * sizeof(Real));
    layer_in = ws + S.input0;
  }
  for (int l = 0; l < L; ++l) {
    if (l > 0 && uses_dropout(c, training)) {
      Real* mask = ws + S.mask_into(l);
      Real* dropped = ws + S.dropped_into(l);
      make_dropout_mask(mask, S.layer_floats, c.dropout, dropout_seed, uint64_t(l));
      for (size_t i = 0; i < S.layer_floats; ++i) dropped[i] = layer_in[i] * mask[i];
      layer_in = dropped;
    }
    Real* layer_out = l == L - 1 ? y : ws + S.output_of(l);
    for (int d = 0; d < D; ++d) {  // input projections: big GEMMs, split over the pool
      const ParamOffsets p = param_offsets(c, l, d);
      direction_project_input(ws + S.direction(c, l, d), layer_in, params + p.w_ih, params + p.w_hh,
                              c.bias ? params + p.b_ih : nullptr, c.bias ? params + p.b_hh : nullptr,
                              proj ? params + p.w_hr : nullptr, shape_of(c, T, B, l, d));
    }
    // Time loops: directions and batch slices are independent, one thread each
    // (rows change threads when one runs ahead, row_stealing.h).
    const int parts = time_loop_parts(c.cell, T, B, H, num_threads(), D);
    run_time_loops(D, parts, B, T, rows_handover_safe<Real>(shape_of(c, T, B, l, 0), false), [&](RowLease& rows) {
      const int d = rows.group();
      const ParamOffsets p = param_offsets(c, l, d);
      const size_t hstate = size_t(l * D + d) * BW, cstate = size_t(l * D + d) * BH;
      direction_forward_rows(layer_out + size_t(d) * W, D * W, hN ? hN + hstate : nullptr,
                             lstm && cN ? cN + cstate : nullptr, ws + S.direction(c, l, d), params + p.w_hh,
                             proj ? params + p.w_hr : nullptr, h0 ? h0 + hstate : nullptr,
                             lstm && c0 ? c0 + cstate : nullptr, lengths, shape_of(c, T, B, l, d), rows);
    });
    layer_in = layer_out;
  }
}

template <typename Real>
void stack_backward(Real* dx, Real* dh0, Real* dc0, Real* dparams, Real* ws, const Real* params, const Real* dy,
                    const Real* dhN, const Real* dcN, const int* lengths, const StackConfig& c, int T, int B) {
  const StackLayout S(c, T, B, true);
  const int L = c.num_layers, D = c.num_directions, H = c.hidden_size, W = stack_state_size(c);
  const size_t BH = size_t(B) * H, BW = size_t(B) * W;
  const bool lstm = c.cell == Cell::Lstm, proj = c.proj_size > 0, drop = c.dropout > 0 && L > 1;
  Real* grad_in = ws + S.grad_a;   // d(layer input), written by layer l
  Real* grad_out = ws + S.grad_b;  // d(layer output), read by layer l
  const Real* layer_dy = dy;

  for (int l = L - 1; l >= 0; --l) {
    const Real* layer_in = l == 0 ? ws + S.input0 : drop ? ws + S.dropped_into(l) : ws + S.output_of(l - 1);
    Real* layer_dx = l == 0 ? dx : grad_in;
    const int I = layer_input_size(c, l);
    // One direction: the time loop computes dx as it goes (packed path).
    const bool fuse_dx = layer_dx && direction_fuses_dx(shape_of(c, T, B, l, 0), sizeof(Real) == sizeof(float), D);
    for (int d = 0; d < D; ++d) {
      const ParamOffsets p = param_offsets(c, l, d);
      direction_prepare_backward(ws + S.direction(c, l, d), params + p.w_ih, params + p.w_hh,
                                 proj ? params + p.w_hr : nullptr, fuse_dx, shape_of(c, T, B, l, d));
    }
    const int parts = time_loop_parts(c.cell, T, B, H, num_threads(), D);
    run_time_loops(D, parts, B, T, rows_handover_safe<Real>(shape_of(c, T, B, l, 0), true), [&](RowLease& rows) {
      const int d = rows.group();
      const ParamOffsets p = param_offsets(c, l, d);
      const size_t hstate = size_t(l * D + d) * BW, cstate = size_t(l * D + d) * BH;
      direction_backward_rows(fuse_dx ? layer_dx : nullptr, false, dh0 ? dh0 + hstate : nullptr,
                              lstm && dc0 ? dc0 + cstate : nullptr, ws + S.direction(c, l, d), params + p.w_hh,
                              proj ? params + p.w_hr : nullptr, layer_dy ? layer_dy + size_t(d) * W : nullptr, D * W,
                              dhN ? dhN + hstate : nullptr, lstm && dcN ? dcN + cstate : nullptr, lengths,
                              shape_of(c, T, B, l, d), rows);
    });
    // Weight gradients and dx: big GEMMs over all T*B rows, split into disjoint parts.
    const int wparts = weight_gradient_parts(T, B, I, H, gate_count(c.cell), num_threads());
    for (int d = 0; d < D; ++d) {  // directions in turn: both add into dx
      const ParamOffsets p = param_offsets(c, l, d);
      const DirectionShape shape = shape_of(c, T, B, l, d);
      parallel_for(wparts, [&](int part) {
        direction_weight_gradients(fuse_dx ? nullptr : layer_dx, d > 0, dparams + p.w_ih, dparams + p.w_hh,
                                   c.bias ? dparams + p.b_ih : nullptr, c.bias ? dparams + p.b_hh : nullptr,
                                   proj ? dparams + p.w_hr : nullptr, ws + S.direction(c, l, d), layer_in,
                                   params + p.w_ih, shape, part, wparts);
      });
    }
    if (l == 0) break;
    if (drop) {
      const Real* mask = ws + S.mask_into(l);
      for (size_t i = 0; i < S.layer_floats; ++i) grad_in[i] *= mask[i];
    }
    std::swap(grad_in, grad_out);
    layer_dy = grad_out;
  }
}

template void stack_forward<float>(float*, float*, float*, float*, const float*, const float*, const float*,
                                   const float*, const int*, bool, uint64_t, const StackConfig&, int, int);
template void stack_forward<double>(double*, double*, double*, double*, const double*, const double*, const double*,
                                    const double*, const int*, bool, uint64_t, const StackConfig&, int, int);
template void stack_backward<float>(float*, float*, float*, float*, float*, const float*, const float*, const float*,
                                    const float*, const int*, const StackConfig&, int, int);
template void stack_backward<double>(double*, double*, double*, double*, double*, const double*, const double*,
                                     const double*, const double*, const int*, const StackConfig&, int, int);

}  // namespace rnnkit
