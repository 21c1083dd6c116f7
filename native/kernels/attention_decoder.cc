// Attention decoder: time loop and BPTT. Contract in attention_decoder.h;
// scoring in attention.h; cell math in *_cell.h (shared with recurrent layers).
#include "attention_decoder.h"

#include <algorithm>
#include <cstring>

#include "blas.h"
#include "gru_cell.h"
#include "lstm_cell.h"
#include "rnn_cell.h"

namespace rnnkit {
namespace {

// Workspace layout, in floats:
//   keys [N,B,K] (not Dot)   gx [M,B,GH] (reused as d(gates))   dgh [M,B,GH] (GRU)
//   cache [M,B,CW]   hs [M+1,B,H]   cs [M+1,B,H] (LSTM)   ctx [M,B,E]   att [M,B,N]
//   q [M,B,A] and z [M,B,N,A] (Bahdanau)   step [B,GH] (GRU)
//   dh, dh_next, dc [B,H]   dctx [B,E]   dq [M,B,K]   dkeys [N,B,K] (not Dot)   scratch [N]
struct DecoderLayout {
  size_t keys, gx, dgh, cache, hs, cs, ctx, att, q, z, step, dh, dh_next, dc, dctx, dq, dkeys, scratch, total;
  explicit DecoderLayout(const AttentionDecoderShape& s) {
    const size_t M = s.M, N = s.N, B = s.B, H = s.H, E = s.E, A = s.A;
    const size_t GH = size_t(gate_count(s.cell)) * H, K = size_t(attention_key_size(s));
    const bool gru = s.cell == Cell::Gru, lstm = s.cell == Cell::Lstm;
    const bool bahdanau = s.score == Score::Bahdanau, dot = s.score == Score::Dot;
    size_t at = 0;
    keys = at;    at += dot ? 0 : N * B * K;
    gx = at;      at += M * B * GH;
    dgh = at;     at += gru ? M * B * GH : 0;
    cache = at;   at += M * B * size_t(cache_width(s.cell, s.H));
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
    scratch = at; at += N;
    total = at;
  }
};

inline bool valid(const int* lengths, int b, int t) { return lengths == nullptr || t < lengths[b]; }
inline int source_length(const int* lengths, int b, int N) { return lengths ? lengths[b] : N; }

template <typename Real>
void add_bias_rows(Real* rows, const Real* bias, size_t count, int width) {
  for (size_t r = 0; r < count; ++r)
    for (int j = 0; j < width; ++j) rows[r * width + j] += bias[j];
}

template <typename Real>
void add_column_sums(Real* out, const Real* m, size_t rows, int width) {
  for (size_t r = 0; r < rows; ++r)
    for (int j = 0; j < width; ++j) out[j] += m[r * width + j];
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
                               const int* source_lengths, const int* target_lengths, const Real* h0, const Real* c0,
                               bool compute_keys, const AttentionDecoderShape& s) {
  const DecoderLayout L(s);
  const int M = s.M, N = s.N, B = s.B, X = s.X, E = s.E, H = s.H, A = s.A;
  const int GH = gate_count(s.cell) * H, K = attention_key_size(s), XE = X + E, CW = cache_width(s.cell, H);
  const size_t BH = size_t(B) * H, MB = size_t(M) * B, NB = size_t(N) * B;
  const bool gru = s.cell == Cell::Gru, lstm = s.cell == Cell::Lstm, relu = s.cell == Cell::RnnRelu;
  const bool bahdanau = s.score == Score::Bahdanau;
  Real* keys = s.score == Score::Dot ? const_cast<Real*>(memory) : ws + L.keys;
  Real *gx = ws + L.gx, *cache = ws + L.cache, *hs = ws + L.hs, *cs = ws + L.cs, *ctx = ws + L.ctx;
  Real *att = ws + L.att, *q = ws + L.q, *z = ws + L.z, *step = ws + L.step;

  if (compute_keys && s.score != Score::Dot) {
    gemm(false, true, int(NB), K, E, Real(1), memory, E, p.w_key, E, Real(0), keys, K);
    if (bahdanau && p.b_key) add_bias_rows(keys, p.b_key, NB, K);
  }
  // x part of the input projection for all steps; non-GRU cells fold b_hh in too.
  gemm(false, true, int(MB), GH, X, Real(1), x, X, p.w_ih, XE, Real(0), gx, GH);
  if (p.b_ih) add_bias_rows(gx, p.b_ih, MB, GH);
  if (p.b_hh && !gru) add_bias_rows(gx, p.b_hh, MB, GH);
  copy_or_zero(hs, h0, BH);
  if (lstm) copy_or_zero(cs, c0, BH);

  for (int i = 0; i < M; ++i) {
    const Real* s_prev = hs + size_t(i) * BH;
    Real* s_next = hs + size_t(i + 1) * BH;
    Real* ctx_i = ctx + size_t(i) * B * E;
    Real* att_i = att + size_t(i) * B * N;
    Real* q_i = q + size_t(i) * B * A;
    Real* gx_i = gx + size_t(i) * B * GH;
    if (bahdanau) gemm(false, true, B, A, H, Real(1), s_prev, H, p.w_query, H, Real(0), q_i, A);
    for (int b = 0; b < B; ++b) {
      const Real* query = bahdanau ? q_i + size_t(b) * A : s_prev + size_t(b) * H;
      Real* z_ib = bahdanau ? z + (size_t(i) * B + b) * N * A : nullptr;
      attention_row_forward(ctx_i + size_t(b) * E, att_i + size_t(b) * N, z_ib, query, keys, memory, p.v, s.score,
                            b, source_length(source_lengths, b, N), N, B, E, K);
    }
    gemm(false, true, B, GH, E, Real(1), ctx_i, E, p.w_ih + X, XE, Real(1), gx_i, GH);  // c_i part
    if (gru) {
      if (p.b_hh) for (int b = 0; b < B; ++b) std::memcpy(step + size_t(b) * GH, p.b_hh, GH * sizeof(Real));
      gemm(false, true, B, GH, H, Real(1), s_prev, H, p.w_hh, H, p.b_hh ? Real(1) : Real(0), step, GH);
    } else {
      gemm(false, true, B, GH, H, Real(1), s_prev, H, p.w_hh, H, Real(1), gx_i, GH);
    }
    for (int b = 0; b < B; ++b) {
      const bool active = valid(target_lengths, b, i);
      const size_t hb = size_t(b) * H;
      Real* cache_b = cache + (size_t(i) * B + b) * CW;
      Real* y = out ? out + (size_t(i) * B + b) * (H + E) : nullptr;
      if (gru) {
        gru_row_forward(s_next + hb, y, cache_b, gx_i + size_t(b) * GH, step + size_t(b) * GH, s_prev + hb, active, H);
      } else if (lstm) {
        lstm_row_forward(s_next + hb, cs + size_t(i + 1) * BH + hb, y, cache_b, gx_i + size_t(b) * GH, s_prev + hb,
                         cs + size_t(i) * BH + hb, active, H);
      } else {
        rnn_row_forward(s_next + hb, y, gx_i + size_t(b) * GH, s_prev + hb, active, relu, H);
      }
      if (y) {
        const Real* c_ib = ctx_i + size_t(b) * E;
        for (int e = 0; e < E; ++e) y[H + e] = active ? c_ib[e] : Real(0);
      }
      if (weights) {
        Real* w = weights + (size_t(i) * B + b) * N;
        for (int j = 0; j < N; ++j) w[j] = active ? att_i[size_t(b) * N + j] : Real(0);
      }
    }
  }
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
  const int GH = gate_count(s.cell) * H, K = attention_key_size(s), XE = X + E, CW = cache_width(s.cell, H);
  const size_t BH = size_t(B) * H, MB = size_t(M) * B, NB = size_t(N) * B;
  const bool gru = s.cell == Cell::Gru, lstm = s.cell == Cell::Lstm, relu = s.cell == Cell::RnnRelu;
  const bool bahdanau = s.score == Score::Bahdanau, dot = s.score == Score::Dot;
  const Real* keys = dot ? memory : ws + L.keys;
  Real* dkeys = dot ? dmemory : ws + L.dkeys;
  Real *dgi = ws + L.gx, *dgh = gru ? ws + L.dgh : ws + L.gx;
  const Real *cache = ws + L.cache, *hs = ws + L.hs, *cs = ws + L.cs, *ctx = ws + L.ctx, *att = ws + L.att;
  const Real *q = ws + L.q, *z = ws + L.z;
  Real *dh = ws + L.dh, *dh_next = ws + L.dh_next, *dc = ws + L.dc, *dctx = ws + L.dctx, *dq = ws + L.dq;
  Real* scratch = ws + L.scratch;

  copy_or_zero(dh, dhN, BH);
  if (lstm) copy_or_zero(dc, dcN, BH);
  if (!dot) std::fill(dkeys, dkeys + NB * K, Real(0));
  std::fill(dq, dq + MB * K, Real(0));

  for (int i = M - 1; i >= 0; --i) {
    const Real* s_prev = hs + size_t(i) * BH;
    const Real* s_next = hs + size_t(i + 1) * BH;
    Real* dgi_i = dgi + size_t(i) * B * GH;
    Real* dgh_i = dgh + size_t(i) * B * GH;
    Real* dq_i = dq + size_t(i) * B * K;
    for (int b = 0; b < B; ++b) {
      const bool active = valid(target_lengths, b, i);
      const Real* d = dout && active ? dout + (size_t(i) * B + b) * (H + E) : nullptr;
      Real* dhb = dh + size_t(b) * H;
      Real* dcb = dctx + size_t(b) * E;
      for (int j = 0; d && j < H; ++j) dhb[j] += d[j];
      for (int e = 0; e < E; ++e) dcb[e] = d ? d[H + e] : Real(0);
      const size_t hb = size_t(b) * H;
      const Real* cache_b = cache + (size_t(i) * B + b) * CW;
      if (gru) {
        gru_row_backward(dgi_i + size_t(b) * GH, dgh_i + size_t(b) * GH, dh_next + hb, dh + hb, cache_b, s_prev + hb,
                         active, H);
      } else if (lstm) {
        lstm_row_backward(dgi_i + size_t(b) * GH, dh_next + hb, dc + hb, dh + hb, cache_b,
                          cs + size_t(i + 1) * BH + hb, cs + size_t(i) * BH + hb, active, H);
      } else {
        rnn_row_backward(dgi_i + size_t(b) * GH, dh_next + hb, dh + hb, s_next + hb, active, relu, H);
      }
    }
    gemm(false, false, B, E, GH, Real(1), dgi_i, GH, p.w_ih + X, XE, Real(1), dctx, E);  // through c_i's input
    gemm(false, false, B, H, GH, Real(1), dgh_i, GH, p.w_hh, H, Real(1), dh_next, H);
    for (int b = 0; b < B; ++b) {
      if (!valid(target_lengths, b, i)) continue;  // padded step: no gradient reaches its attention
      const Real* query = bahdanau ? q + (size_t(i) * B + b) * A : s_prev + size_t(b) * H;
      const Real* z_ib = bahdanau ? z + (size_t(i) * B + b) * N * A : nullptr;
      attention_row_backward(dq_i + size_t(b) * K, dkeys, dmemory, g.v, scratch, dctx + size_t(b) * E,
                             att + (size_t(i) * B + b) * N, z_ib, query, keys, memory, p.v, s.score, b,
                             source_length(source_lengths, b, N), B, E, K);
    }
    if (bahdanau) {
      gemm(false, false, B, H, A, Real(1), dq_i, A, p.w_query, H, Real(1), dh_next, H);
    } else {
      for (size_t k = 0; k < BH; ++k) dh_next[k] += dq_i[k];  // the query is s_{i-1} itself (K = H)
    }
    std::swap(dh, dh_next);
  }

  // Parameter gradients and dx: one GEMM each over all M*B rows.
  gemm(true, false, GH, X, int(MB), Real(1), dgi, GH, x, X, Real(1), g.w_ih, XE);
  gemm(true, false, GH, E, int(MB), Real(1), dgi, GH, ctx, E, Real(1), g.w_ih + X, XE);
  gemm(true, false, GH, H, int(MB), Real(1), dgh, GH, hs, H, Real(1), g.w_hh, H);
  if (g.b_ih) add_column_sums(g.b_ih, dgi, MB, GH);
  if (g.b_hh) add_column_sums(g.b_hh, dgh, MB, GH);
  if (dx) gemm(false, false, int(MB), X, GH, Real(1), dgi, GH, p.w_ih, XE, Real(0), dx, X);
  if (bahdanau) gemm(true, false, A, H, int(MB), Real(1), dq, A, hs, H, Real(1), g.w_query, H);
  if (!dot) {
    gemm(true, false, K, E, int(NB), Real(1), dkeys, K, memory, E, Real(1), g.w_key, E);
    if (bahdanau && g.b_key) add_column_sums(g.b_key, dkeys, NB, K);
    gemm(false, false, int(NB), E, K, Real(1), dkeys, K, p.w_key, E, Real(1), dmemory, E);
  }
  if (dh0) std::memcpy(dh0, dh, BH * sizeof(Real));
  if (lstm && dc0) std::memcpy(dc0, dc, BH * sizeof(Real));
}

#define RNNKIT_INSTANTIATE(Real)                                                                                   \
  template void attention_decoder_forward<Real>(Real*, Real*, Real*, Real*, Real*,                                 \
                                                const AttentionDecoderParams<Real>&, const Real*, const Real*,     \
                                                const int*, const int*, const Real*, const Real*, bool,            \
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
