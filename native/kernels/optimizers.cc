// SGD, Adam/AdamW and gradient-norm helpers; see optimizers.h. Per-element
// arithmetic runs in Real with the scalars cast once, in PyTorch's order of
// operations, so float32 results track torch's float32 ones closely.
#include "optimizers.h"

#include <cmath>

namespace rnnkit {

template <typename Real>
void sgd_step(Real* params, Real* velocity, const Real* grads, size_t n, double lr, double momentum,
              double dampening, bool nesterov, double weight_decay, bool first_step) {
  const Real wd = Real(weight_decay), mu = Real(momentum), keep = Real(1 - dampening), step = Real(lr);
  for (size_t i = 0; i < n; ++i) {
    Real d = grads[i];
    if (weight_decay != 0) d = d + wd * params[i];
    if (momentum != 0) {
      const Real buf = first_step ? d : velocity[i] * mu + keep * d;
      velocity[i] = buf;
      d = nesterov ? d + mu * buf : buf;
    }
    params[i] = params[i] - step * d;
  }
}

template <typename Real>
void adam_step(Real* params, Real* exp_avg, Real* exp_avg_sq, const Real* grads, size_t n, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, double step) {
  // Bias corrections in double, once per step, as PyTorch computes them in Python floats.
  const double correction1 = 1 - std::pow(beta1, step), correction2 = 1 - std::pow(beta2, step);
  const Real step_size = Real(lr / correction1), correction2_sqrt = Real(std::sqrt(correction2));
  const Real b1 = Real(beta1), b2 = Real(beta2), rest1 = Real(1 - beta1), rest2 = Real(1 - beta2);
  const Real epsilon = Real(eps), wd = Real(weight_decay), shrink = Real(1 - lr * weight_decay);
  for (size_t i = 0; i < n; ++i) {
    Real g = grads[i];
    if (decoupled) params[i] = params[i] * shrink;
    else if (weight_decay != 0) g = g + wd * params[i];
    const Real m = exp_avg[i] * b1 + rest1 * g;
    const Real v = exp_avg_sq[i] * b2 + rest2 * (g * g);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const Real denom = std::sqrt(v) / correction2_sqrt + epsilon;
    params[i] = params[i] - step_size * (m / denom);
  }
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
template double sum_squares<float>(const float*, size_t);
template double sum_squares<double>(const double*, size_t);
template void scale<float>(float*, size_t, double);
template void scale<double>(double*, size_t, double);
template size_t count_nonfinite<float>(const float*, size_t);
template size_t count_nonfinite<double>(const double*, size_t);

}  // namespace rnnkit
