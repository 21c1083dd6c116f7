// SGD, Adam/AdamW and gradient-norm helpers; see optimizers.h. Per-element
// arithmetic runs in Real with the scalars cast once, in PyTorch's order of
// operations, so float32 results track torch's float32 ones closely.
#include "optimizers.h"

#include <cmath>

namespace rnnkit {

namespace {

// One element of torch.optim.SGD's update, on values held in registers: the weight and momentum buffer
// become their new values. sgd_step and sgd_step_checked both run it, so they write the same bits.
template <typename Real>
struct SgdRule {
  Real wd, mu, keep, lr;
  bool decay, momentum, nesterov, first;
  SgdRule(double lr_, double momentum_, double dampening, bool nesterov_, double weight_decay, bool first_step)
      : wd(Real(weight_decay)), mu(Real(momentum_)), keep(Real(1 - dampening)), lr(Real(lr_)),
        decay(weight_decay != 0), momentum(momentum_ != 0), nesterov(nesterov_), first(first_step) {}

  void operator()(Real& p, Real& buf, Real g) const {
    Real d = g;
    if (decay) d = d + wd * p;
    if (momentum) {
      buf = first ? d : buf * mu + keep * d;
      d = nesterov ? d + mu * buf : buf;
    }
    p = p - lr * d;
  }
};

// One element of torch.optim.Adam / AdamW's update: weight, first and second moment become their new values.
template <typename Real>
struct AdamRule {
  Real step_size, correction2_sqrt, b1, b2, rest1, rest2, epsilon, wd, shrink;
  bool decay, decoupled;
  AdamRule(double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled_, double step) {
    // Bias corrections in double, once per step, as PyTorch computes them in Python floats.
    const double correction1 = 1 - std::pow(beta1, step), correction2 = 1 - std::pow(beta2, step);
    step_size = Real(lr / correction1);
    correction2_sqrt = Real(std::sqrt(correction2));
    b1 = Real(beta1), b2 = Real(beta2), rest1 = Real(1 - beta1), rest2 = Real(1 - beta2);
    epsilon = Real(eps), wd = Real(weight_decay), shrink = Real(1 - lr * weight_decay);
    decay = weight_decay != 0;
    decoupled = decoupled_;
  }

  void operator()(Real& p, Real& m, Real& v, Real g) const {
    if (decoupled) p = p * shrink;
    else if (decay) g = g + wd * p;
    m = m * b1 + rest1 * g;
    v = v * b2 + rest2 * (g * g);
    const Real denom = std::sqrt(v) / correction2_sqrt + epsilon;
    p = p - step_size * (m / denom);
  }
};

}  // namespace

template <typename Real>
void sgd_step(Real* params, Real* velocity, const Real* grads, size_t n, double lr, double momentum,
              double dampening, bool nesterov, double weight_decay, bool first_step) {
  const SgdRule<Real> rule(lr, momentum, dampening, nesterov, weight_decay, first_step);
  for (size_t i = 0; i < n; ++i) {
    Real p = params[i], buf = rule.momentum ? velocity[i] : Real(0);
    rule(p, buf, grads[i]);
    if (rule.momentum) velocity[i] = buf;
    params[i] = p;
  }
}

template <typename Real>
void adam_step(Real* params, Real* exp_avg, Real* exp_avg_sq, const Real* grads, size_t n, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, double step) {
  const AdamRule<Real> rule(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  for (size_t i = 0; i < n; ++i) {
    Real p = params[i], m = exp_avg[i], v = exp_avg_sq[i];
    rule(p, m, v, grads[i]);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    params[i] = p;
  }
}

// Check before applying (see optimizers.h): computing the update twice costs less than copying the weights
// and the optimizer's buffers every step to undo a bad one from, and a refused step has nothing to undo.
template <typename Real>
size_t sgd_step_checked(Real* params, Real* velocity, const Real* grads, size_t n, double grad_scale, double lr,
                        double momentum, double dampening, bool nesterov, double weight_decay, bool first_step) {
  const SgdRule<Real> rule(lr, momentum, dampening, nesterov, weight_decay, first_step);
  const Real scale = Real(grad_scale);
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    Real p = params[i], buf = rule.momentum ? velocity[i] : Real(0);
    rule(p, buf, grads[i] * scale);
    bad += std::isfinite(p) && std::isfinite(buf) ? 0 : 1;
  }
  if (bad > 0) return bad;
  for (size_t i = 0; i < n; ++i) {
    Real p = params[i], buf = rule.momentum ? velocity[i] : Real(0);
    rule(p, buf, grads[i] * scale);
    if (rule.momentum) velocity[i] = buf;
    params[i] = p;
  }
  return 0;
}

template <typename Real>
size_t adam_step_checked(Real* params, Real* exp_avg, Real* exp_avg_sq, const Real* grads, size_t n,
                         double grad_scale, double lr, double beta1, double beta2, double eps, double weight_decay,
                         bool decoupled, double step) {
  const AdamRule<Real> rule(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  const Real scale = Real(grad_scale);
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    Real p = params[i], m = exp_avg[i], v = exp_avg_sq[i];
    rule(p, m, v, grads[i] * scale);
    bad += std::isfinite(p) && std::isfinite(m) && std::isfinite(v) ? 0 : 1;
  }
  if (bad > 0) return bad;
  for (size_t i = 0; i < n; ++i) {
    Real p = params[i], m = exp_avg[i], v = exp_avg_sq[i];
    rule(p, m, v, grads[i] * scale);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    params[i] = p;
  }
  return 0;
}

template <typename Real>
double sum_squares(const Real* x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}

template <typename Real>
void scale(Real* x, size_t n, double factor) {
  const Real f = Real(factor);
  for (size_t i = 0; i < n; ++i) x[i] *= f;
}

template <typename Real>
void moving_average(Real* average, const Real* x, size_t n, double decay) {
  const Real rate = Real(1.0 - decay);
  for (size_t i = 0; i < n; ++i) average[i] += rate * (x[i] - average[i]);
}

template <typename Real>
size_t count_nonfinite(const Real* x, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += std::isfinite(x[i]) ? 0 : 1;
  return count;
}

template void sgd_step<float>(float*, float*, const float*, size_t, double, double, double, bool, double, bool);
template void sgd_step<double>(double*, double*, const double*, size_t, double, double, double, bool, double, bool);
template void adam_step<float>(float*, float*, float*, const float*, size_t, double, double, double, double, double,
                               bool, double);
template void adam_step<double>(double*, double*, double*, const double*, size_t, double, double, double, double,
                                double, bool, double);
template size_t sgd_step_checked<float>(float*, float*, const float*, size_t, double, double, double, double, bool,
                                        double, bool);
template size_t sgd_step_checked<double>(double*, double*, const double*, size_t, double, double, double, double,
                                         bool, double, bool);
template size_t adam_step_checked<float>(float*, float*, float*, const float*, size_t, double, double, double,
                                         double, double, double, bool, double);
template size_t adam_step_checked<double>(double*, double*, double*, const double*, size_t, double, double, double,
                                          double, double, double, bool, double);
template double sum_squares<float>(const float*, size_t);
template double sum_squares<double>(const double*, size_t);
template void scale<float>(float*, size_t, double);
template void scale<double>(double*, size_t, double);
template void moving_average<float>(float*, const float*, size_t, double);
template void moving_average<double>(double*, const double*, size_t, double);
template size_t count_nonfinite<float>(const float*, size_t);
template size_t count_nonfinite<double>(const double*, size_t);

}  // namespace rnnkit
