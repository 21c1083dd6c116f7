// Fully connected layer, PyTorch's nn.Linear: y = x W^T + b over N rows.
// Legend: N rows (all leading dims flattened), I input size, O output size.
#pragma once

namespace rnnkit {

// b may be null (no bias).
template <typename Real>
void linear_forward(Real* y /*[N,O]*/, const Real* x /*[N,I]*/, const Real* w /*[O,I]*/, const Real* b /*[O]*/,
                    int N, int I, int O);

// Accumulates dw (and db unless null); writes dx, or adds to it when accumulate_dx (dx may be null).
template <typename Real>
void linear_backward(Real* dx /*[N,I]*/, bool accumulate_dx, Real* dw /*[O,I]*/, Real* db /*[O]*/,
                     const Real* dy /*[N,O]*/, const Real* x /*[N,I]*/, const Real* w /*[O,I]*/, int N, int I, int O);

}  // namespace rnnkit
