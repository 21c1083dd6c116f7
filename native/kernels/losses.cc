// Cross-entropy, log-softmax and MSE kernels; see losses.h for the contracts.
#include "losses.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace rnnkit {
namespace {

// log(sum_v exp(row[v])) with the maximum subtracted first, in double.
template <typename Real>
double log_sum_exp(const Real* row, int V) {
  double m = double(row[0]);
  for (int v = 1; v < V; ++v) m = std::max(m, double(row[v]));
  double sum = 0;
  for (int v = 0; v < V; ++v) sum += std::exp(double(row[v]) - m);
  return m + std::log(sum);
}

}  // namespace

template <typename Real>
void softmax_cross_entropy(Real* dlogits, double* result, const Real* logits, const int* targets,
                           const Real* weights, double label_smoothing, double scale, int N, int V) {
  const double eps = label_smoothing, uniform = eps / V;
  double loss = 0, total = 0;
  for (int n = 0; n < N; ++n) {
    const Real* row = logits + size_t(n) * V;
    Real* drow = dlogits ? dlogits + size_t(n) * V : nullptr;
    const double w = weights ? double(weights[n]) : 1.0;
    if (w == 0) {  // masked row (e.g. a padded step): its target may be a placeholder
      if (drow) std::fill(drow, drow + V, Real(0));
      continue;
    }
    const int t = targets[n];
    const double lse = log_sum_exp(row, V);
    double mean_logit = 0;
    for (int v = 0; v < V; ++v) mean_logit += double(row[v]);
    mean_logit /= V;
    const double nll = lse - double(row[t]);
    const double smooth = lse - mean_logit;  // mean_v(-log p_v); infinite when a logit is -inf
    loss += w * ((1 - eps) * nll + (eps > 0 ? eps * smooth : 0.0));  // so eps = 0 never makes 0 * inf
    total += w;
    if (drow) {
      const double g = scale * w;
      for (int v = 0; v < V; ++v) {
        const double target_mass = (v == t ? 1 - eps : 0.0) + uniform;  // the smoothed one-hot
        drow[v] = Real(g * (std::exp(double(row[v]) - lse) - target_mass));
      }
    }
  }
  result[0] = loss;
  result[1] = total;
}

template <typename Real>
void log_softmax(Real* out, const Real* logits, int N, int V) {
  for (int n = 0; n < N; ++n) {
    const Real* row = logits + size_t(n) * V;
    Real* orow = out + size_t(n) * V;
    const double lse = log_sum_exp(row, V);
    for (int v = 0; v < V; ++v) orow[v] = Real(double(row[v]) - lse);
  }
}

template <typename Real>
void mse_loss(Real* dpred, double* result, const Real* pred, const Real* target, const Real* weights, double scale,
              int N, int F) {
  double loss = 0, total = 0;
  for (int n = 0; n < N; ++n) {
    const size_t at = size_t(n) * F;
    const double w = weights ? double(weights[n]) : 1.0;
    if (w == 0) {
      if (dpred) std::fill(dpred + at, dpred + at + F, Real(0));
      continue;
    }
    double row_loss = 0;
    for (int f = 0; f < F; ++f) {
      const double diff = double(pred[at + f]) - double(target[at + f]);
      row_loss += diff * diff;
      if (dpred) dpred[at + f] = Real(scale * w * 2 * diff);
    }
    loss += w * row_loss;
    total += w * F;
  }
  result[0] = loss;
  result[1] = total;
}

template void softmax_cross_entropy<float>(float*, double*, const float*, const int*, const float*, double, double,
                                           int, int);
template void softmax_cross_entropy<double>(double*, double*, const double*, const int*, const double*, double,
                                            double, int, int);
template void log_softmax<float>(float*, const float*, int, int);
template void log_softmax<double>(double*, const double*, int, int);
template void mse_loss<float>(float*, double*, const float*, const float*, const float*, double, int, int);
template void mse_loss<double>(double*, double*, const double*, const double*, const double*, double, int, int);

}  // namespace rnnkit
