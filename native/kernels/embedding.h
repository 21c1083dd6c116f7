// Embedding lookup, PyTorch's nn.Embedding: out[n] = W[ids[n]].
// Legend: N looked-up ids, V vocabulary (rows of W), E embedding size.
// ids must lie in [0, V): the binding checks them, the kernel trusts them.
#pragma once

namespace rnnkit {

template <typename Real>
void embedding_forward(Real* out /*[N,E]*/, const Real* w /*[V,E]*/, const int* ids /*[N]*/, int N, int E);

// Accumulates dout[n] into dw[ids[n]], skipping ids equal to padding_idx (-1: none), as PyTorch's padding_idx.
template <typename Real>
void embedding_backward(Real* dw /*[V,E]*/, const Real* dout /*[N,E]*/, const int* ids /*[N]*/, int padding_idx,
                        int N, int E);

}  // namespace rnnkit
