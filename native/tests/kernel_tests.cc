// Native tests of the recurrent kernels, without Node: the fast path against a
// plain per-element reference, and BPTT against central finite differences in
// double precision. Run by ctest (see CMakeLists.txt).
#include <chrono>
#include <cmath>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernel_path.h"
#include "../kernels/blas.h"
#include "../kernels/fast_math.h"
#include "../kernels/packed_gemm.h"
#include "../kernels/parallel.h"
#include "../kernels/recurrent_direction.h"
#include "../kernels/recurrent_stack.h"
#include "../kernels/row_stealing.h"
#include "../kernels/rows_gemm.h"

using namespace rnnkit;

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string& name, double measure) {
  std::printf("%s %-70s (%.3g)\n", ok ? "ok  " : "FAIL", name.c_str(), measure);
  (ok ? passed : failed)++;
}

std::vector<double> randoms(size_t n, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> dist(0.0, scale);
  std::vector<double> v(n);
  for (double& e : v) e = dist(rng);
  return v;
}

const char* cell_name(Cell c) {
  switch (c) {
    case Cell::RnnTanh: return "rnn-tanh";
    case Cell::RnnRelu: return "rnn-relu";
    case Cell::Gru: return "gru";
    case Cell::GruResetBefore: return "gru-reset-before";
    default: return "lstm";
  }
}

double sig(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Straight from the equations, one (t, b, unit) at a time; no BLAS, no caches.
// w_hr [P,H] non-null: an LSTM with a projection, h = W_hr (o * tanh(c)) of P units.
void naive_direction_forward(std::vector<double>& y, std::vector<double>& hN, std::vector<double>& cN,
                             const std::vector<double>& x, const double* w_ih, const double* w_hh, const double* b_ih,
                             const double* b_hh, const std::vector<int>& lengths, Cell cell, int T, int B, int I,
                             int H, bool reverse, const double* w_hr = nullptr, int P = 0) {
  const int G = gate_count(cell), S = w_hr ? P : H;
  y.assign(size_t(T) * B * S, 0.0);
  hN.assign(size_t(B) * S, 0.0);
  cN.assign(size_t(B) * H, 0.0);
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(S, 0.0), c(H, 0.0), gi(G * H), gh(G * H);
    for (int k = 0; k < lengths[b]; ++k) {
      const int t = reverse ? lengths[b] - 1 - k : k;
      for (int r = 0; r < G * H; ++r) {
        double si = b_ih ? b_ih[r] : 0.0, sh = b_hh ? b_hh[r] : 0.0;
        for (int i = 0; i < I; ++i) si += w_ih[r * I + i] * x[(size_t(t) * B + b) * I + i];
        for (int j = 0; j < S; ++j) sh += w_hh[r * S + j] * h[j];
        gi[r] = si;
        gh[r] = sh;
      }
      std::vector<double> hn(H);
      for (int j = 0; j < H; ++j) {
        if (cell == Cell::RnnTanh) hn[j] = std::tanh(gi[j] + gh[j]);
        else if (cell == Cell::RnnRelu) hn[j] = std::max(0.0, gi[j] + gh[j]);
        else if (cell == Cell::Gru) {
          const double r = sig(gi[j] + gh[j]), z = sig(gi[H + j] + gh[H + j]);
          const double n = std::tanh(gi[2 * H + j] + r * gh[2 * H + j]);
          hn[j] = (1 - z) * n + z * h[j];
        } else if (cell == Cell::GruResetBefore) {  // n = tanh(gi_n + W_hn (r * h) + b_hn)
          const double r = sig(gi[j] + gh[j]), z = sig(gi[H + j] + gh[H + j]);
          double pre = gi[2 * H + j] + (b_hh ? b_hh[2 * H + j] : 0.0);
          for (int i = 0; i < H; ++i) {
            const double ri = sig(gi[i] + gh[i]);
            pre += w_hh[(2 * H + j) * H + i] * ri * h[i];
          }
          hn[j] = (1 - z) * std::tanh(pre) + z * h[j];
        } else {
          const double i = sig(gi[j] + gh[j]), f = sig(gi[H + j] + gh[H + j]);
          const double g = std::tanh(gi[2 * H + j] + gh[2 * H + j]), o = sig(gi[3 * H + j] + gh[3 * H + j]);
          c[j] = f * c[j] + i * g;
          hn[j] = o * std::tanh(c[j]);
        }
      }
      if (w_hr) {
        for (int p = 0; p < P; ++p) {
          double v = 0;
          for (int j = 0; j < H; ++j) v += w_hr[p * H + j] * hn[j];
          h[p] = v;
        }
      } else {
        h = hn;
      }
      for (int j = 0; j < S; ++j) y[(size_t(t) * B + b) * S + j] = h[j];
    }
    for (int j = 0; j < S; ++j) hN[size_t(b) * S + j] = h[j];
    for (int j = 0; j < H; ++j) cN[size_t(b) * H + j] = c[j];
  }
}

double max_abs_diff(const double* a, const double* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

void test_fast_matches_naive(Cell cell, bool reverse) {
  const int T = 6, B = 3, I = 5, H = 4, GH = gate_count(cell) * H;
  std::mt19937 rng(7);
  const std::vector<double> x = randoms(size_t(T) * B * I, rng), w_ih = randoms(size_t(GH) * I, rng, 0.5),
                            w_hh = randoms(size_t(GH) * H, rng, 0.5), b_ih = randoms(GH, rng), b_hh = randoms(GH, rng);
  const std::vector<int> lengths{6, 1, 4};
  std::vector<double> y_ref, h_ref, c_ref;
  naive_direction_forward(y_ref, h_ref, c_ref, x, w_ih.data(), w_hh.data(), b_ih.data(), b_hh.data(), lengths, cell,
                          T, B, I, H, reverse);
  std::vector<double> y(size_t(T) * B * H), hN(size_t(B) * H), cN(size_t(B) * H);
  std::vector<double> ws(direction_workspace_floats(cell, T, B, I, H));
  const DirectionShape s{cell, T, B, I, H, reverse};
  direction_forward(y.data(), H, hN.data(), cN.data(), ws.data(), x.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                    b_hh.data(), (const double*)nullptr, (const double*)nullptr, (const double*)nullptr,
                    lengths.data(), s);
  double err = std::max(max_abs_diff(y.data(), y_ref.data(), y.size()), max_abs_diff(hN.data(), h_ref.data(), hN.size()));
  if (cell == Cell::Lstm) err = std::max(err, max_abs_diff(cN.data(), c_ref.data(), cN.size()));
  check(err < 1e-12, std::string(cell_name(cell)) + (reverse ? " reverse" : " forward") +
                         " direction matches the naive reference on packed input", err);
}

// The projected LSTM's own time loop against the naive reference, forward and reverse, with
// h0/c0 and lengths, and the projection's leading dimension ldy > P (a second direction's columns).
void test_projected_matches_naive(bool reverse) {
  const int T = 6, B = 3, I = 5, H = 6, P = 4, GH = 4 * H, ldy = P + 3;
  std::mt19937 rng(8);
  const std::vector<double> x = randoms(size_t(T) * B * I, rng), w_ih = randoms(size_t(GH) * I, rng, 0.5),
                            w_hh = randoms(size_t(GH) * P, rng, 0.5), b_ih = randoms(GH, rng), b_hh = randoms(GH, rng),
                            w_hr = randoms(size_t(P) * H, rng, 0.5);
  const std::vector<int> lengths{6, 1, 4};
  std::vector<double> y_ref, h_ref, c_ref;
  naive_direction_forward(y_ref, h_ref, c_ref, x, w_ih.data(), w_hh.data(), b_ih.data(), b_hh.data(), lengths,
                          Cell::Lstm, T, B, I, H, reverse, w_hr.data(), P);
  std::vector<double> y(size_t(T) * B * ldy, 7.0), hN(size_t(B) * P), cN(size_t(B) * H);
  const DirectionShape s{Cell::Lstm, T, B, I, H, reverse, P};
  std::vector<double> ws(direction_workspace_floats(s));
  direction_forward(y.data(), ldy, hN.data(), cN.data(), ws.data(), x.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                    b_hh.data(), w_hr.data(), (const double*)nullptr, (const double*)nullptr, lengths.data(), s);
  double err = std::max(max_abs_diff(hN.data(), h_ref.data(), hN.size()), max_abs_diff(cN.data(), c_ref.data(), cN.size()));
  bool untouched = true;  // the columns past P belong to someone else
  for (size_t r = 0; r < size_t(T) * B; ++r) {
    err = std::max(err, max_abs_diff(y.data() + r * ldy, y_ref.data() + r * P, P));
    for (int j = P; j < ldy; ++j) untouched = untouched && y[r * ldy + j] == 7.0;
  }
  check(err < 1e-12 && untouched, std::string("lstm projSize ") + (reverse ? "reverse" : "forward") +
                                      " direction matches the naive reference on packed input", err);
}

// Full-stack BPTT against central differences of L = <y,wy> + <hN,wh> + <cN,wc>.
void test_stack_gradients(Cell cell, int L, int D, bool bias, double dropout, int proj = 0) {
  const int T = 5, B = 3, I = 4, H = proj > 0 ? 5 : 3;
  const StackConfig c{cell, L, D, I, H, bias, dropout, proj};
  const bool lstm = cell == Cell::Lstm;
  std::mt19937 rng(11 + int(cell) * 7 + L * 3 + D + proj * 5);
  const size_t P = stack_param_count(c), W = size_t(stack_state_size(c)), S = size_t(L) * D * B * W,
               SC = size_t(L) * D * B * H, Y = size_t(T) * B * D * W;
  std::vector<double> params = randoms(P, rng, 0.5), x = randoms(size_t(T) * B * I, rng), h0 = randoms(S, rng, 0.5),
                      c0 = randoms(SC, rng, 0.5), wy = randoms(Y, rng), wh = randoms(S, rng), wc = randoms(SC, rng);
  if (cell == Cell::RnnRelu)  // keep pre-activations away from the kink so differences are meaningful
    for (double& v : params) v *= 0.6;
  const std::vector<int> lengths{5, 2, 1};
  std::vector<double> ws(stack_workspace_floats(c, T, B)), y(Y), hN(S), cN(SC);
  const uint64_t seed = 1234;

  auto loss = [&]() {
    stack_forward(y.data(), hN.data(), cN.data(), ws.data(), params.data(), x.data(), h0.data(),
                  lstm ? c0.data() : nullptr, lengths.data(), true, seed, c, T, B);
    double v = 0;
    for (size_t i = 0; i < Y; ++i) v += y[i] * wy[i];
    for (size_t i = 0; i < S; ++i) v += hN[i] * wh[i];
    for (size_t i = 0; lstm && i < SC; ++i) v += cN[i] * wc[i];
    return v;
  };
  loss();
  std::vector<double> dparams(P, 0.0), dx(x.size()), dh0(S), dc0(SC);
  stack_backward(dx.data(), dh0.data(), lstm ? dc0.data() : nullptr, dparams.data(), ws.data(), params.data(),
                 wy.data(), wh.data(), lstm ? wc.data() : nullptr, lengths.data(), c, T, B);

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
    char name[160];
    std::snprintf(name, sizeof name, "%s%s L=%d D=%d%s%s gradient of %s matches finite differences", cell_name(cell),
                  proj > 0 ? " projSize" : "", L, D, bias ? "" : " nobias", dropout > 0 ? " dropout" : "", what);
    check(rel < 1e-7, name, rel);
  };
  compare(params, dparams, "params");
  compare(x, dx, "x");
  compare(h0, dh0, "h0");
  if (lstm) compare(c0, dc0, "c0");
}

// Float path (fast activations, packed GEMMs, dx inside the time loop for one
// direction) agrees with the double path on the same data, forward and backward.
// Sizes: small ragged ones, and ones that take the packed paths with x W_ih^T
// and dx inside the time loop (B >= 32, I >= 128).
void test_float_matches_double(Cell cell, int D, int T = 7, int B = 4, int I = 6, int H = 5, int proj = 0) {
  const StackConfig c{cell, 2, D, I, H, true, 0.0, proj};
  const bool lstm = cell == Cell::Lstm;
  std::mt19937 rng(3);
  const size_t P = stack_param_count(c), W = size_t(stack_state_size(c)), S = size_t(2) * D * B * W,
               SC = size_t(2) * D * B * H, Y = size_t(T) * B * D * W;
  const std::vector<double> pd = randoms(P, rng, 0.4), xd = randoms(size_t(T) * B * I, rng), dyd = randoms(Y, rng);
  std::vector<int> lengths(B);
  for (int b = 0; b < B; ++b) lengths[b] = b == 0 ? T : 1 + (b * 5) % T;
  std::vector<float> pf(pd.begin(), pd.end()), xf(xd.begin(), xd.end()), dyf(dyd.begin(), dyd.end());
  // Inference forwards: the smaller workspace that leaves out what only backward needs.
  std::vector<double> yd(Y), hd(S), cd(SC), wsd(stack_workspace_floats(c, T, B, false));
  std::vector<float> yf(Y), hf(S), cf(SC), wsf(stack_workspace_floats(c, T, B, false));
  stack_forward(yd.data(), hd.data(), cd.data(), wsd.data(), pd.data(), xd.data(), (const double*)nullptr,
                (const double*)nullptr, nullptr, false, 0, c, T, B);
  stack_forward(yf.data(), hf.data(), cf.data(), wsf.data(), pf.data(), xf.data(), (const float*)nullptr,
                (const float*)nullptr, nullptr, false, 0, c, T, B);
  double err = 0, yscale = 1;
  for (size_t i = 0; i < Y; ++i) yscale = std::max(yscale, std::fabs(yd[i]));
  for (size_t i = 0; i < Y; ++i) err = std::max(err, std::fabs(yd[i] - double(yf[i])) / yscale);
  const std::string name = std::string(cell_name(cell)) + (proj > 0 ? " projSize=" + std::to_string(proj) : "") +
                           (D == 2 ? " bidirectional" : "") + " T=" +
                           std::to_string(T) + " B=" + std::to_string(B) + " I=" + std::to_string(I) + " H=" +
                           std::to_string(H);
  check(err < 1e-5, name + " float32 forward agrees with float64", err);

  std::vector<double> wtd(stack_workspace_floats(c, T, B)), gd(P, 0.0), dxd(xd.size()), dh0d(S), dc0d(SC);
  std::vector<float> wtf(stack_workspace_floats(c, T, B)), gf(P, 0.0f), dxf(xf.size()), dh0f(S), dc0f(SC);
  stack_forward(yd.data(), hd.data(), cd.data(), wtd.data(), pd.data(), xd.data(), (const double*)nullptr,
                (const double*)nullptr, lengths.data(), true, 0, c, T, B);
  stack_forward(yf.data(), hf.data(), cf.data(), wtf.data(), pf.data(), xf.data(), (const float*)nullptr,
                (const float*)nullptr, lengths.data(), true, 0, c, T, B);
  stack_backward(dxd.data(), dh0d.data(), lstm ? dc0d.data() : nullptr, gd.data(), wtd.data(), pd.data(), dyd.data(),
                 (const double*)nullptr, (const double*)nullptr, lengths.data(), c, T, B);
  stack_backward(dxf.data(), dh0f.data(), lstm ? dc0f.data() : nullptr, gf.data(), wtf.data(), pf.data(), dyf.data(),
                 (const float*)nullptr, (const float*)nullptr, lengths.data(), c, T, B);
  double gerr = 0, scale = 0;
  for (size_t i = 0; i < P; ++i) { gerr = std::max(gerr, std::fabs(gd[i] - gf[i])); scale = std::max(scale, std::fabs(gd[i])); }
  for (size_t i = 0; i < dxd.size(); ++i) { gerr = std::max(gerr, std::fabs(dxd[i] - dxf[i])); scale = std::max(scale, std::fabs(dxd[i])); }
  for (size_t i = 0; i < S; ++i) gerr = std::max(gerr, std::fabs(dh0d[i] - dh0f[i]));
  check(gerr < 1e-5 * std::max(1.0, scale), name + " float32 gradients agree with float64",
        gerr / std::max(1.0, scale));
}

// The float activations the cell kernels use (through the same per-CPU
// dispatch) against double precision, over a sweep of float bit patterns.
void test_fast_activations() {
  auto sweep = [](void (*fn)(float*, const float*, size_t), double (*exact)(double), float lo, float hi,
                  const char* name) {
    std::vector<float> xs;
    for (float sign : {1.0f, -1.0f}) {
      const float top = sign > 0 ? hi : -lo;
      if (top <= 0) continue;
      uint32_t a, b;
      const float start = 1e-30f;
      std::memcpy(&a, &start, 4);
      std::memcpy(&b, &top, 4);
      for (uint32_t bits = a; bits <= b; bits += 61) {
        float v;
        std::memcpy(&v, &bits, 4);
        xs.push_back(sign * v);
      }
    }
    xs.push_back(0.0f);
    std::vector<float> ys(xs.size());
    fn(ys.data(), xs.data(), xs.size());
    double worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double ref = exact(double(xs[i]));
      const double rel = ref == 0 ? std::fabs(double(ys[i])) : std::fabs(double(ys[i]) - ref) / std::fabs(ref);
      worst = std::max(worst, rel);
    }
    check(worst <= 1e-6, std::string("fast float ") + name + " is within 1e-6 relative of the exact value (" +
                             std::to_string(xs.size()) + " points)", worst);
  };
  sweep(tanh_f32, [](double v) { return std::tanh(v); }, -20.0f, 20.0f, "tanh");
  sweep(sigmoid_f32, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, -87.0f, 88.0f, "sigmoid");
  sweep(exp_f32, [](double v) { return std::exp(v); }, -87.0f, 88.0f, "exp");

  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float xs[] = {inf, -inf, nan, 0.0f, -0.0f};
  float t[5], g[5];
  tanh_f32(t, xs, 5);
  sigmoid_f32(g, xs, 5);
  const bool ok = t[0] == 1.0f && t[1] == -1.0f && std::isnan(t[2]) && t[3] == 0.0f && t[4] == 0.0f &&
                  g[0] == 1.0f && g[1] >= 0.0f && g[1] < 1e-37f && std::isnan(g[2]) && g[3] == 0.5f;
  if (!ok)
    for (int i = 0; i < 5; ++i) std::printf("     x=%g tanh=%.9g sigmoid=%.9g\n", double(xs[i]), double(t[i]), double(g[i]));
  check(ok, "fast float tanh and sigmoid keep infinities, zeros and NaN sensible", 0.0);
}

// The packed micro-kernel against a plain triple loop: ragged M, N and K
// (tails of the 6-row tiles, the 16-column panels and the K blocks), both
// operand layouts, transposed A, and accumulate.
void test_packed_gemm() {
  if (!packed_gemm_available()) {
    check(true, "packed GEMM: not available on this CPU (BLAS is used instead)", 0.0);
    return;
  }
  std::mt19937 rng(17);
  const int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 600, 37}, {64, 256, 768}, {5, 1100, 16}, {97, 33, 50}};
  double worst = 0;
  for (const auto& sh : shapes) {
    const int M = sh[0], K = sh[1], N = sh[2];
    for (int variant = 0; variant < 8; ++variant) {
      const bool w_transposed = variant & 1, trans_a = variant & 2, accumulate = variant & 4;
      std::vector<double> ad = randoms(size_t(M) * K, rng), wd = randoms(size_t(K) * N, rng), cd = randoms(size_t(M) * N, rng);
      std::vector<float> a(ad.begin(), ad.end()), w(wd.begin(), wd.end()), c(cd.begin(), cd.end());
      std::vector<float> packed(packed_floats(K, N));
      pack_operand(packed.data(), w.data(), K, N, w_transposed);
      const int lda = trans_a ? M : K;
      packed_gemm(c.data(), N, a.data(), lda, packed.data(), M, N, K, accumulate, trans_a);
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
          double ref = accumulate ? double(float(cd[size_t(m) * N + n])) : 0.0;
          for (int k = 0; k < K; ++k) {
            const double av = trans_a ? a[size_t(k) * M + m] : a[size_t(m) * K + k];
            const double wv = w_transposed ? w[size_t(n) * K + k] : w[size_t(k) * N + n];
            ref += av * wv;
          }
          worst = std::max(worst, std::fabs(ref - c[size_t(m) * N + n]) / std::sqrt(double(K)));
        }
    }
  }
  check(worst < 1e-5, "packed GEMM matches a plain triple loop on ragged shapes, both layouts, transposed A, accumulate",
        worst);
}

// rows_gemm, the forward products: agrees with a plain loop, and each row's bits
// are its own: the same computed alone, inside any batch, at any row offset,
// with 1 or 2 threads (what batch-invariant decoding rests on).
void test_rows_gemm() {
  std::mt19937 rng(31);
  const int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 37, 600}, {64, 768, 256}, {5, 16, 1100}, {97, 50, 33}, {200, 40, 9}};
  double worst = 0;
  bool invariant = true;
  for (const auto& sh : shapes) {
    const int M = sh[0], N = sh[1], K = sh[2], lda = K + 3, ldw = K + 1, ldc = N + 2;
    const std::vector<double> ad = randoms(size_t(M) * lda, rng), wd = randoms(size_t(N) * ldw, rng),
                              cd = randoms(size_t(M) * ldc, rng);
    const std::vector<float> a(ad.begin(), ad.end()), w(wd.begin(), wd.end()), c0(cd.begin(), cd.end());
    for (int accumulate = 0; accumulate < 2; ++accumulate) {
      std::vector<float> all = c0;
      blas_set_num_threads(2);
      rows_gemm(all.data(), ldc, a.data(), lda, w.data(), ldw, M, N, K, accumulate);
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
          double ref = accumulate ? double(c0[size_t(m) * ldc + n]) : 0.0;
          for (int k = 0; k < K; ++k) ref += double(a[size_t(m) * lda + k]) * w[size_t(n) * ldw + k];
          worst = std::max(worst, std::fabs(ref - all[size_t(m) * ldc + n]) / std::sqrt(double(K)));
        }
      blas_set_num_threads(1);
      std::vector<float> packed(rows_gemm_packed_floats(N, K));
      rows_gemm_pack(packed.data(), w.data(), ldw, N, K);
      for (int m0 : {0, M / 3, M - 1}) {  // row m0 alone, and rows [m0, M) as a smaller batch, W packed or not
        for (int rows : {1, M - m0}) {
          for (const float* pk : {static_cast<const float*>(nullptr), static_cast<const float*>(packed.data())}) {
            std::vector<float> part = c0;
            rows_gemm(part.data() + size_t(m0) * ldc, ldc, a.data() + size_t(m0) * lda, lda, w.data(), ldw, rows, N,
                      K, accumulate, pk);
            for (size_t i = size_t(m0) * ldc; i < size_t(m0 + rows) * ldc; ++i)
              if (std::memcmp(&part[i], &all[i], sizeof(float)) != 0) invariant = false;
          }
        }
      }
    }
  }
  blas_set_num_threads(2);
  check(worst < 1e-5, "rows_gemm matches a plain loop (ragged tiles, K tails, leading dimensions, accumulate)", worst);
  check(invariant, "rows_gemm gives each row the same bits alone, in a smaller batch, packed or not, on 1 or 2 threads", 0.0);
}

// The documented order (rows_gemm.h), as scalar code: one running sum per element,
// k = 0..K-1 in turn, starting from C's old value when accumulating; fused on the
// AVX2 and AVX-512 paths (and arm64), c + a*w with two roundings on x86-64 baseline.
// Every kernel must give exactly these bits: W read as it is (few rows: transposed in
// registers; more: packed in blocks here) and W packed by rows_gemm_pack, on shapes
// that cross the tile, panel, column-block and k-block edges, with leading dimensions.
void test_rows_gemm_order() {
#if defined(__x86_64__) || defined(_M_X64)
  const bool fused = active_isa() != Isa::Baseline;
#else
  const bool fused = true;
#endif
  std::mt19937 rng(37);
  const int shapes[][3] = {{1, 50, 256}, {2, 768, 256}, {3, 37, 13}, {4, 40, 512}, {5, 16, 7}, {6, 7, 13},
                           {7, 129, 300}, {8, 50, 256}, {9, 50, 256}, {13, 1100, 33}, {64, 40, 600}, {300, 20, 1100}};
  bool same = true;
  for (const auto& sh : shapes) {
    const int M = sh[0], N = sh[1], K = sh[2], lda = K + 3, ldw = K + 1, ldc = N + 2;
    const std::vector<double> ad = randoms(size_t(M) * lda, rng), wd = randoms(size_t(N) * ldw, rng),
                              cd = randoms(size_t(M) * ldc, rng);
    const std::vector<float> a(ad.begin(), ad.end()), w(wd.begin(), wd.end()), c0(cd.begin(), cd.end());
    std::vector<float> packed(rows_gemm_packed_floats(N, K));
    rows_gemm_pack(packed.data(), w.data(), ldw, N, K);
    for (int accumulate = 0; accumulate < 2; ++accumulate) {
      for (int use_pack = 0; use_pack < 2; ++use_pack) {
        std::vector<float> got = c0;
        rows_gemm(got.data(), ldc, a.data(), lda, w.data(), ldw, M, N, K, accumulate, use_pack ? packed.data() : nullptr);
        for (int m = 0; m < M; ++m)
          for (int n = 0; n < N; ++n) {
            float c = accumulate ? c0[size_t(m) * ldc + n] : 0.0f;
            for (int k = 0; k < K; ++k) {
              const float x = a[size_t(m) * lda + k], y = w[size_t(n) * ldw + k];
              if (fused) {
                c = std::fma(x, y, c);
              } else {
                volatile float product = x * y;  // rounded on its own, as the baseline path does
                c = c + product;
              }
            }
            if (std::memcmp(&c, &got[size_t(m) * ldc + n], sizeof(float)) != 0) same = false;
          }
        for (int m = 0; m < M; ++m)  // columns past N and the padding stay untouched
          for (int n = N; n < ldc; ++n)
            if (std::memcmp(&got[size_t(m) * ldc + n], &c0[size_t(m) * ldc + n], sizeof(float)) != 0) same = false;
      }
    }
  }
  check(same, std::string("rows_gemm gives the bits of its documented order, W packed or not (") + isa_name(active_isa()) + ")",
        0.0);
}

// Time loops hand rows to a thread that ran ahead (row_stealing.h). A hook
// slows the owner of the first rows of direction 0 so that the other thread
// takes rows mid-loop: every (row, step) must still run once, in step order,
// and the stack's forward and backward must give the bits of a run where no
// rows changed hands.
std::atomic<int> g_handovers{0};
std::atomic<bool> g_other_rows_done{false};
int g_steps = 0;  // T of the loops under test
// The owner of direction 0's first rows waits at its first step until another
// lease has run its last step (at most 2 s), then runs 2 ms per step: the other
// thread is then idle with many steps left to take, even under emulation
// (qemu) or valgrind, where a fixed delay may not exceed a whole loop's work.
void slow_first_rows(const RowLease& rows, int step) {
  const bool slow = rows.group() == 0 && rows.begin() == 0 && rows.first_step() == 0;
  if (rows.first_step() > 0) g_handovers.fetch_add(1, std::memory_order_relaxed);
  if (!slow && step == g_steps - 1) g_other_rows_done = true;
  if (!slow) return;
  if (step == 0)
    for (int waited = 0; waited < 2000 && !g_other_rows_done; ++waited)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
}
void reset_slow_first_rows(int steps) {
  g_handovers = 0;
  g_other_rows_done = false;
  g_steps = steps;
}

void test_row_stealing_protocol() {
  blas_set_num_threads(2);
  const int T = 40, B = 64;
  std::vector<int> next_step(B, 0);
  std::vector<double> state(B, 0.0), want(B, 0.0);
  std::atomic<bool> ordered{true};
  reset_slow_first_rows(T);
  row_lease_step_hook() = slow_first_rows;
  run_time_loops(1, 2, B, T, true, [&](RowLease& rows) {
    int b1 = rows.begin();
    for (int k = rows.first_step(); k < T; ++k) {
      b1 = rows.begin_step(k);
      for (int b = rows.begin(); b < b1; ++b) {
        if (next_step[size_t(b)] != k) ordered = false;
        next_step[size_t(b)] = k + 1;
        state[size_t(b)] = state[size_t(b)] * 0.5 + (b + 1) * (k + 1);
      }
      rows.end_step(k);
    }
  });
  row_lease_step_hook() = nullptr;
  bool complete = true;
  for (int b = 0; b < B; ++b) {
    for (int k = 0; k < T; ++k) want[size_t(b)] = want[size_t(b)] * 0.5 + (b + 1) * (k + 1);
    if (next_step[size_t(b)] != T || state[size_t(b)] != want[size_t(b)]) complete = false;
  }
  check(g_handovers > 0 && ordered && complete,
        "time-loop rows handed to another thread run every step once, in order (handovers: " +
            std::to_string(g_handovers.load()) + ")",
        0.0);
}

void test_row_stealing_kernels(Cell cell, int D, int proj = 0) {
  const int T = 24, B = 48, I = 40, H = 48;
  const StackConfig c{cell, 1, D, I, H, true, 0.0, proj};
  const bool lstm = cell == Cell::Lstm;
  std::mt19937 rng(71 + int(cell) + D + proj);
  const size_t P = stack_param_count(c), W = size_t(stack_state_size(c)), S = size_t(D) * B * W,
               SC = size_t(D) * B * H, Y = size_t(T) * B * D * W;
  auto floats = [&](size_t n, double scale) {
    const std::vector<double> d = randoms(n, rng, scale);
    return std::vector<float>(d.begin(), d.end());
  };
  const std::vector<float> params = floats(P, 0.3), x = floats(size_t(T) * B * I, 1.0), dy = floats(Y, 1.0);
  std::vector<int> lengths(B);
  for (int b = 0; b < B; ++b) lengths[size_t(b)] = 1 + (b * 7) % T;
  struct Out { std::vector<float> y, hN, cN, dx, dh0, dc0, dparams; };
  auto run = [&](RowLeaseStepHook hook) {
    Out o{std::vector<float>(Y), std::vector<float>(S), std::vector<float>(SC), std::vector<float>(x.size()),
          std::vector<float>(S), std::vector<float>(SC), std::vector<float>(P, 0.0f)};
    std::vector<float> ws(stack_workspace_floats(c, T, B));
    row_lease_step_hook() = hook;
    stack_forward(o.y.data(), o.hN.data(), lstm ? o.cN.data() : nullptr, ws.data(), params.data(), x.data(),
                  (const float*)nullptr, (const float*)nullptr, lengths.data(), true, 5, c, T, B);
    stack_backward(o.dx.data(), o.dh0.data(), lstm ? o.dc0.data() : nullptr, o.dparams.data(), ws.data(),
                   params.data(), dy.data(), (const float*)nullptr, (const float*)nullptr, lengths.data(), c, T, B);
    row_lease_step_hook() = nullptr;
    return o;
  };
  blas_set_num_threads(2);
  const Out quiet = run(nullptr);
  reset_slow_first_rows(T);
  const Out stolen = run(slow_first_rows);
  auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  const bool ok = same(quiet.y, stolen.y) && same(quiet.hN, stolen.hN) && same(quiet.cN, stolen.cN) &&
                  same(quiet.dx, stolen.dx) && same(quiet.dh0, stolen.dh0) && same(quiet.dc0, stolen.dc0) &&
                  same(quiet.dparams, stolen.dparams);
  check(ok && g_handovers > 0,
        std::string(cell_name(cell)) + (proj > 0 ? " projSize" : "") + (D == 2 ? " bidirectional" : "") +
            ": rows handed over mid-loop give the same bits, forward and backward (handovers: " +
            std::to_string(g_handovers.load()) + ")",
        0.0);
}

// rnnkit's gemm wrapper (row-major, leading dimensions, matrix-vector shortcut
// for one row, split over the pool when large) against a plain triple loop.
void test_gemm_wrapper() {
  std::mt19937 rng(23);
  const int shapes[][3] = {{1, 70, 33}, {1, 1, 5}, {5, 1, 9}, {37, 50, 20}, {300, 200, 160}};
  double worst = 0;
  for (int threads : {1, 2}) {
    blas_set_num_threads(threads);
    for (const auto& sh : shapes) {
      const int M = sh[0], N = sh[1], K = sh[2];
      for (int variant = 0; variant < 8; ++variant) {
        const bool ta = variant & 1, tb = variant & 2;
        const float beta = (variant & 4) ? 1.0f : 0.0f;
        const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
        const std::vector<double> ad = randoms(size_t(ta ? K : M) * lda, rng), bd = randoms(size_t(tb ? N : K) * ldb, rng),
                                  cd = randoms(size_t(M) * ldc, rng);
        std::vector<float> a(ad.begin(), ad.end()), b(bd.begin(), bd.end()), c(cd.begin(), cd.end());
        gemm(ta, tb, M, N, K, 0.5f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        for (int m = 0; m < M; ++m)
          for (int n = 0; n < N; ++n) {
            double ref = beta * double(float(cd[size_t(m) * ldc + n]));
            for (int k = 0; k < K; ++k)
              ref += 0.5 * double(ta ? a[size_t(k) * lda + m] : a[size_t(m) * lda + k]) *
                     double(tb ? b[size_t(n) * ldb + k] : b[size_t(k) * ldb + n]);
            worst = std::max(worst, std::fabs(ref - c[size_t(m) * ldc + n]) / std::sqrt(double(K)));
          }
      }
    }
  }
  blas_set_num_threads(2);
  check(worst < 1e-5, "gemm wrapper matches a plain triple loop (one row, one column, transposes, split over threads)",
        worst);
}

// A sequence gives the same bits alone as in a batch (decoding with beam
// width 1 must equal batched greedy decoding, for instance): every path sums
// each row in an order that does not depend on the other rows.
void test_batch_invariance(Cell cell, int T, int proj = 0) {
  const int B = 5, I = 12, H = 20, W = proj > 0 ? proj : H;
  const StackConfig c{cell, 1, 1, I, H, true, 0.0, proj};
  std::mt19937 rng(29);
  const size_t P = stack_param_count(c);
  auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  const std::vector<float> params = to_float(randoms(P, rng, 0.3)), x = to_float(randoms(size_t(T) * B * I, rng));
  auto run = [&](int rows, const float* xin) {
    std::vector<float> ws(stack_workspace_floats(c, T, rows, false)), y(size_t(T) * rows * W), hN(size_t(rows) * W),
        cN(size_t(rows) * H);
    stack_forward(y.data(), hN.data(), cN.data(), ws.data(), params.data(), xin, (const float*)nullptr,
                  (const float*)nullptr, nullptr, false, 0, c, T, rows);
    return y;
  };
  const std::vector<float> batch = run(B, x.data());
  bool same = true;
  for (int b = 0; b < B; ++b) {
    std::vector<float> xb(size_t(T) * I);
    for (int t = 0; t < T; ++t) std::copy_n(x.data() + (size_t(t) * B + b) * I, I, xb.data() + size_t(t) * I);
    const std::vector<float> alone = run(1, xb.data());
    for (int t = 0; t < T; ++t)
      same = same && std::memcmp(alone.data() + size_t(t) * W, batch.data() + (size_t(t) * B + b) * W,
                                 size_t(W) * sizeof(float)) == 0;
  }
  check(same, std::string(cell_name(cell)) + (proj > 0 ? " projSize" : "") + " T=" + std::to_string(T) +
                  ": each sequence gives the same bits alone as in a batch of 5", 0.0);
}

// The pool splits time loops by batch rows and directions and GEMMs by rows or
// columns; every thread count must give the same numbers (up to GEMM rounding).
void test_threads_agree(Cell cell, int D, int proj = 0) {
  const int T = 20, B = 48, I = 128, H = 64;
  const StackConfig c{cell, 2, D, I, H, true, 0.0, proj};
  const bool lstm = cell == Cell::Lstm;
  std::mt19937 rng(5);
  const size_t P = stack_param_count(c), W = size_t(stack_state_size(c)), S = size_t(2) * D * B * W,
               SC = size_t(2) * D * B * H, Y = size_t(T) * B * D * W;
  auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  const std::vector<float> params = to_float(randoms(P, rng, 0.2)), x = to_float(randoms(size_t(T) * B * I, rng)),
                           dy = to_float(randoms(Y, rng)), dhN = to_float(randoms(S, rng));
  std::vector<int> lengths(B);
  for (int b = 0; b < B; ++b) lengths[b] = 1 + (b * 7) % T;
  auto run = [&](int threads, std::vector<float>& out) {
    blas_set_num_threads(threads);
    std::vector<float> ws(stack_workspace_floats(c, T, B)), y(Y), hN(S), cN(SC), dparams(P, 0.0f), dx(x.size()),
        dh0(S), dc0(SC);
    stack_forward(y.data(), hN.data(), lstm ? cN.data() : nullptr, ws.data(), params.data(), x.data(),
                  (const float*)nullptr, (const float*)nullptr, lengths.data(), true, 9, c, T, B);
    stack_backward(dx.data(), dh0.data(), lstm ? dc0.data() : nullptr, dparams.data(), ws.data(), params.data(),
                   dy.data(), dhN.data(), (const float*)nullptr, lengths.data(), c, T, B);
    out = y;
    for (auto* v : {&hN, &dparams, &dx, &dh0}) out.insert(out.end(), v->begin(), v->end());
  };
  std::vector<float> one, two, three;
  run(1, one);
  run(2, two);
  run(3, three);
  blas_set_num_threads(2);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < one.size(); ++i) {
    worst = std::max({worst, double(std::fabs(one[i] - two[i])), double(std::fabs(one[i] - three[i]))});
    scale = std::max(scale, double(std::fabs(one[i])));
  }
  check(worst <= 1e-5 * scale, std::string(cell_name(cell)) + (proj > 0 ? " projSize" : "") +
                                   (D == 2 ? " bidirectional" : "") +
                                   " stack gives the same outputs and gradients on 1, 2 and 3 threads",
        worst / scale);
}

// The pool's worker may run anywhere but on the CPU of the thread that handed
// it the job (see keep_workers_off_caller_cpu). The caller is held on one CPU
// for the check so it cannot move between submitting and the worker's look.
void test_workers_avoid_caller_cpu() {
#if defined(__linux__)
  cpu_set_t original;
  CPU_ZERO(&original);
  if (sched_getaffinity(0, sizeof original, &original) != 0 || CPU_COUNT(&original) < 2 || num_threads() < 2) {
    std::printf("skip workers avoid the caller's CPU (needs 2 CPUs and 2 threads)\n");
    return;
  }
  parallel_for(2, [](int) {});  // starts the worker with the full mask
  int failures = 0, checked = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && checked < 4; ++cpu) {
    if (!CPU_ISSET(cpu, &original)) continue;
    cpu_set_t only;
    CPU_ZERO(&only);
    CPU_SET(cpu, &only);
    if (sched_setaffinity(0, sizeof only, &only) != 0) continue;
    const long caller = syscall(SYS_gettid);
    std::atomic<int> worker_masks_with_caller_cpu{0}, worker_tasks{0};
    // Both tasks must be running at once for the second to land on the worker.
    std::atomic<int> arrived{0};
    parallel_for(2, [&](int) {
      arrived.fetch_add(1);
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (arrived.load() < 2 && std::chrono::steady_clock::now() < give_up) {}
      if (syscall(SYS_gettid) == caller) return;
      cpu_set_t mine;
      CPU_ZERO(&mine);
      sched_getaffinity(0, sizeof mine, &mine);
      worker_tasks.fetch_add(1);
      if (CPU_ISSET(cpu, &mine)) worker_masks_with_caller_cpu.fetch_add(1);
    });
    failures += worker_masks_with_caller_cpu.load() + (worker_tasks.load() == 1 ? 0 : 1);
    ++checked;
  }
  sched_setaffinity(0, sizeof original, &original);
  check(checked >= 2 && failures == 0, "pool worker is kept off the caller's CPU", double(failures));

  // A caller that may run on several CPUs: the worker gets those minus one (the caller's at the time).
  const long caller = syscall(SYS_gettid);
  std::atomic<int> arrived{0}, subset{0}, one_fewer{0}, worker_tasks{0};
  parallel_for(2, [&](int) {
    arrived.fetch_add(1);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (arrived.load() < 2 && std::chrono::steady_clock::now() < give_up) {}
    if (syscall(SYS_gettid) == caller) return;
    cpu_set_t mine, both;
    CPU_ZERO(&mine);
    sched_getaffinity(0, sizeof mine, &mine);
    CPU_AND(&both, &mine, &original);
    worker_tasks.fetch_add(1);
    if (CPU_EQUAL(&both, &mine)) subset.fetch_add(1);
    if (CPU_COUNT(&mine) == CPU_COUNT(&original) - 1) one_fewer.fetch_add(1);
  });
  check(worker_tasks.load() == 1 && subset.load() == 1 && one_fewer.load() == 1,
        "pool worker runs where the caller may, minus one CPU", double(worker_tasks.load() + subset.load() + one_fewer.load()));
#endif
}

}  // namespace

int main() {
  announce_kernel_path();
  test_fast_activations();
  test_packed_gemm();
  test_rows_gemm();
  test_rows_gemm_order();
  test_row_stealing_protocol();
  for (Cell cell : {Cell::RnnTanh, Cell::Gru, Cell::Lstm, Cell::GruResetBefore})
    for (int D : {1, 2}) test_row_stealing_kernels(cell, D);
  test_gemm_wrapper();
  test_workers_avoid_caller_cpu();
  const Cell cells[] = {Cell::RnnTanh, Cell::RnnRelu, Cell::Gru, Cell::Lstm, Cell::GruResetBefore};
  for (Cell cell : cells) {
    test_fast_matches_naive(cell, false);
    test_fast_matches_naive(cell, true);
    test_stack_gradients(cell, 1, 1, true, 0.0);
    test_stack_gradients(cell, 2, 2, true, 0.0);
    test_stack_gradients(cell, 2, 1, false, 0.0);
    test_stack_gradients(cell, 3, 2, true, 0.3);
    test_float_matches_double(cell, 1);
    test_float_matches_double(cell, 2);
    test_float_matches_double(cell, 1, 6, 33, 128, 24);
    test_float_matches_double(cell, 2, 6, 33, 128, 24);
    test_threads_agree(cell, 1);
    test_batch_invariance(cell, 1);
    test_batch_invariance(cell, 6);
    test_threads_agree(cell, 2);
  }
  // LSTM with a projection (projSize): its own time loops, same checks.
  test_projected_matches_naive(false);
  test_projected_matches_naive(true);
  test_stack_gradients(Cell::Lstm, 1, 1, true, 0.0, 3);
  test_stack_gradients(Cell::Lstm, 2, 2, true, 0.0, 2);
  test_stack_gradients(Cell::Lstm, 2, 1, false, 0.0, 4);
  test_stack_gradients(Cell::Lstm, 3, 2, true, 0.3, 3);
  test_float_matches_double(Cell::Lstm, 1, 7, 4, 6, 5, 3);
  test_float_matches_double(Cell::Lstm, 2, 7, 4, 6, 5, 3);
  test_float_matches_double(Cell::Lstm, 1, 6, 33, 128, 24, 16);
  test_float_matches_double(Cell::Lstm, 2, 6, 33, 128, 24, 16);
  for (int D : {1, 2}) test_row_stealing_kernels(Cell::Lstm, D, 20);
  test_threads_agree(Cell::Lstm, 1, 32);
  test_threads_agree(Cell::Lstm, 2, 32);
  test_batch_invariance(Cell::Lstm, 1, 7);
  test_batch_invariance(Cell::Lstm, 6, 7);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
