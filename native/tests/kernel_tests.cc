// Native tests of the recurrent kernels, without Node: the fast path against a
// plain per-element reference, and BPTT against central finite differences in
// double precision. Run by ctest (see CMakeLists.txt).
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../kernels/recurrent_direction.h"
#include "../kernels/recurrent_stack.h"

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
    default: return "lstm";
  }
}

double sig(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Straight from the equations, one (t, b, unit) at a time; no BLAS, no caches.
void naive_direction_forward(std::vector<double>& y, std::vector<double>& hN, std::vector<double>& cN,
                             const std::vector<double>& x, const double* w_ih, const double* w_hh, const double* b_ih,
                             const double* b_hh, const std::vector<int>& lengths, Cell cell, int T, int B, int I,
                             int H, bool reverse) {
  const int G = gate_count(cell);
  y.assign(size_t(T) * B * H, 0.0);
  hN.assign(size_t(B) * H, 0.0);
  cN.assign(size_t(B) * H, 0.0);
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0), c(H, 0.0), gi(G * H), gh(G * H);
    for (int k = 0; k < lengths[b]; ++k) {
      const int t = reverse ? lengths[b] - 1 - k : k;
      for (int r = 0; r < G * H; ++r) {
        double si = b_ih ? b_ih[r] : 0.0, sh = b_hh ? b_hh[r] : 0.0;
        for (int i = 0; i < I; ++i) si += w_ih[r * I + i] * x[(size_t(t) * B + b) * I + i];
        for (int j = 0; j < H; ++j) sh += w_hh[r * H + j] * h[j];
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
        } else {
          const double i = sig(gi[j] + gh[j]), f = sig(gi[H + j] + gh[H + j]);
          const double g = std::tanh(gi[2 * H + j] + gh[2 * H + j]), o = sig(gi[3 * H + j] + gh[3 * H + j]);
          c[j] = f * c[j] + i * g;
          hn[j] = o * std::tanh(c[j]);
        }
      }
      h = hn;
      for (int j = 0; j < H; ++j) y[(size_t(t) * B + b) * H + j] = h[j];
    }
    for (int j = 0; j < H; ++j) { hN[size_t(b) * H + j] = h[j]; cN[size_t(b) * H + j] = c[j]; }
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
  std::vector<double> ws(direction_workspace_floats(cell, T, B, H));
  const DirectionShape s{cell, T, B, I, H, reverse};
  direction_forward(y.data(), H, hN.data(), cN.data(), ws.data(), x.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                    b_hh.data(), (const double*)nullptr, (const double*)nullptr, lengths.data(), s);
  double err = std::max(max_abs_diff(y.data(), y_ref.data(), y.size()), max_abs_diff(hN.data(), h_ref.data(), hN.size()));
  if (cell == Cell::Lstm) err = std::max(err, max_abs_diff(cN.data(), c_ref.data(), cN.size()));
  check(err < 1e-12, std::string(cell_name(cell)) + (reverse ? " reverse" : " forward") +
                         " direction matches the naive reference on packed input", err);
}

// Full-stack BPTT against central differences of L = <y,wy> + <hN,wh> + <cN,wc>.
void test_stack_gradients(Cell cell, int L, int D, bool bias, double dropout) {
  const int T = 5, B = 3, I = 4, H = 3;
  const StackConfig c{cell, L, D, I, H, bias, dropout};
  const bool lstm = cell == Cell::Lstm;
  std::mt19937 rng(11 + int(cell) * 7 + L * 3 + D);
  const size_t P = stack_param_count(c), S = size_t(L) * D * B * H, Y = size_t(T) * B * D * H;
  std::vector<double> params = randoms(P, rng, 0.5), x = randoms(size_t(T) * B * I, rng), h0 = randoms(S, rng, 0.5),
                      c0 = randoms(S, rng, 0.5), wy = randoms(Y, rng), wh = randoms(S, rng), wc = randoms(S, rng);
  if (cell == Cell::RnnRelu)  // keep pre-activations away from the kink so differences are meaningful
    for (double& v : params) v *= 0.6;
  const std::vector<int> lengths{5, 2, 1};
  std::vector<double> ws(stack_workspace_floats(c, T, B)), y(Y), hN(S), cN(S);
  const uint64_t seed = 1234;

  auto loss = [&]() {
    stack_forward(y.data(), hN.data(), cN.data(), ws.data(), params.data(), x.data(), h0.data(),
                  lstm ? c0.data() : nullptr, lengths.data(), true, seed, c, T, B);
    double v = 0;
    for (size_t i = 0; i < Y; ++i) v += y[i] * wy[i];
    for (size_t i = 0; i < S; ++i) v += hN[i] * wh[i] + (lstm ? cN[i] * wc[i] : 0.0);
    return v;
  };
  loss();
  std::vector<double> dparams(P, 0.0), dx(x.size()), dh0(S), dc0(S);
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
    std::snprintf(name, sizeof name, "%s L=%d D=%d%s%s gradient of %s matches finite differences", cell_name(cell), L,
                  D, bias ? "" : " nobias", dropout > 0 ? " dropout" : "", what);
    check(rel < 1e-7, name, rel);
  };
  compare(params, dparams, "params");
  compare(x, dx, "x");
  compare(h0, dh0, "h0");
  if (lstm) compare(c0, dc0, "c0");
}

// Float path agrees with the double path on the same data.
void test_float_matches_double(Cell cell) {
  const int T = 7, B = 4, I = 6, H = 5;
  const StackConfig c{cell, 2, 2, I, H, true, 0.0};
  std::mt19937 rng(3);
  const size_t P = stack_param_count(c), S = size_t(2) * 2 * B * H, Y = size_t(T) * B * 2 * H;
  const std::vector<double> pd = randoms(P, rng, 0.4), xd = randoms(size_t(T) * B * I, rng);
  std::vector<float> pf(pd.begin(), pd.end()), xf(xd.begin(), xd.end());
  std::vector<double> yd(Y), hd(S), cd(S), wsd(stack_workspace_floats(c, T, B));
  std::vector<float> yf(Y), hf(S), cf(S), wsf(stack_workspace_floats(c, T, B));
  stack_forward(yd.data(), hd.data(), cd.data(), wsd.data(), pd.data(), xd.data(), (const double*)nullptr,
                (const double*)nullptr, nullptr, false, 0, c, T, B);
  stack_forward(yf.data(), hf.data(), cf.data(), wsf.data(), pf.data(), xf.data(), (const float*)nullptr,
                (const float*)nullptr, nullptr, false, 0, c, T, B);
  double err = 0;
  for (size_t i = 0; i < Y; ++i) err = std::max(err, std::fabs(yd[i] - double(yf[i])));
  check(err < 1e-5, std::string(cell_name(cell)) + " float32 kernels agree with float64 kernels", err);
}

}  // namespace

int main() {
  const Cell cells[] = {Cell::RnnTanh, Cell::RnnRelu, Cell::Gru, Cell::Lstm};
  for (Cell cell : cells) {
    test_fast_matches_naive(cell, false);
    test_fast_matches_naive(cell, true);
    test_stack_gradients(cell, 1, 1, true, 0.0);
    test_stack_gradients(cell, 2, 2, true, 0.0);
    test_stack_gradients(cell, 2, 1, false, 0.0);
    test_stack_gradients(cell, 3, 2, true, 0.3);
    test_float_matches_double(cell);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
