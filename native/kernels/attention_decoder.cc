// Attention decoder: time loop and BPTT. Contract in attention_decoder.h;
// scoring in attention.h; cell math in *_cell.h (shared with recurrent layers).
#include "attention_decoder.h"

#include <algorithm>
#include <cstring>

#include "blas.h"
#include "cell_passes.h"
#include "packed_gemm.h"
#include "rows_gemm.h"
#include "parallel.h"

namespace rnnkit {
namespace {

// Workspace layout, in floats:
//   keys [N,B,K] (not Dot)   gx [M,B,GH] (pre-activations, then the cached activations)   dgx [M,B,GH]
//   ghn [M,B,H] (GRU: W_hn s + b_hn)   dghn [M,B,H] (GRU)   hs [M+1,B,H]   cs [M+1,B,H] (LSTM)
//   ctx [M,B,E]   att [M,B,N]   q [M,B,A] and z [M,B,N,A] (Bahdanau)   step [B,GH] (GRU: s W_hh^T, then its gradient)
//   dh, dh_next, dc [B,H]   dctx [B,E]   dq [M,B,K]   dkeys [N,B,K] (not Dot)   scratch [B,N]
//   dv_rows [B,A] (Bahdanau: each batch row's share of d(v))   bias [bias_width]
//   pk_ctx, pk_hh, pk_q: the per-step weights (c_i's columns of W_ih, W_hh, W_q) packed, by
//   forward for its products (rows_gemm_pack, when forward_packs) and again by backward, in
//   its own orientation, for the micro-kernel (packed_gemm.h)
struct DecoderLayout {
  size_t keys, gx, dgx, ghn, dghn, hs, cs, ctx, att, q, z, step, dh, dh_next, dc, dctx, dq, dkeys, scratch, dv_rows, bias, pk_ctx, pk_hh, pk_q, total;
  explicit DecoderLayout(const AttentionDecoderShape& s) {
    const size_t M = s.M, N = s.N, B = s.B, H = s.H, E = s.E, A = s.A;
    const size_t GH = size_t(gate_count(s.cell)) * H, K = size_t(attention_key_size(s));
    const bool gru = s.cell == Cell::Gru, lstm = s.cell == Cell::Lstm;
    const bool bahdanau = s.score == Score::Bahdanau, dot = s.score == Score::Dot;
    size_t at = 0;
    keys = at;    at += dot ? 0 : N * size_t(memory_batch(s)) * K;
    gx = at;      at += M * B * GH;
    dgx = at;     at += M * B * GH;
    ghn = at;     at += gru ? M * B * H : 0;
    dghn = at;    at += gru ? M * B * H : 0;
    hs = at;      at += (M + 1) * B * H;
    cs = at;      at += lstm ? (M + 1) * B * H : 0;
    ctx = at;     at += M * B * E;
    att = at;     at += M * B * N;
    q = at;       at += bahdanau ? M * B * A : 0;
    z = at;       at += bahdanau ? M * B * N * A : 0;
    step = at;    at += gru ? B * GH : 0;
    dh = at;      at += B * H;
    dh_next = at; at += B * H;
    dc = at;      at += lstm ? B * H : 0;
    dctx = at;    at += B * E;
    dq = at;      at += M * B * K;
    dkeys = at;   at += dot ? 0 : N * B * K;
    scratch = at; at += B * N;
    dv_rows = at; at += bahdanau ? B * A : 0;
    bias = at;    at += size_t(bias_width(s.cell, s.H));
    const int gh = int(GH), e = int(E), h = int(H), a = int(A);
    pk_ctx = at;  at += std::max(packed_floats(e, gh), packed_floats(gh, e));
    pk_hh = at;   at += std::max(packed_floats(h, gh), packed_floats(gh, h));
    pk_q = at;    at += bahdanau ? std::max(packed_floats(h, a), packed_floats(a, h)) : 0;
    total = at;
  }
};

// Forward packs its per-step weights once per call when the steps have rows enough
// between them to pay for one pass over each (else rows_gemm reads them as they are).
inline bool forward_packs(const AttentionDecoderShape& s) { return size_t(s.M) * s.B >= 8; }

// Backward's per-step products on packed weights (float, AVX2, and enough steps to pay for packing).
template <typename Real>
bool use_packed(const AttentionDecoderShape&) { return false; }
template <>
bool use_packed<float>(const AttentionDecoderShape& s) { return packed_gemm_available() && s.M >= 4; }

template <typename Real>
void pack_weights(Real*, const Real*, int, int, bool, int) {}
template <>
void pack_weights<float>(float* dst, const float* w, int K, int N, bool transposed, int ldw) {
  pack_operand(dst, w, K, N, transposed, ldw);
}

// Backward's C[B,N] (+)= A[B,K] W, W [K,N] (ldw).
template <typename Real>
void step_product(Real* C, int ldc, const Real* A, int lda, const Real* w, int ldw, const Real* packed, int rows,
                  int N, int K, bool accumulate, bool use_pack) {
  if (use_pack) {
    packed_gemm(reinterpret_cast<float*>(C), ldc, reinterpret_cast<const float*>(A), lda,
                reinterpret_cast<const float*>(packed), rows, N, K, accumulate);
  } else {
    gemm(false, false, rows, N, K, Real(1), A, lda, w, ldw, accumulate ? Real(1) : Real(0), C, ldc);
  }
}

// Batch slices of the time loops: rows are independent through the steps, so
// slices run on separate threads with no synchronisation inside the loop.
int decoder_loop_parts(const AttentionDecoderShape& s, int threads) {
  if (threads <= 1) return 1;
  const double per_row_step = 2.0 * gate_count(s.cell) * s.H * double(s.E + s.H) + 2.0 * s.A * double(s.H) +
                              4.0 * s.N * double(s.E + (s.score == Score::Bahdanau ? 2 * s.A : s.H));
  if (per_row_step * s.M * s.B < 2e6) return 1;
  return std::max(1, std::min(2 * threads, s.B / 8));
}

template <typename F>
void run_slices(int B, int parts, const F& slice) {
  if (parts == 1) {
    slice(0, B);  // not a pool task: large per-step GEMMs may still split
    return;
  }
  parallel_for(parts, [&](int p) {
    const Range r = split_range(B, parts, p);
    if (r.end > r.begin) slice(r.begin, r.end);
  });
}

inline bool valid(const int* lengths, int b, int t) { return lengths == nullptr || t < lengths[b]; }
inline int source_length(const int* lengths, int b, int N) { return lengths ? lengths[b] : N; }

template <typename Real>
void add_bias_rows(Real* rows, const Real* bias, size_t count, int width) {
  for (size_t r = 0; r < count; ++r)
    for (int j = 0; j < width; ++j) rows[r * width + j] += bias[j];
}

// out[j] += sum over rows of m[r, j], j < width, rows of leading dimension ld.
template <typename Real>
void add_column_sums(Real* out, const Real* m, size_t rows, int width, int ld) {
  for (size_t r = 0; r < rows; ++r)
    for (int j = 0; j < width; ++j) out[j] += m[r * ld + j];
}

template <typename Real>
void copy_or_zero(Real* dst, const Real* src, size_t n) {
  if (src) std::memcpy(dst, src, n * sizeof(Real));
  else std::fill(dst, dst + n, Real(0));
}

}  // namespace

int attention_key_size(const AttentionDecoderShape& s) {
  return s.score == Score::Bahdanau ? s.A : s.score == Score::General ? s.H : s.E;
}

size_t attention_decoder_workspace_floats(const AttentionDecoderShape& s) { return DecoderLayout(s).total; }

template <typename Real>
AttentionDecoderParams<Real> attention_decoder_params(Real* base, const AttentionDecoderShape& s, bool bias) {
  const size_t GH = size_t(gate_count(s.cell)) * s.H;
  AttentionDecoderParams<Real> p{};
  Real* at = base;
  p.w_ih = at; at += GH * (size_t(s.X) + s.E);
  p.w_hh = at; at += GH * s.H;
  if (bias) { p.b_ih = at; at += GH; p.b_hh = at; at += GH; }
  if (s.score == Score::Bahdanau) {
    p.w_query = at; at += size_t(s.A) * s.H;
    p.w_key = at;   at += size_t(s.A) * s.E;
    p.b_key = at;   at += s.A;
    p.v = at;       at += s.A;
  } else if (s.score == Score::General) {
    p.w_key = at;   at += size_t(s.H) * s.E;
  }
  return p;
}

size_t attention_decoder_param_count(const AttentionDecoderShape& s, bool bias) {
  const size_t GH = size_t(gate_count(s.cell)) * s.H;
  size_t n = GH * (size_t(s.X) + s.E) + GH * s.H + (bias ? 2 * GH : 0);
  if (s.score == Score::Bahdanau) n += size_t(s.A) * s.H + size_t(s.A) * s.E + 2 * size_t(s.A);
  if (s.score == Score::General) n += size_t(s.H) * s.E;
  return n;
}

template <typename Real>
void attention_decoder_forward(Real* out, Real* weights, Real* hN, Real* cN, Real* ws,
                               const AttentionDecoderParams<Real>& p, const Real* x, const Real* memory,
                               const int* source_rows, const int* source_lengths, const int* target_lengths,
                               const Real* h0, const Real* c0, DecoderReuse reuse, const AttentionDecoderShape& s) {
  const DecoderLayout L(s);
  const int M = s.M, N = s.N, B = s.B, X = s.X, E = s.E, H = s.H, A = s.A;
  const int GH = gate_count(s.cell) * H, K = attention_key_size(s), XE = X + E;
  const size_t BH = size_t(B) * H, MB = size_t(M) * B, NS = size_t(N) * memory_batch(s);
  const bool gru = s.cell == Cell::Gru, lstm = s.cell == Cell::Lstm;
  const bool bahdanau = s.score == Score::Bahdanau;
  Real* keys = s.score == Score::Dot ? const_cast<Real*>(memory) : ws + L.keys;
  Real *gx = ws + L.gx, *hs = ws + L.hs, *cs = ws + L.cs, *ctx = ws + L.ctx;
  Real *att = ws + L.att, *q = ws + L.q, *z = ws + L.z, *step = ws + L.step;

  if (!reuse.keys && s.score != Score::Dot) {
    rows_gemm(keys, K, memory, E, p.w_key, E, int(NS), K, E, false);
    if (bahdanau && p.b_key) add_bias_rows(keys, p.b_key, NS, K);
  }
  // x part of the input projection for all steps; biases join in the element-wise pass.
  // Every forward product is rows_gemm: a sequence gives the same bits alone or in any batch.
  rows_gemm(gx, GH, x, X, p.w_ih, XE, int(MB), GH, X, false);
  combine_bias(ws + L.bias, p.b_ih, p.b_hh, s.cell, H);
  const bool packs = forward_packs(s);
  if (packs && !reuse.packed_weights) {
    rows_gemm_pack(ws + L.pk_ctx, p.w_ih + X, XE, GH, E);
    rows_gemm_pack(ws + L.pk_hh, p.w_hh, H, GH, H);
    if (bahdanau) rows_gemm_pack(ws + L.pk_q, p.w_query, H, A, H);
  }
  const Real* pk_ctx = packs ? ws + L.pk_ctx : nullptr;
  const Real* pk_hh = packs ? ws + L.pk_hh : nullptr;
  const Real* pk_q = packs && bahdanau ? ws + L.pk_q : nullptr;
  copy_or_zero(hs, h0, BH);
  if (lstm) copy_or_zero(cs, c0, BH);

  auto slice = [&](int b0, int b1) {
    const int rows = b1 - b0;
    StepRows<Real> st;
    st.b0 = b0; st.b1 = b1; st.H = H; st.lengths = target_lengths; st.relu = s.cell == Cell::RnnRelu;
    st.bias = ws + L.bias; st.gh = step; st.ldy = H + E;
    AttentionStep<Real> at{};
    at.score = s.score; at.N = N; at.B = memory_batch(s); at.E = E; at.K = K; at.b0 = b0; at.b1 = b1;
    at.source_rows = source_rows; at.source_lengths = source_lengths; at.keys = keys; at.memory = memory; at.v = p.v;
    for (int i = 0; i < M; ++i) {
      const Real* s_prev = hs + size_t(i) * BH;
      Real* ctx_i = ctx + size_t(i) * B * E;
      Real* att_i = att + size_t(i) * B * N;
      Real* q_i = q + size_t(i) * B * A;
      Real* gx_i = gx + size_t(i) * B * GH;
      const Real* s_rows = s_prev + size_t(b0) * H;
      if (bahdanau) rows_gemm(q_i + size_t(b0) * A, A, s_rows, H, p.w_query, H, rows, A, H, false, pk_q);
      at.t = i;
      at.queries = bahdanau ? q_i : s_prev;
      at.context = ctx_i;
      at.weights = att_i;
      at.z = bahdanau ? z + size_t(i) * B * N * A : nullptr;
      attention_forward_pass(at);
      rows_gemm(gx_i + size_t(b0) * GH, GH, ctx_i + size_t(b0) * E, E, p.w_ih + X, XE, rows, GH, E, true,
                pk_ctx);  // c_i part
      rows_gemm((gru ? step : gx_i) + size_t(b0) * GH, GH, s_rows, H, p.w_hh, H, rows, GH, H, !gru, pk_hh);
      st.t = i;
      st.h_prev = s_prev;
      st.h = hs + size_t(i + 1) * BH;
      if (lstm) { st.c_prev = cs + size_t(i) * BH; st.c = cs + size_t(i + 1) * BH; }
      st.y = out ? out + size_t(i) * B * (H + E) : nullptr;
      st.gates = gx_i;
      st.ghn = gru ? ws + L.ghn + size_t(i) * BH : nullptr;
      forward_pass(s.cell, st);
      for (int b = b0; b < b1; ++b) {
        const bool active = valid(target_lengths, b, i);
        if (out) {
          Real* y = out + (size_t(i) * B + b) * (H + E);
          const Real* c_ib = ctx_i + size_t(b) * E;
          for (int e = 0; e < E; ++e) y[H + e] = active ? c_ib[e] : Real(0);
        }
        if (weights) {
          Real* w = weights + (size_t(i) * B + b) * N;
          for (int j = 0; j < N; ++j) w[j] = active ? att_i[size_t(b) * N + j] : Real(0);
        }
      }
    }
  };
  run_slices(B, decoder_loop_parts(s, num_threads()), slice);
  if (hN) std::memcpy(hN, hs + size_t(M) * BH, BH * sizeof(Real));
  if (lstm && cN) std::memcpy(cN, cs + size_t(M) * BH, BH * sizeof(Real));
}

template <typename Real>
void attention_decoder_backward(Real* dx, Real* dmemory, Real* dh0, Real* dc0, const AttentionDecoderParams<Real>& g,
                                Real* ws, const AttentionDecoderParams<Real>& p, const Real* dout, const Real* dhN,
                                const Real* dcN, const Real* x, const Real* memory, const int* source_lengths,
                                const int* target_lengths, const AttentionDecoderShape& s) {
  const DecoderLayout L(s);
  const int M = s.M, N = s.N, B = s.B, X = s.X, E = s.E, H = s.H, A = s.A;
  const int GH = gate_count(s.cell) * H, K = attention_key_size(s), XE = X + E;
  const size_t BH = size_t(B) * H, MB = size_t(M) * B, NB = size_t(N) * B;
  const bool gru = s.cell == Cell::Gru, lstm = s.cell == Cell::Lstm;
  const bool bahdanau = s.score == Score::Bahdanau, dot = s.score == Score::Dot;
  const Real* keys = dot ? memory : ws + L.keys;
  Real* dkeys = dot ? dmemory : ws + L.dkeys;
  Real* dgi = ws + L.dgx;
  Real* dghn = ws + L.dghn;
  Real* dgh_step = ws + L.step;
  const Real *hs = ws + L.hs, *cs = ws + L.cs, *ctx = ws + L.ctx, *att = ws + L.att;
  const Real *q = ws + L.q, *z = ws + L.z;
  Real *dh = ws + L.dh, *dh_next = ws + L.dh_next, *dc = ws + L.dc, *dctx = ws + L.dctx, *dq = ws + L.dq;
  Real* scratch = ws + L.scratch;
  Real* dv_rows = ws + L.dv_rows;

  copy_or_zero(dh, dhN, BH);
  if (lstm) copy_or_zero(dc, dcN, BH);
  if (!dot) std::fill(dkeys, dkeys + NB * K, Real(0));
  std::fill(dq, dq + MB * K, Real(0));
  if (bahdanau) std::fill(dv_rows, dv_rows + size_t(B) * A, Real(0));

  const bool pack = use_packed<Real>(s);
  if (pack) {
    pack_weights(ws + L.pk_ctx, p.w_ih + X, GH, E, false, XE);
    pack_weights(ws + L.pk_hh, p.w_hh, GH, H, false, H);
    if (bahdanau) pack_weights(ws + L.pk_q, p.w_query, A, H, false, H);
  }

  auto slice = [&](int b0, int b1) {
    const int rows = b1 - b0;
    const size_t rh = size_t(b0) * H;
    Real* dh_a = dh;
    Real* dh_b = dh_next;
    StepRows<Real> st;
    st.b0 = b0; st.b1 = b1; st.H = H; st.lengths = target_lengths; st.relu = s.cell == Cell::RnnRelu;
    st.ldy = H + E; st.dgh = dgh_step; st.dc = dc;
    AttentionStep<Real> at{};
    at.score = s.score; at.N = N; at.B = B; at.E = E; at.K = K; at.b0 = b0; at.b1 = b1;
    at.source_lengths = source_lengths; at.target_lengths = target_lengths; at.keys = keys; at.memory = memory;
    at.v = p.v; at.dkeys = dkeys; at.dmemory = dmemory; at.dv = dv_rows; at.scratch = scratch; at.dcontext = dctx;
    for (int i = M - 1; i >= 0; --i) {
      const Real* s_prev = hs + size_t(i) * BH;
      Real* dgi_i = dgi + size_t(i) * B * GH;
      Real* dq_i = dq + size_t(i) * B * K;
      for (int b = b0; b < b1; ++b) {
        const bool active = valid(target_lengths, b, i);
        const Real* d = dout && active ? dout + (size_t(i) * B + b) * (H + E) : nullptr;
        Real* dcb = dctx + size_t(b) * E;
        for (int e = 0; e < E; ++e) dcb[e] = d ? d[H + e] : Real(0);
      }
      st.t = i;
      st.gates = ws + L.gx + size_t(i) * B * GH;
      st.dgates = dgi_i;
      st.ghn = gru ? ws + L.ghn + size_t(i) * BH : nullptr;
      st.dghn = gru ? dghn + size_t(i) * BH : nullptr;
      st.h_prev = s_prev;
      st.h_out = hs + size_t(i + 1) * BH;
      if (lstm) { st.c_prev = cs + size_t(i) * BH; st.c = const_cast<Real*>(cs + size_t(i + 1) * BH); }
      st.dh = dh_a;
      st.dh_next = dh_b;
      st.dy = dout ? dout + size_t(i) * B * (H + E) : nullptr;
      backward_pass(s.cell, st);
      step_product(dctx + size_t(b0) * E, E, dgi_i + size_t(b0) * GH, GH, p.w_ih + X, XE, ws + L.pk_ctx, rows, E, GH,
                   true, pack);  // through c_i's input
      if (gru) {
        step_product(dh_b + rh, H, dgh_step + size_t(b0) * GH, GH, p.w_hh, H, ws + L.pk_hh, rows, H, GH, true, pack);
      } else {
        step_product(dh_b + rh, H, dgi_i + size_t(b0) * GH, GH, p.w_hh, H, ws + L.pk_hh, rows, H, GH, false, pack);
        for (int b = b0; b < b1; ++b)  // padded step: the state (and its gradient) passes through
          if (!valid(target_lengths, b, i)) std::memcpy(dh_b + size_t(b) * H, dh_a + size_t(b) * H, size_t(H) * sizeof(Real));
      }
      at.t = i;
      at.queries = bahdanau ? q + size_t(i) * B * A : s_prev;
      at.weights = const_cast<Real*>(att + size_t(i) * B * N);
      at.z = bahdanau ? const_cast<Real*>(z + size_t(i) * B * N * A) : nullptr;
      at.dqueries = dq_i;
      attention_backward_pass(at);
      if (bahdanau) {
        step_product(dh_b + rh, H, dq_i + size_t(b0) * A, A, p.w_query, H, ws + L.pk_q, rows, H, A, true, pack);
      } else {
        for (size_t k = rh; k < size_t(b1) * H; ++k) dh_b[k] += dq_i[k];  // the query is s_{i-1} itself (K = H)
      }
      std::swap(dh_a, dh_b);
    }
  };
  run_slices(B, decoder_loop_parts(s, num_threads()), slice);
  if (M % 2 == 1) std::swap(dh, dh_next);  // where the slices' last swap left d(s_0)
  if (bahdanau)
    for (int b = 0; b < B; ++b)
      for (int a = 0; a < A; ++a) g.v[a] += dv_rows[size_t(b) * A + a];

  // Parameter gradients and dx: one GEMM each over all M*B rows. d(gh) is d(gi)
  // except GRU's n block, whose gradient sits in dghn.
  gemm(true, false, GH, X, int(MB), Real(1), dgi, GH, x, X, Real(1), g.w_ih, XE);
  gemm(true, false, GH, E, int(MB), Real(1), dgi, GH, ctx, E, Real(1), g.w_ih + X, XE);
  if (gru) {
    gemm(true, false, 2 * H, H, int(MB), Real(1), dgi, GH, hs, H, Real(1), g.w_hh, H);
    gemm(true, false, H, H, int(MB), Real(1), dghn, H, hs, H, Real(1), g.w_hh + size_t(2) * H * H, H);
  } else {
    gemm(true, false, GH, H, int(MB), Real(1), dgi, GH, hs, H, Real(1), g.w_hh, H);
  }
  if (g.b_ih) add_column_sums(g.b_ih, dgi, MB, GH, GH);
  if (g.b_hh) {
    add_column_sums(g.b_hh, dgi, MB, gru ? 2 * H : GH, GH);
    if (gru) add_column_sums(g.b_hh + 2 * H, dghn, MB, H, H);
  }
  if (dx) gemm(false, false, int(MB), X, GH, Real(1), dgi, GH, p.w_ih, XE, Real(0), dx, X);
  if (bahdanau) gemm(true, false, A, H, int(MB), Real(1), dq, A, hs, H, Real(1), g.w_query, H);
  if (!dot) {
    gemm(true, false, K, E, int(NB), Real(1), dkeys, K, memory, E, Real(1), g.w_key, E);
    if (bahdanau && g.b_key) add_column_sums(g.b_key, dkeys, NB, K, K);
    gemm(false, false, int(NB), E, K, Real(1), dkeys, K, p.w_key, E, Real(1), dmemory, E);
  }
  if (dh0) std::memcpy(dh0, dh, BH * sizeof(Real));
  if (lstm && dc0) std::memcpy(dc0, dc, BH * sizeof(Real));
}

#define RNNKIT_INSTANTIATE(Real)                                                                                   \
  template void attention_decoder_forward<Real>(Real*, Real*, Real*, Real*, Real*,                                 \
                                                const AttentionDecoderParams<Real>&, const Real*, const Real*,     \
                                                const int*, const int*, const int*, const Real*, const Real*,      \
                                                DecoderReuse,                                                      \
                                                const AttentionDecoderShape&);                                     \
  template void attention_decoder_backward<Real>(Real*, Real*, Real*, Real*, const AttentionDecoderParams<Real>&,  \
                                                 Real*, const AttentionDecoderParams<Real>&, const Real*,          \
                                                 const Real*, const Real*, const Real*, const Real*, const int*,   \
                                                 const int*, const AttentionDecoderShape&);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
template AttentionDecoderParams<float> attention_decoder_params<float>(float*, const AttentionDecoderShape&, bool);
template AttentionDecoderParams<double> attention_decoder_params<double>(double*, const AttentionDecoderShape&, bool);
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
