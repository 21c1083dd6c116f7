// A stack of recurrent layers (numLayers, one or two directions, dropout
// between layers in training): forward over all steps and its full BPTT.
// Parameters live in one flat array in PyTorch's order: for each layer, for
// each direction: w_ih [GH, I_l], w_hh [GH, H], then b_ih [GH], b_hh [GH] when bias,
// then w_hr [P, H] for an LSTM with a projection (w_hh is [GH, P] then).
// Legend: L layers, D directions, S the width of h (P with a projection, else H).
#pragma once
#include <cstddef>
#include <cstdint>
#include "cell.h"

namespace rnnkit {

struct StackConfig {
  Cell cell;
  int num_layers;      // L
  int num_directions;  // D: 1 or 2
  int input_size;      // I of layer 0; later layers take D*H
  int hidden_size;     // H
  bool bias;
  double dropout;      // probability, applied to the inputs of layers 1..L-1 in training
  int proj_size = 0;   // P: LSTM only, 0 < P < H (PyTorch's proj_size; 0: none). h, hN and y are P wide, c stays H
};

// Width of h (outputs, h0, hN): P with a projection, else H.
inline int stack_state_size(const StackConfig& c) { return c.proj_size > 0 ? c.proj_size : c.hidden_size; }

inline int layer_input_size(const StackConfig& c, int layer) {
  return layer == 0 ? c.input_size : c.num_directions * stack_state_size(c);
}

// Offsets of one (layer, direction)'s tensors in the flat parameter array (w_hr == end - P*H, or end without a projection).
struct ParamOffsets { size_t w_ih, w_hh, b_ih, b_hh, w_hr, end; };
ParamOffsets param_offsets(const StackConfig& c, int layer, int direction);
size_t stack_param_count(const StackConfig& c);

// Floats of workspace for a training forward and its backward at T steps and
// batch B; with training = false, the smaller workspace an inference forward needs.
size_t stack_workspace_floats(const StackConfig& c, int T, int B, bool training = true);

// y [T,B,D*S], hN [L*D,B,S], cN [L*D,B,H] (LSTM only). h0 (like hN), c0 (like cN), lengths may be null.
// training: keep what backward needs and apply dropout drawn from dropout_seed.
template <typename Real>
void stack_forward(Real* y, Real* hN, Real* cN, Real* ws, const Real* params, const Real* x /*[T,B,I]*/,
                   const Real* h0, const Real* c0, const int* lengths /*[B]*/, bool training, uint64_t dropout_seed,
                   const StackConfig& c, int T, int B);

// After a training stack_forward with the same arguments. Accumulates dparams;
// writes dx [T,B,I], dh0 [L*D,B,S] and dc0 [L*D,B,H] (each may be null). dy, dhN, dcN may be null.
template <typename Real>
void stack_backward(Real* dx, Real* dh0, Real* dc0, Real* dparams, Real* ws, const Real* params, const Real* dy,
                    const Real* dhN, const Real* dcN, const int* lengths, const StackConfig& c, int T, int B);

}  // namespace rnnkit
