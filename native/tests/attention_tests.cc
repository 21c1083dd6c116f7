// Native tests of the attention decoder: BPTT against central differences in
// double for every cell and score, a naive reference forward, and masking
// (padded source positions get weight 0 and gradient 0). Run by ctest.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernel_path.h"
#include "../kernels/attention_decoder.h"

using namespace rnnkit;

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string& name, double measure) {
  std::printf("%s %-78s (%.3g)\n", ok ? "ok  " : "FAIL", name.c_str(), measure);
  (ok ? passed : failed)++;
}

const char* cell_name(Cell c) {
  return c == Cell::RnnTanh ? "rnn-tanh" : c == Cell::RnnRelu ? "rnn-relu" : c == Cell::Gru ? "gru" : "lstm";
}
const char* score_name(Score s) { return s == Score::Bahdanau ? "bahdanau" : s == Score::Dot ? "dot" : "general"; }

// All parameters in one vector, with pointers into it.
struct Model {
  AttentionDecoderShape s;
  std::vector<double> flat;
  AttentionDecoderParams<double> p{};
  Model(const AttentionDecoderShape& shape, std::mt19937& rng) : s(shape) {
    const size_t GH = size_t(gate_count(s.cell)) * s.H;
    const size_t sizes[] = {GH * (s.X + s.E), GH * s.H, GH, GH,
                            s.score == Score::Bahdanau ? size_t(s.A) * s.H : 0,
                            s.score == Score::Bahdanau ? size_t(s.A) * s.E : s.score == Score::General ? size_t(s.H) * s.E : 0,
                            s.score == Score::Bahdanau ? size_t(s.A) : 0, s.score == Score::Bahdanau ? size_t(s.A) : 0};
    size_t total = 0;
    for (size_t n : sizes) total += n;
    std::normal_distribution<double> dist(0.0, 0.4);
    flat.resize(total);
    for (double& v : flat) v = dist(rng);
    p = bind(flat.data());
  }
  AttentionDecoderParams<double> bind(double* base) const {
    const size_t GH = size_t(gate_count(s.cell)) * s.H;
    AttentionDecoderParams<double> q{};
    double* at = base;
    q.w_ih = at; at += GH * (s.X + s.E);
    q.w_hh = at; at += GH * s.H;
    q.b_ih = at; at += GH;
    q.b_hh = at; at += GH;
    if (s.score == Score::Bahdanau) {
      q.w_query = at; at += size_t(s.A) * s.H;
      q.w_key = at; at += size_t(s.A) * s.E;
      q.b_key = at; at += s.A;
      q.v = at;
    } else if (s.score == Score::General) {
      q.w_key = at;
    }
    return q;
  }
};

std::vector<double> randoms(size_t n, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> dist(0.0, scale);
  std::vector<double> v(n);
  for (double& e : v) e = dist(rng);
  return v;
}

void test_gradients(Cell cell, Score score) {
  const int M = 4, N = 5, B = 3, X = 3, H = 4, A = 3;
  const int E = score == Score::Dot ? H : 6;
  const AttentionDecoderShape s{cell, score, M, N, B, X, E, H, A};
  std::mt19937 rng(5 + int(cell) * 3 + int(score));
  Model model(s, rng);
  if (cell == Cell::RnnRelu) for (double& v : model.flat) v *= 0.7;
  const bool lstm = cell == Cell::Lstm;
  std::vector<double> x = randoms(size_t(M) * B * X, rng), memory = randoms(size_t(N) * B * E, rng),
                      h0 = randoms(size_t(B) * H, rng, 0.5), c0 = randoms(size_t(B) * H, rng, 0.5),
                      wout = randoms(size_t(M) * B * (H + E), rng), wh = randoms(size_t(B) * H, rng),
                      wc = randoms(size_t(B) * H, rng);
  const std::vector<int> src{5, 2, 1}, tgt{4, 1, 3};
  std::vector<double> ws(attention_decoder_workspace_floats(s)), out(size_t(M) * B * (H + E)),
      weights(size_t(M) * B * N), hN(size_t(B) * H), cN(size_t(B) * H);
  auto loss = [&]() {
    attention_decoder_forward(out.data(), weights.data(), hN.data(), cN.data(), ws.data(), model.p, x.data(),
                              memory.data(), nullptr, src.data(), tgt.data(), h0.data(), lstm ? c0.data() : nullptr, DecoderReuse{}, s);
    double v = 0;
    for (size_t i = 0; i < out.size(); ++i) v += out[i] * wout[i];
    for (size_t i = 0; i < hN.size(); ++i) v += hN[i] * wh[i] + (lstm ? cN[i] * wc[i] : 0.0);
    return v;
  };
  loss();
  // Masking: padded source positions and padded decoder steps carry zero weight.
  double leaked = 0;
  for (int i = 0; i < M; ++i)
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < N; ++j)
        if (j >= src[b] || i >= tgt[b]) leaked = std::max(leaked, std::fabs(weights[(size_t(i) * B + b) * N + j]));
  check(leaked == 0, std::string(cell_name(cell)) + " " + score_name(score) + ": padded positions get weight 0", leaked);

  std::vector<double> gflat(model.flat.size(), 0.0), dx(x.size()), dmem(memory.size(), 0.0), dh0(h0.size()),
      dc0(c0.size());
  const AttentionDecoderParams<double> g = model.bind(gflat.data());
  attention_decoder_backward(dx.data(), dmem.data(), dh0.data(), lstm ? dc0.data() : nullptr, g, ws.data(), model.p,
                             wout.data(), wh.data(), lstm ? wc.data() : nullptr, x.data(), memory.data(), src.data(),
                             tgt.data(), s);
  double pad_grad = 0;
  for (int j = 0; j < N; ++j)
    for (int b = 0; b < B; ++b)
      if (j >= src[b])
        for (int e = 0; e < E; ++e) pad_grad = std::max(pad_grad, std::fabs(dmem[(size_t(j) * B + b) * E + e]));
  check(pad_grad == 0, std::string(cell_name(cell)) + " " + score_name(score) + ": padded memory gets gradient 0",
        pad_grad);

  auto compare = [&](std::vector<double>& values, const std::vector<double>& analytic, const char* what) {
    double num = 0, den = 0;
    const double eps = 1e-6;
    for (size_t i = 0; i < values.size(); ++i) {
      const double keep = values[i];
      values[i] = keep + eps; const double up = loss();
      values[i] = keep - eps; const double down = loss();
      values[i] = keep;
      const double fd = (up - down) / (2 * eps);
      num += (fd - analytic[i]) * (fd - analytic[i]);
      den += (fd + analytic[i]) * (fd + analytic[i]);
    }
    const double rel = std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
    check(rel < 1e-7, std::string(cell_name(cell)) + " " + score_name(score) + ": gradient of " + what +
                          " matches finite differences", rel);
  };
  compare(model.flat, gflat, "params");
  compare(x, dx, "x");
  compare(memory, dmem, "memory");
  compare(h0, dh0, "h0");
  if (lstm) compare(c0, dc0, "c0");
}

// Straight from the equations for a GRU decoder, one row at a time.
void test_naive_reference(Score score) {
  const int M = 3, N = 4, B = 2, X = 2, H = 3, A = 4;
  const int E = score == Score::Dot ? H : 5;
  const AttentionDecoderShape s{Cell::Gru, score, M, N, B, X, E, H, A};
  std::mt19937 rng(99 + int(score));
  Model model(s, rng);
  const auto& p = model.p;
  const std::vector<double> x = randoms(size_t(M) * B * X, rng), memory = randoms(size_t(N) * B * E, rng);
  const std::vector<int> src{4, 2};
  std::vector<double> ws(attention_decoder_workspace_floats(s)), out(size_t(M) * B * (H + E)),
      weights(size_t(M) * B * N), hN(size_t(B) * H);
  attention_decoder_forward(out.data(), weights.data(), hN.data(), (double*)nullptr, ws.data(), p, x.data(),
                            memory.data(), nullptr, src.data(), (const int*)nullptr, (const double*)nullptr,
                            (const double*)nullptr, DecoderReuse{}, s);
  double err = 0;
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0);
    for (int i = 0; i < M; ++i) {
      std::vector<double> e(src[b]), c(E, 0.0);
      double mx = -1e300, tot = 0;
      for (int j = 0; j < src[b]; ++j) {
        const double* hj = &memory[(size_t(j) * B + b) * E];
        double v = 0;
        if (score == Score::Dot) for (int k = 0; k < E; ++k) v += h[k] * hj[k];
        else if (score == Score::General) {
          for (int r = 0; r < H; ++r) { double kr = 0; for (int k = 0; k < E; ++k) kr += p.w_key[r * E + k] * hj[k]; v += h[r] * kr; }
        } else {
          for (int a = 0; a < A; ++a) {
            double qa = 0, ka = p.b_key[a];
            for (int r = 0; r < H; ++r) qa += p.w_query[a * H + r] * h[r];
            for (int k = 0; k < E; ++k) ka += p.w_key[a * E + k] * hj[k];
            v += p.v[a] * std::tanh(qa + ka);
          }
        }
        e[j] = v; mx = std::max(mx, v);
      }
      for (int j = 0; j < src[b]; ++j) { e[j] = std::exp(e[j] - mx); tot += e[j]; }
      for (int j = 0; j < src[b]; ++j) for (int k = 0; k < E; ++k) c[k] += e[j] / tot * memory[(size_t(j) * B + b) * E + k];
      std::vector<double> in(X + E);
      for (int k = 0; k < X; ++k) in[k] = x[(size_t(i) * B + b) * X + k];
      for (int k = 0; k < E; ++k) in[X + k] = c[k];
      std::vector<double> gi(3 * H), gh(3 * H), hn(H);
      for (int r = 0; r < 3 * H; ++r) {
        gi[r] = p.b_ih[r]; gh[r] = p.b_hh[r];
        for (int k = 0; k < X + E; ++k) gi[r] += p.w_ih[r * (X + E) + k] * in[k];
        for (int k = 0; k < H; ++k) gh[r] += p.w_hh[r * H + k] * h[k];
      }
      for (int j = 0; j < H; ++j) {
        const double rr = sig(gi[j] + gh[j]), zz = sig(gi[H + j] + gh[H + j]);
        const double nn = std::tanh(gi[2 * H + j] + rr * gh[2 * H + j]);
        hn[j] = (1 - zz) * nn + zz * h[j];
      }
      h = hn;
      const double* y = &out[(size_t(i) * B + b) * (H + E)];
      for (int j = 0; j < H; ++j) err = std::max(err, std::fabs(y[j] - h[j]));
      for (int k = 0; k < E; ++k) err = std::max(err, std::fabs(y[H + k] - c[k]));
    }
  }
  check(err < 1e-12, std::string("gru ") + score_name(score) + ": decoder matches the naive reference", err);
}

// Rows mapped onto sources (source_rows, memory [N,S,E]) read exactly what a copy of those memory
// rows would give them: the same products on the same numbers, so the same bits (float, the kernels
// inference runs).
void test_source_rows(Cell cell, Score score) {
  const int M = 2, N = 4, S = 3, B = 5, X = 2, H = 4, A = 3;
  const int E = score == Score::Dot ? H : 6;
  const std::vector<int> rows{2, 0, 2, 1, 2}, lengths{4, 1, 3, 2, 4};
  std::mt19937 rng(7 + int(score) * 5 + int(cell));
  Model model(AttentionDecoderShape{cell, score, M, N, B, X, E, H, A}, rng);
  const std::vector<float> params(model.flat.begin(), model.flat.end());
  auto floats = [&](size_t n) { const std::vector<double> d = randoms(n, rng); return std::vector<float>(d.begin(), d.end()); };
  const std::vector<float> x = floats(size_t(M) * B * X), memory = floats(size_t(N) * S * E);
  std::vector<float> copied(size_t(N) * B * E);
  for (int j = 0; j < N; ++j)
    for (int b = 0; b < B; ++b)
      for (int e = 0; e < E; ++e) copied[(size_t(j) * B + b) * E + e] = memory[(size_t(j) * S + rows[b]) * E + e];
  auto run = [&](const AttentionDecoderShape& s, const float* mem, const int* source_rows) {
    std::vector<float> w(params);
    const AttentionDecoderParams<float> p = attention_decoder_params<float>(w.data(), s, true);
    std::vector<float> ws(attention_decoder_workspace_floats(s)), out(size_t(M) * B * (H + E)), att(size_t(M) * B * N),
        hN(size_t(B) * H), cN(size_t(B) * H);
    attention_decoder_forward(out.data(), att.data(), hN.data(), cN.data(), ws.data(), p, x.data(), mem, source_rows,
                              lengths.data(), (const int*)nullptr, (const float*)nullptr, (const float*)nullptr,
                              DecoderReuse{}, s);
    out.insert(out.end(), att.begin(), att.end());
    out.insert(out.end(), hN.begin(), hN.end());
    return out;
  };
  AttentionDecoderShape mapped{cell, score, M, N, B, X, E, H, A};
  mapped.S = S;
  const std::vector<float> a = run(mapped, memory.data(), rows.data());
  const std::vector<float> b = run(AttentionDecoderShape{cell, score, M, N, B, X, E, H, A}, copied.data(), nullptr);
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  check(differ == 0, std::string(cell_name(cell)) + " " + score_name(score) + ": source_rows give a copied memory's bits",
        double(differ));
}

}  // namespace

int main() {
  announce_kernel_path();
  const Cell cells[] = {Cell::RnnTanh, Cell::RnnRelu, Cell::Gru, Cell::Lstm};
  const Score scores[] = {Score::Bahdanau, Score::Dot, Score::General};
  for (Score score : scores) {
    test_naive_reference(score);
    for (Cell cell : cells) test_gradients(cell, score);
    for (Cell cell : cells) test_source_rows(cell, score);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
