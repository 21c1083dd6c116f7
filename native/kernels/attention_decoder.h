// A one-layer recurrent decoder with attention over encoder outputs, run for
// all M steps in one call (c_i depends on s_{i-1}, so the loop cannot leave
// native code). Step i: c_i = attend(s_{i-1}, memory); s_i = cell([x_i ; c_i], s_{i-1});
// output_i = [s_i ; c_i]. The x part of the input projection is one GEMM for all steps.
// Legend: M decoder steps, N source steps, B batch, X decoder input size,
// E memory size, H hidden size, A Bahdanau attention size, GH = gates * H.
#pragma once
#include <cstddef>

#include "attention.h"
#include "cell.h"

namespace rnnkit {

struct AttentionDecoderShape {
  Cell cell;
  Score score;
  int M, N, B, X, E, H, A;  // A only for Bahdanau
  // Batch of the memory, when a forward maps its B rows onto S sources (source_rows: the beams of
  // one input read one copy of its memory); 0: S = B, row b reads source b.
  int S = 0;
};

// The memory's batch: S, or B when rows are not mapped.
inline int memory_batch(const AttentionDecoderShape& s) { return s.S > 0 ? s.S : s.B; }

// Parameter pointers (gradients use the same struct). Unused ones are null.
template <typename Real>
struct AttentionDecoderParams {
  Real* w_ih;     // [GH, X+E]: columns 0..X-1 take x_i, X..X+E-1 take c_i
  Real* w_hh;     // [GH, H]
  Real* b_ih;     // [GH] or null
  Real* b_hh;     // [GH] or null
  Real* w_query;  // Bahdanau [A, H]
  Real* w_key;    // Bahdanau [A, E]; General [H, E]
  Real* b_key;    // Bahdanau [A]
  Real* v;        // Bahdanau [A]
};

// The flat parameter layout the bindings use: w_ih, w_hh, [b_ih, b_hh], then
// Bahdanau: w_query, w_key, b_key, v; General: w_key; Dot: nothing.
size_t attention_decoder_param_count(const AttentionDecoderShape& s, bool bias);
template <typename Real>
AttentionDecoderParams<Real> attention_decoder_params(Real* base, const AttentionDecoderShape& s, bool bias);

// Key size K: A (Bahdanau), H (General), E (Dot: keys are the memory itself).
int attention_key_size(const AttentionDecoderShape& s);
size_t attention_decoder_workspace_floats(const AttentionDecoderShape& s);

// What a step-by-step decoding (inference) may take from ws as the previous call with the same
// shape left it: the keys of the same memory, and the per-step weights packed from the same
// parameters. Nothing, by default (training, and any call after the memory or parameters changed).
struct DecoderReuse {
  bool keys = false;
  bool packed_weights = false;
};

// out [M,B,H+E] (zeros at padded steps), weights [M,B,N], hN/cN [B,H]. memory is [N,S,E] with
// S = memory_batch(s); row b attends to memory row source_rows[b] (null: b). Lengths are per row
// and may be null (all valid).
template <typename Real>
void attention_decoder_forward(Real* out, Real* weights, Real* hN, Real* cN, Real* ws,
                               const AttentionDecoderParams<Real>& p, const Real* x /*[M,B,X]*/,
                               const Real* memory /*[N,S,E]*/, const int* source_rows /*[B]*/,
                               const int* source_lengths /*[B]*/,
                               const int* target_lengths /*[B]*/, const Real* h0 /*[B,H]*/, const Real* c0 /*[B,H]*/,
                               DecoderReuse reuse, const AttentionDecoderShape& s);

// After a forward with the same arguments. Accumulates parameter gradients into g
// and d(memory) into dmemory; writes dx, dh0, dc0 (each may be null).
template <typename Real>
void attention_decoder_backward(Real* dx /*[M,B,X]*/, Real* dmemory /*[N,B,E]*/, Real* dh0, Real* dc0,
                                const AttentionDecoderParams<Real>& g, Real* ws, const AttentionDecoderParams<Real>& p,
                                const Real* dout /*[M,B,H+E] or null*/, const Real* dhN, const Real* dcN,
                                const Real* x, const Real* memory, const int* source_lengths,
                                const int* target_lengths, const AttentionDecoderShape& s);

}  // namespace rnnkit
