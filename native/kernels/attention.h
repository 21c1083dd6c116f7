// Attention scoring for one decoder step, forward and backward, masked over
// padded source positions (they get weight 0 and gradient 0).
//   additive (Bahdanau): e_j = v . tanh(q + k_j), q = W_q s, k_j = W_k h_j + b_k
//   multiplicative (Luong): e_j = q . k_j, q = s; dot: k_j = h_j; general: k_j = W_g h_j
//   a = softmax_j(e), c = sum_j a_j h_j
// Legend: N source steps, B batch, E memory size, K key size (A or H).
#pragma once
#include <cmath>

namespace rnnkit {

enum class Score { Bahdanau = 0, Dot = 1, General = 2 };

// One batch row b at one decoder step. memory/keys are [N,B,*] time-major.
// z [N,A] keeps tanh(q + k_j) for Bahdanau's backward (null otherwise).
template <typename Real>
void attention_row_forward(Real* context /*[E]*/, Real* weights /*[N]*/, Real* z /*[N,K] or null*/,
                           const Real* query /*[K]*/, const Real* keys /*[N,B,K]*/, const Real* memory /*[N,B,E]*/,
                           const Real* v /*[K] Bahdanau*/, Score score, int b, int length, int N, int B, int E,
                           int K) {
  Real max_e = -INFINITY;
  for (int j = 0; j < length; ++j) {
    const Real* k = keys + (size_t(j) * B + b) * K;
    Real e = 0;
    if (score == Score::Bahdanau) {
      Real* zj = z + size_t(j) * K;
      for (int a = 0; a < K; ++a) { zj[a] = std::tanh(query[a] + k[a]); e += v[a] * zj[a]; }
    } else {
      for (int a = 0; a < K; ++a) e += query[a] * k[a];
    }
    weights[j] = e;
    if (e > max_e) max_e = e;
  }
  Real total = 0;
  for (int j = 0; j < length; ++j) { weights[j] = std::exp(weights[j] - max_e); total += weights[j]; }
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
void attention_row_backward(Real* dquery /*[K]*/, Real* dkeys /*[N,B,K]*/, Real* dmemory /*[N,B,E]*/,
                            Real* dv /*[K] Bahdanau*/, Real* scratch /*[N]*/, const Real* dcontext /*[E]*/,
                            const Real* weights /*[N]*/, const Real* z /*[N,K] or null*/, const Real* query /*[K]*/,
                            const Real* keys, const Real* memory, const Real* v, Score score, int b, int length,
                            int B, int E, int K) {
  Real dot_sum = 0;
  for (int j = 0; j < length; ++j) {
    const Real* h = memory + (size_t(j) * B + b) * E;
    Real* dh = dmemory + (size_t(j) * B + b) * E;
    Real da = 0;
    for (int e = 0; e < E; ++e) { da += dcontext[e] * h[e]; dh[e] += weights[j] * dcontext[e]; }
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

}  // namespace rnnkit
