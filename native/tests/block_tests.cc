// Native tests of the building-block kernels (linear, embedding, losses,
// optimizers), without Node: naive references and central finite differences
// in double precision. Run by ctest (see CMakeLists.txt).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernel_path.h"
#include "../kernels/dropout.h"
#include "../kernels/embedding.h"
#include "../kernels/linear.h"
#include "../kernels/losses.h"
#include "../kernels/optimizers.h"

using namespace rnnkit;

namespace {

int passed = 0, failed = 0;
using Vec = std::vector<double>;

void check(bool ok, const std::string& name, double measure) {
  std::printf("%s %-70s (%.3g)\n", ok ? "ok  " : "FAIL", name.c_str(), measure);
  (ok ? passed : failed)++;
}

Vec randoms(size_t n, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> dist(0.0, scale);
  Vec v(n);
  for (double& e : v) e = dist(rng);
  return v;
}

double max_abs_diff(const Vec& a, const Vec& b) {
  double m = a.size() == b.size() ? 0 : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// |fd - analytic| / |fd + analytic| over all of `values`, by central differences of loss().
double gradient_error(const std::function<double()>& loss, Vec& values, const Vec& analytic) {
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
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

// ---------------------------------------------------------------- linear

void test_linear(bool bias) {
  const int N = 5, I = 4, O = 3;
  const std::string tag = bias ? "linear" : "linear nobias";
  std::mt19937 rng(bias ? 1 : 2);
  Vec x = randoms(size_t(N) * I, rng), w = randoms(size_t(O) * I, rng), b = randoms(O, rng), wy = randoms(size_t(N) * O, rng);
  const double* bp = bias ? b.data() : nullptr;

  Vec y(size_t(N) * O), ref(size_t(N) * O);
  linear_forward(y.data(), x.data(), w.data(), bp, N, I, O);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      double s = bias ? b[o] : 0.0;
      for (int i = 0; i < I; ++i) s += x[size_t(n) * I + i] * w[size_t(o) * I + i];
      ref[size_t(n) * O + o] = s;
    }
  const double ferr = max_abs_diff(y, ref);
  check(ferr < 1e-12, tag + " forward matches the naive reference", ferr);

  auto loss = [&]() { linear_forward(y.data(), x.data(), w.data(), bias ? b.data() : nullptr, N, I, O); return dot(y, wy); };
  Vec dx(x.size(), 99.0), dw(w.size(), 0.0), db(b.size(), 0.0);
  linear_backward(dx.data(), false, dw.data(), bias ? db.data() : nullptr, wy.data(), x.data(), w.data(), N, I, O);
  const double ex = gradient_error(loss, x, dx), ew = gradient_error(loss, w, dw);
  check(ex < 1e-8, tag + " dx matches finite differences", ex);
  check(ew < 1e-8, tag + " dweight matches finite differences", ew);
  if (bias) {
    const double eb = gradient_error(loss, b, db);
    check(eb < 1e-8, tag + " dbias matches finite differences", eb);
  }

  // A second backward accumulates dw/db and, with accumulate_dx, dx.
  Vec dx2 = dx, dw2 = dw, db2 = db;
  linear_backward(dx2.data(), true, dw2.data(), bias ? db2.data() : nullptr, wy.data(), x.data(), w.data(), N, I, O);
  double acc = 0;
  for (size_t i = 0; i < dx.size(); ++i) acc = std::max(acc, std::fabs(dx2[i] - 2 * dx[i]));
  for (size_t i = 0; i < dw.size(); ++i) acc = std::max(acc, std::fabs(dw2[i] - 2 * dw[i]));
  for (size_t i = 0; i < db.size(); ++i) acc = std::max(acc, std::fabs(db2[i] - 2 * db[i]));
  check(acc < 1e-12, tag + " backward accumulates dweight, dbias and (when asked) dx", acc);
}

void test_linear_float() {
  const int N = 7, I = 6, O = 5;
  std::mt19937 rng(3);
  const Vec x = randoms(size_t(N) * I, rng), w = randoms(size_t(O) * I, rng), b = randoms(O, rng);
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end()), yf(size_t(N) * O);
  Vec y(size_t(N) * O);
  linear_forward(y.data(), x.data(), w.data(), b.data(), N, I, O);
  linear_forward(yf.data(), xf.data(), wf.data(), bf.data(), N, I, O);
  double err = 0;
  for (size_t i = 0; i < y.size(); ++i) err = std::max(err, std::fabs(y[i] - double(yf[i])));
  check(err < 1e-5, "linear float32 kernel agrees with float64", err);
}

// ---------------------------------------------------------------- embedding

void test_embedding() {
  const int V = 6, E = 3, N = 7, pad = 2;
  const std::vector<int> ids{0, 2, 5, 0, 2, 3, 0};  // repeats accumulate; 2 is the padding row
  std::mt19937 rng(4);
  Vec w = randoms(size_t(V) * E, rng), wo = randoms(size_t(N) * E, rng), out(size_t(N) * E);
  embedding_forward(out.data(), w.data(), ids.data(), N, E);
  double ferr = 0;
  for (int n = 0; n < N; ++n)
    for (int e = 0; e < E; ++e) ferr = std::max(ferr, std::fabs(out[size_t(n) * E + e] - w[size_t(ids[n]) * E + e]));
  check(ferr == 0, "embedding forward gathers the rows of the ids (padding row included)", ferr);

  Vec dw(w.size(), 0.0);
  embedding_backward(dw.data(), wo.data(), ids.data(), -1, N, E);
  auto loss = [&]() { embedding_forward(out.data(), w.data(), ids.data(), N, E); return dot(out, wo); };
  const double gerr = gradient_error(loss, w, dw);
  check(gerr < 1e-8, "embedding dweight matches finite differences (repeated ids add up)", gerr);

  Vec dwp(w.size(), 0.0);
  embedding_backward(dwp.data(), wo.data(), ids.data(), pad, N, E);
  double pad_mass = 0, rest = 0;
  for (int v = 0; v < V; ++v)
    for (int e = 0; e < E; ++e) {
      const size_t k = size_t(v) * E + e;
      if (v == pad) pad_mass = std::max(pad_mass, std::fabs(dwp[k]));
      else rest = std::max(rest, std::fabs(dwp[k] - dw[k]));
    }
  check(pad_mass == 0 && rest == 0, "embedding padding row gets no gradient; other rows are unchanged",
        std::max(pad_mass, rest));
}

// ---------------------------------------------------------------- losses

// Straight from the definition, with an explicit log-softmax per row.
double naive_cross_entropy(const Vec& logits, const std::vector<int>& targets, const Vec& weights, double eps,
                           int N, int V, double* total) {
  double loss = 0;
  *total = 0;
  for (int n = 0; n < N; ++n) {
    if (weights[n] == 0) continue;
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(logits[size_t(n) * V + v]);
    double nll = 0, smooth = 0;
    for (int v = 0; v < V; ++v) {
      const double logp = logits[size_t(n) * V + v] - std::log(z);
      if (v == targets[n]) nll = -logp;
      smooth += -logp / V;
    }
    loss += weights[n] * ((1 - eps) * nll + eps * smooth);
    *total += weights[n];
  }
  return loss;
}

void test_cross_entropy(double eps) {
  const int N = 5, V = 4;
  char tag[80];
  std::snprintf(tag, sizeof tag, "cross-entropy (label smoothing %.2f)", eps);
  std::mt19937 rng(5);
  Vec logits = randoms(size_t(N) * V, rng, 2.0);
  const std::vector<int> targets{1, -1, 3, 0, 2};  // row 1 is masked and has a placeholder target
  const Vec weights{1.0, 0.0, 0.5, 2.0, 1.0};
  double total_ref = 0;
  const double ref = naive_cross_entropy(logits, targets, weights, eps, N, V, &total_ref);
  const double scale = 1 / total_ref;
  Vec dlogits(logits.size(), 7.0);
  double result[2];
  softmax_cross_entropy(dlogits.data(), result, logits.data(), targets.data(), weights.data(), eps, scale, N, V);
  const double lerr = std::max(std::fabs(result[0] - ref), std::fabs(result[1] - total_ref));
  check(lerr < 1e-12, std::string(tag) + " loss and weight total match the naive reference", lerr);

  double masked = 0;
  for (int v = 0; v < V; ++v) masked = std::max(masked, std::fabs(dlogits[size_t(1) * V + v]));
  check(masked == 0, std::string(tag) + " masked row gets exactly zero gradient", masked);

  auto loss = [&]() {
    double r[2];
    softmax_cross_entropy((double*)nullptr, r, logits.data(), targets.data(), weights.data(), eps, 0.0, N, V);
    return r[0] * scale;
  };
  const double gerr = gradient_error(loss, logits, dlogits);
  check(gerr < 1e-8, std::string(tag) + " dlogits (mean scale) match finite differences", gerr);
}

void test_cross_entropy_stable() {
  const int N = 2, V = 3;
  const Vec logits{1000.0, 999.0, 998.0, -1000.0, -1001.0, -1002.0};
  const Vec shifted{2.0, 1.0, 0.0, 2.0, 1.0, 0.0};
  const std::vector<int> targets{0, 2};
  std::vector<float> lf(logits.begin(), logits.end()), df(logits.size());
  double big[2], small[2], f[2];
  softmax_cross_entropy((double*)nullptr, big, logits.data(), targets.data(), (const double*)nullptr, 0.1, 1.0, N, V);
  softmax_cross_entropy((double*)nullptr, small, shifted.data(), targets.data(), (const double*)nullptr, 0.1, 1.0, N, V);
  softmax_cross_entropy(df.data(), f, lf.data(), targets.data(), (const float*)nullptr, 0.1, 1.0, N, V);
  bool finite = true;
  for (float v : df) finite = finite && std::isfinite(v);
  const double err = std::max(std::fabs(big[0] - small[0]), std::fabs(f[0] - small[0]));
  check(err < 1e-9 && finite && big[1] == 2, "cross-entropy is shift-invariant and finite for logits of +-1000", err);

  // A class masked out with -inf logits: exact without smoothing (no 0 * inf).
  const Vec masked{0.5, -INFINITY, 1.5}, two{0.5, 1.5};
  const std::vector<int> t0{0};
  double with_mask[2], without[2];
  softmax_cross_entropy((double*)nullptr, with_mask, masked.data(), t0.data(), (const double*)nullptr, 0.0, 1.0, 1, 3);
  softmax_cross_entropy((double*)nullptr, without, two.data(), t0.data(), (const double*)nullptr, 0.0, 1.0, 1, 2);
  const double merr = std::fabs(with_mask[0] - without[0]);
  check(merr < 1e-15, "cross-entropy without smoothing ignores a class whose logit is -inf", merr);
}

void test_log_softmax() {
  const int N = 3, V = 5;
  std::mt19937 rng(6);
  const Vec logits = randoms(size_t(N) * V, rng, 3.0);
  Vec out(logits.size()), ref(logits.size());
  log_softmax(out.data(), logits.data(), N, V);
  for (int n = 0; n < N; ++n) {
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(logits[size_t(n) * V + v]);
    for (int v = 0; v < V; ++v) ref[size_t(n) * V + v] = logits[size_t(n) * V + v] - std::log(z);
  }
  const double err = max_abs_diff(out, ref);
  check(err < 1e-12, "log-softmax matches the naive reference", err);
}

void test_mse() {
  const int N = 4, F = 3;
  std::mt19937 rng(7);
  Vec pred = randoms(size_t(N) * F, rng), target = randoms(size_t(N) * F, rng);
  for (int f = 0; f < F; ++f) target[size_t(2) * F + f] = std::numeric_limits<double>::quiet_NaN();  // masked row
  const Vec weights{1.0, 0.25, 0.0, 3.0};
  double ref = 0, total = 0;
  for (int n = 0; n < N; ++n) {
    if (weights[n] == 0) continue;
    for (int f = 0; f < F; ++f) {
      const double d = pred[size_t(n) * F + f] - target[size_t(n) * F + f];
      ref += weights[n] * d * d;
    }
    total += weights[n] * F;
  }
  Vec dpred(pred.size(), 5.0);
  double result[2];
  mse_loss(dpred.data(), result, pred.data(), target.data(), weights.data(), 1 / total, N, F);
  const double lerr = std::max(std::fabs(result[0] - ref), std::fabs(result[1] - total));
  check(lerr < 1e-12, "mse loss and weighted element count match the naive reference", lerr);
  double masked = 0;
  for (int f = 0; f < F; ++f) masked = std::max(masked, std::fabs(dpred[size_t(2) * F + f]));
  check(masked == 0, "mse masked row (NaN target) gets exactly zero gradient", masked);
  auto loss = [&]() {
    double r[2];
    mse_loss((double*)nullptr, r, pred.data(), target.data(), weights.data(), 0.0, N, F);
    return r[0] / total;
  };
  const double gerr = gradient_error(loss, pred, dpred);
  check(gerr < 1e-8, "mse dpred (mean scale) matches finite differences", gerr);
}

// ---------------------------------------------------------------- optimizers

struct SgdConfig { double lr, momentum, dampening; bool nesterov; double weight_decay; const char* name; };
struct AdamConfig { double lr, beta1, beta2, eps, weight_decay; bool decoupled; const char* name; };

// Textbook SGD with momentum, as the torch.optim.SGD docs state it, one scalar at a time.
void naive_sgd(Vec& p, Vec& buf, const Vec& g, const SgdConfig& c, int step) {
  for (size_t i = 0; i < p.size(); ++i) {
    double d = g[i] + c.weight_decay * p[i];
    if (c.momentum != 0) {
      buf[i] = step == 1 ? d : c.momentum * buf[i] + (1 - c.dampening) * d;
      d = c.nesterov ? d + c.momentum * buf[i] : buf[i];
    }
    p[i] -= c.lr * d;
  }
}

// Textbook Adam/AdamW with bias-corrected moments m_hat, v_hat.
void naive_adam(Vec& p, Vec& m, Vec& v, const Vec& g, const AdamConfig& c, int step) {
  for (size_t i = 0; i < p.size(); ++i) {
    double gi = g[i];
    if (c.decoupled) p[i] -= c.lr * c.weight_decay * p[i];
    else gi += c.weight_decay * p[i];
    m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
    v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
    const double m_hat = m[i] / (1 - std::pow(c.beta1, step)), v_hat = v[i] / (1 - std::pow(c.beta2, step));
    p[i] -= c.lr * m_hat / (std::sqrt(v_hat) + c.eps);
  }
}

template <typename Real>
double rel_err(const std::vector<Real>& a, const Vec& ref) {
  double diff = 0, scale = 1e-3;
  for (size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return diff / scale;
}

void test_sgd(const SgdConfig& c) {
  const size_t n = 9;
  std::mt19937 rng(8);
  const Vec p0 = randoms(n, rng);
  Vec p = p0, buf(n, 0.0), pd = p0, bufd(n, 0.0);
  std::vector<float> pf(p0.begin(), p0.end()), buff(n, 0.0f);
  for (int step = 1; step <= 5; ++step) {
    const Vec g = randoms(n, rng);
    const std::vector<float> gf(g.begin(), g.end());
    naive_sgd(p, buf, g, c, step);
    sgd_step(pd.data(), bufd.data(), g.data(), n, c.lr, c.momentum, c.dampening, c.nesterov, c.weight_decay, step == 1);
    sgd_step(pf.data(), buff.data(), gf.data(), n, c.lr, c.momentum, c.dampening, c.nesterov, c.weight_decay, step == 1);
  }
  const double ed = rel_err(pd, p), ef = rel_err(pf, p);
  check(ed < 1e-13, std::string("sgd ") + c.name + ": 5 steps match the scalar reference (double)", ed);
  check(ef < 1e-5, std::string("sgd ") + c.name + ": 5 steps match the scalar reference (float)", ef);
}

void test_adam(const AdamConfig& c) {
  const size_t n = 9;
  std::mt19937 rng(9);
  const Vec p0 = randoms(n, rng);
  Vec p = p0, m(n, 0.0), v(n, 0.0), pd = p0, md(n, 0.0), vd(n, 0.0);
  std::vector<float> pf(p0.begin(), p0.end()), mf(n, 0.0f), vf(n, 0.0f);
  for (int step = 1; step <= 5; ++step) {
    const Vec g = randoms(n, rng);
    const std::vector<float> gf(g.begin(), g.end());
    naive_adam(p, m, v, g, c, step);
    adam_step(pd.data(), md.data(), vd.data(), g.data(), n, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.decoupled, step);
    adam_step(pf.data(), mf.data(), vf.data(), gf.data(), n, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.decoupled,
              step);
  }
  const double ed = std::max(rel_err(pd, p), std::max(rel_err(md, m), rel_err(vd, v)));
  const double ef = std::max(rel_err(pf, p), rel_err(mf, m));
  check(ed < 1e-12, std::string(c.name) + ": 5 steps match the scalar reference (double)", ed);
  check(ef < 1e-5, std::string(c.name) + ": 5 steps match the scalar reference (float)", ef);
}

// The checked steps write exactly what scale + the plain step write, and a step that would overflow writes nothing.
template <typename Real>
bool same_bits(const std::vector<Real>& a, const std::vector<Real>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Real)) == 0;
}

void test_sgd_checked(const SgdConfig& c) {
  const size_t n = 1000;
  std::mt19937 rng(10);
  const Vec p0 = randoms(n, rng);
  std::vector<float> pa(p0.begin(), p0.end()), ba(n, 0.0f), pb = pa, bb = ba;
  bool same = true;
  for (int step = 1; step <= 4; ++step) {
    const Vec g = randoms(n, rng, 3.0);
    std::vector<float> ga(g.begin(), g.end());
    const std::vector<float> gb = ga;
    const double factor = step % 2 ? 0.37 : 1.0;  // clip_grad_norm_'s factor, or none
    scale(ga.data(), n, factor);
    sgd_step(pa.data(), ba.data(), ga.data(), n, c.lr, c.momentum, c.dampening, c.nesterov, c.weight_decay, step == 1);
    same = same && sgd_step_checked(pb.data(), bb.data(), gb.data(), n, factor, c.lr, c.momentum, c.dampening,
                                    c.nesterov, c.weight_decay, step == 1) == 0;
  }
  check(same && same_bits(pa, pb) && same_bits(ba, bb),
        std::string("sgd ") + c.name + ": checked step = scale + step, bit for bit", 0);
  // lr 1e38 overflows the elements with |update| > ~3.4: counted, nothing written.
  const std::vector<float> pk = pb, bk = bb;
  std::vector<float> g(n, 0.0f);
  g[7] = 10.0f, g[500] = -20.0f;
  const size_t bad = sgd_step_checked(pb.data(), bb.data(), g.data(), n, 1.0, 1e38, c.momentum, c.dampening,
                                      c.nesterov, c.weight_decay, false);
  check(bad >= 2 && same_bits(pb, pk) && same_bits(bb, bk),
        std::string("sgd ") + c.name + ": an overflowing step is counted and changes nothing", double(bad));
}

void test_adam_checked(const AdamConfig& c) {
  const size_t n = 1000;
  std::mt19937 rng(11);
  const Vec p0 = randoms(n, rng);
  std::vector<float> pa(p0.begin(), p0.end()), ma(n, 0.0f), va(n, 0.0f), pb = pa, mb = ma, vb = va;
  bool same = true;
  for (int step = 1; step <= 4; ++step) {
    const Vec g = randoms(n, rng, 3.0);
    std::vector<float> ga(g.begin(), g.end());
    const std::vector<float> gb = ga;
    const double factor = step % 2 ? 0.37 : 1.0;
    scale(ga.data(), n, factor);
    adam_step(pa.data(), ma.data(), va.data(), ga.data(), n, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.decoupled,
              step);
    same = same && adam_step_checked(pb.data(), mb.data(), vb.data(), gb.data(), n, factor, c.lr, c.beta1, c.beta2,
                                     c.eps, c.weight_decay, c.decoupled, step) == 0;
  }
  check(same && same_bits(pa, pb) && same_bits(ma, mb) && same_bits(va, vb),
        std::string(c.name) + ": checked step = scale + step, bit for bit", 0);
  const std::vector<float> pk = pb, mk = mb, vk = vb;
  std::vector<float> g(n, 0.5f);
  // A gradient of 1e20 squares to infinity in exp_avg_sq (the weight itself would stay finite); a NaN one
  // spreads to every value of its element. Both are refused, with the step count left to the caller.
  g[3] = 1e20f;
  g[900] = std::numeric_limits<float>::quiet_NaN();
  const size_t bad = adam_step_checked(pb.data(), mb.data(), vb.data(), g.data(), n, 1.0, c.lr, c.beta1, c.beta2,
                                       c.eps, c.weight_decay, c.decoupled, 5);
  check(bad == 2 && same_bits(pb, pk) && same_bits(mb, mk) && same_bits(vb, vk),
        std::string(c.name) + ": a step overflowing a moment or fed NaN is counted, changes nothing", double(bad));
  const std::vector<float> fine(n, 0.5f);
  const size_t huge = adam_step_checked(pb.data(), mb.data(), vb.data(), fine.data(), n, 1.0, 1e300, c.beta1,
                                        c.beta2, c.eps, c.weight_decay, c.decoupled, 5);
  check(huge == n && same_bits(pb, pk) && same_bits(mb, mk) && same_bits(vb, vk),
        std::string(c.name) + ": lr 1e300 overflows every weight: all counted, nothing written", double(huge));
}

void test_norm_helpers() {
  std::vector<float> g{3.0f, -4.0f, 12.0f};
  const double ss = sum_squares(g.data(), g.size());
  check(ss == 169.0, "sum_squares adds the squares (norm 13)", ss);
  scale(g.data(), g.size(), 0.5);
  check(g[0] == 1.5f && g[1] == -2.0f && g[2] == 6.0f, "scale multiplies in place", 0);
  std::vector<float> big(1000000, 1e-3f);  // float accumulation would drift here
  const double sb = sum_squares(big.data(), big.size()), want = 1e6 * double(1e-3f) * double(1e-3f);
  check(std::fabs(sb - want) / want < 1e-9, "sum_squares accumulates in double", std::fabs(sb - want) / want);
  std::vector<float> bad{1.0f, NAN, INFINITY, -INFINITY, 0.0f};
  const size_t count = count_nonfinite(bad.data(), bad.size());
  check(count == 3, "count_nonfinite counts NaN and both infinities", double(count));
}

}  // namespace

// ---------------------------------------------------------------- dropout

// apply_dropout is x times the mask make_dropout_mask writes for the same (seed, stream), in place or
// not; about p of the elements are dropped; another stream gives another mask.
void test_dropout() {
  const size_t n = 100000;
  const double p = 0.3;
  std::mt19937 rng(11);
  std::vector<float> x(n), mask(n), y(n), other(n);
  for (float& e : x) e = float(randoms(1, rng)[0]);
  make_dropout_mask(mask.data(), n, p, 12345, 2);
  apply_dropout(y.data(), x.data(), n, p, 12345, 2);
  bool same = true;
  size_t zeros = 0;
  for (size_t i = 0; i < n; ++i) {
    same = same && y[i] == x[i] * mask[i];
    zeros += mask[i] == 0;
  }
  check(same, "dropout: y = x * make_dropout_mask(seed, stream), bit for bit", 0);
  std::vector<float> inplace = x;
  apply_dropout(inplace.data(), inplace.data(), n, p, 12345, 2);
  check(std::memcmp(inplace.data(), y.data(), n * sizeof(float)) == 0, "dropout: in place equals out of place", 0);
  const double fraction = double(zeros) / n;
  check(std::fabs(fraction - p) < 0.01, "dropout: fraction dropped near p", fraction);
  apply_dropout(other.data(), x.data(), n, p, 12345, 3);
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) differ += (other[i] == 0) != (y[i] == 0);
  check(differ > n / 10, "dropout: another stream, another mask", double(differ));
  apply_dropout(other.data(), x.data(), n, 0.0, 1, 0);
  check(std::memcmp(other.data(), x.data(), n * sizeof(float)) == 0, "dropout: p = 0 copies x", 0);
}

int main() {
  announce_kernel_path();
  test_linear(true);
  test_linear(false);
  test_linear_float();
  test_embedding();
  test_cross_entropy(0.0);
  test_cross_entropy(0.1);
  test_cross_entropy_stable();
  test_log_softmax();
  test_mse();
  test_sgd({0.1, 0.0, 0.0, false, 0.0, "plain"});
  test_sgd({0.05, 0.9, 0.0, false, 0.01, "momentum + weight decay"});
  test_sgd({0.05, 0.9, 0.3, false, 0.0, "momentum + dampening"});
  test_sgd({0.05, 0.9, 0.0, true, 0.01, "nesterov + weight decay"});
  test_adam({0.01, 0.9, 0.999, 1e-8, 0.0, false, "adam"});
  test_adam({0.01, 0.8, 0.99, 1e-6, 0.1, false, "adam + weight decay"});
  test_adam({0.01, 0.9, 0.999, 1e-8, 0.1, true, "adamw"});
  test_sgd_checked({0.1, 0.0, 0.0, false, 0.0, "plain"});
  test_sgd_checked({0.05, 0.9, 0.0, false, 0.01, "momentum + weight decay"});
  test_sgd_checked({0.05, 0.9, 0.3, false, 0.0, "momentum + dampening"});
  test_sgd_checked({0.05, 0.9, 0.0, true, 0.01, "nesterov + weight decay"});
  test_adam_checked({0.01, 0.9, 0.999, 1e-8, 0.0, false, "adam"});
  test_adam_checked({0.01, 0.8, 0.99, 1e-6, 0.1, false, "adam + weight decay"});
  test_adam_checked({0.01, 0.9, 0.999, 1e-8, 0.1, true, "adamw"});
  test_norm_helpers();
  test_dropout();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
