// Attention scoring for one decoder step, forward and backward, masked over
// padded source positions (they get weight 0 and gradient 0).
//   additive (Bahdanau): e_j = v . tanh(q + k_j), q = W_q s, k_j = W_k h_j + b_k
//   multiplicative (Luong): e_j = q . k_j, q = s; dot: k_j = h_j; general: k_j = W_g h_j
//   a = softmax_j(e), c = sum_j a_j h_j
// Legend: N source steps, B batch, E memory size, K key size (A or H).
#pragma once
#include <cmath>

#include "fast_math.h"

namespace rnnkit {

enum class Score { Bahdanau = 0, Dot = 1, General = 2 };

// One batch row b at one decoder step. memory/keys are [N,B,*] time-major.
// z [N,A] keeps tanh(q + k_j) for Bahdanau's backward (null otherwise).
template <typename Real>
RNNKIT_INLINE void attention_row_forward(Real* context /*[E]*/, Real* weights /*[N]*/, Real* z /*[N,K] or null*/,
                           const Real* query /*[K]*/, const Real* keys /*[N,B,K]*/, const Real* memory /*[N,B,E]*/,
                           const Real* v /*[K] Bahdanau*/, Score score, int b, int length, int N, int B, int E,
                           int K) {
  Real max_e = -INFINITY;
  for (int j = 0; j < length; ++j) {
    const Real* k = keys + (size_t(j) * B + b) * K;
    Real e = 0;
    if (score == Score::Bahdanau) {
      Real* zj = z + size_t(j) * K;
      for (int a = 0; a < K; ++a) zj[a] = act_tanh(query[a] + k[a]);
      e = dot(v, zj, K);
    } else {
      e = dot(query, k, K);
    }
    weights[j] = e;
    if (e > max_e) max_e = e;
  }
  Real total = 0;
  for (int j = 0; j < length; ++j) { weights[j] = act_exp(weights[j] - max_e); total += weights[j]; }
  for (int j = 0; j < length; ++j) weights[j] /= total;
  for (int j = length; j < N; ++j) weights[j] = Real(0);
  for (int e = 0; e < E; ++e) context[e] = Real(0);
  for (int j = 0; j < length; ++j) {
    const Real* h = memory + (size_t(j) * B + b) * E;
    for (int e = 0; e < E; ++e) context[e] += weights[j] * h[e];
  }
}

// Given d(context), accumulates d(memory) and d(keys) rows of batch b, d(query) and d(v).
// scratch [N] holds d(scores). For Dot, keys == memory and dkeys == dmemory.
template <typename Real>
RNNKIT_INLINE void attention_row_backward(Real* dquery /*[K]*/, Real* dkeys /*[N,B,K]*/, Real* dmemory /*[N,B,E]*/,
                            Real* dv /*[K] Bahdanau*/, Real* scratch /*[N]*/, const Real* dcontext /*[E]*/,
                            const Real* weights /*[N]*/, const Real* z /*[N,K] or null*/, const Real* query /*[K]*/,
                            const Real* keys, const Real* memory, const Real* v, Score score, int b, int length,
                            int B, int E, int K) {
  Real dot_sum = 0;
  for (int j = 0; j < length; ++j) {
    const Real* h = memory + (size_t(j) * B + b) * E;
    Real* dh = dmemory + (size_t(j) * B + b) * E;
    const Real da = dot(dcontext, h, E);
    for (int e = 0; e < E; ++e) dh[e] += weights[j] * dcontext[e];
    scratch[j] = da;
    dot_sum += weights[j] * da;
  }
  for (int j = 0; j < length; ++j) {
    const Real de = weights[j] * (scratch[j] - dot_sum);
    const Real* k = keys + (size_t(j) * B + b) * K;
    Real* dk = dkeys + (size_t(j) * B + b) * K;
    if (score == Score::Bahdanau) {
      const Real* zj = z + size_t(j) * K;
      for (int a = 0; a < K; ++a) {
        dv[a] += de * zj[a];
        const Real dpre = de * v[a] * (Real(1) - zj[a] * zj[a]);
        dquery[a] += dpre;
        dk[a] += dpre;
      }
    } else {
      for (int a = 0; a < K; ++a) { dquery[a] += de * k[a]; dk[a] += de * query[a]; }
    }
  }
}

// Batch rows [b0, b1) of one decoder step. Forward: context [B,E], weights [B,N],
// z [B,N,A] (Bahdanau), queries [B,K]. Backward: rows whose step is padded
// (target_lengths) are skipped; v's gradient accumulates into dv.
template <typename Real>
struct AttentionStep {
  Score score;
  int N, B, E, K, t;          // B: the memory's batch (forward with source_rows: its sources)
  int b0, b1;                 // the batch rows this pass covers
  const int* source_rows;     // forward: [rows] the memory row each row attends to, or null (row b: b)
  const int* source_lengths;  // [B] or null
  const int* target_lengths;  // [B] or null (backward)
  const Real* queries;        // [B,K]
  const Real* keys;           // [N,B,K]
  const Real* memory;         // [N,B,E]
  const Real* v;              // [K] Bahdanau
  Real* context;              // [B,E] forward out
  Real* weights;              // [B,N] forward out, backward in
  Real* z;                    // [B,N,K] Bahdanau: forward out, backward in
  // backward
  Real* dqueries;             // [B,K] out (accumulated)
  Real* dkeys;                // [N,B,K] accumulated
  Real* dmemory;              // [N,B,E] accumulated
  Real* dv;                   // [B,K] accumulated per batch row (Bahdanau)
  Real* scratch;              // [B,N]
  const Real* dcontext;       // [B,E]
};

template <typename Real>
RNNKIT_INLINE void attention_step_forward(const AttentionStep<Real>& a) {
  for (int b = a.b0; b < a.b1; ++b) {
    attention_row_forward(a.context + size_t(b) * a.E, a.weights + size_t(b) * a.N,
                          a.z ? a.z + size_t(b) * a.N * a.K : nullptr, a.queries + size_t(b) * a.K, a.keys, a.memory,
                          a.v, a.score, a.source_rows ? a.source_rows[b] : b,
                          a.source_lengths ? a.source_lengths[b] : a.N, a.N, a.B, a.E, a.K);
  }
}

template <typename Real>
RNNKIT_INLINE void attention_step_backward(const AttentionStep<Real>& a) {
  for (int b = a.b0; b < a.b1; ++b) {
    if (a.target_lengths && a.t >= a.target_lengths[b]) continue;  // padded step: no gradient reaches its attention
    attention_row_backward(a.dqueries + size_t(b) * a.K, a.dkeys, a.dmemory, a.dv ? a.dv + size_t(b) * a.K : nullptr,
                           a.scratch + size_t(b) * a.N,
                           a.dcontext + size_t(b) * a.E, a.weights + size_t(b) * a.N,
                           a.z ? a.z + size_t(b) * a.N * a.K : nullptr, a.queries + size_t(b) * a.K, a.keys,
                           a.memory, a.v, a.score, b, a.source_lengths ? a.source_lengths[b] : a.N, a.B, a.E, a.K);
  }
}

RNNKIT_CPU_DISPATCH(void, attention_step_forward_f32, (const AttentionStep<float>& a), (a),
                    attention_step_forward<float>(a);)
RNNKIT_CPU_DISPATCH(void, attention_step_backward_f32, (const AttentionStep<float>& a), (a),
                    attention_step_backward<float>(a);)
inline void attention_forward_pass(const AttentionStep<float>& a) { attention_step_forward_f32(a); }
inline void attention_backward_pass(const AttentionStep<float>& a) { attention_step_backward_f32(a); }
inline void attention_forward_pass(const AttentionStep<double>& a) { attention_step_forward<double>(a); }
inline void attention_backward_pass(const AttentionStep<double>& a) { attention_step_backward<double>(a); }

}  // namespace rnnkit
