// Binding of the optimizer steps and gradient-norm helpers over flat
// Float32Arrays: validate (lengths agree, hyper-parameters in PyTorch's
// ranges), borrow, call. Scalar results go to a caller-owned Float64Array.
#include <cmath>

#include "../kernels/optimizers.h"
#include "block_bindings.h"
#include "kernel_function.h"
#include "value_checks.h"

namespace rnnkit_addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

// A moment decay rate in [0, 1), as torch.optim.Adam requires.
double RequireBeta(const Napi::Value& v, const char* name) {
  const double b = RequireFinite(v, name, 0);
  if (!(b < 1)) ThrowValue(v.Env(), std::string(name) + ": expected a number in [0, 1), got " + Describe(v));
  return b;
}

// sgdStep(params, grads, velocity, lr, momentum, dampening, nesterov, weightDecay, firstStep)
std::function<void()> PrepareSgd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array params = RequireAnyFloat32(info[0], "params");
  const size_t n = params.ElementLength();
  const float* grads = RequireFloat32(info[1], "grads", n);
  const double lr = RequireFinite(info[3], "lr", 0);
  const double momentum = RequireFinite(info[4], "momentum", 0);
  const double dampening = RequireFinite(info[5], "dampening");
  const bool nesterov = RequireBool(info[6], "nesterov");
  const double weight_decay = RequireFinite(info[7], "weightDecay", 0);
  const bool first = RequireBool(info[8], "firstStep");
  if (nesterov && (momentum <= 0 || dampening != 0))
    ThrowValue(env, "nesterov: needs momentum > 0 and dampening = 0, got momentum " + std::to_string(momentum) +
                        " and dampening " + std::to_string(dampening));
  float* velocity = RequireFloat32(info[2], "velocity", n, momentum == 0);
  float* p = params.Data();
  return [=]() { rnnkit::sgd_step(p, velocity, grads, n, lr, momentum, dampening, nesterov, weight_decay, first); };
}

// adamStep(params, grads, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, decoupled, step)
std::function<void()> PrepareAdam(const Napi::CallbackInfo& info) {
  Napi::Float32Array params = RequireAnyFloat32(info[0], "params");
  const size_t n = params.ElementLength();
  const float* grads = RequireFloat32(info[1], "grads", n);
  float* m = RequireFloat32(info[2], "expAvg", n);
  float* v = RequireFloat32(info[3], "expAvgSq", n);
  const double lr = RequireFinite(info[4], "lr", 0);
  const double beta1 = RequireBeta(info[5], "beta1");
  const double beta2 = RequireBeta(info[6], "beta2");
  const double eps = RequireFinite(info[7], "eps", 0);
  // eps = 0 turns a zero gradient entry into 0/0 = NaN in the weights.
  if (!(eps > 0)) ThrowValue(info.Env(), "eps: expected a number > 0, got " + Describe(info[7]));
  const double weight_decay = RequireFinite(info[8], "weightDecay", 0);
  const bool decoupled = RequireBool(info[9], "decoupled");
  const double step = RequireFinite(info[10], "step", 1);
  if (step != std::floor(step) || step > kMaxSafeInteger)
    ThrowValue(info.Env(), "step: expected a positive safe integer, got " + Describe(info[10]));
  float* p = params.Data();
  return [=]() { rnnkit::adam_step(p, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, decoupled, step); };
}

// sumSquares(x, result[1])
std::function<void()> PrepareSumSquares(const Napi::CallbackInfo& info) {
  Napi::Float32Array x = RequireAnyFloat32(info[0], "x");
  double* result = RequireFloat64(info[1], "result", 1);
  const float* data = x.Data();
  const size_t n = x.ElementLength();
  return [=]() { result[0] = rnnkit::sum_squares(data, n); };
}

// scale(x, factor)
std::function<void()> PrepareScale(const Napi::CallbackInfo& info) {
  Napi::Float32Array x = RequireAnyFloat32(info[0], "x");
  const double factor = RequireFinite(info[1], "factor");
  float* data = x.Data();
  const size_t n = x.ElementLength();
  return [=]() { rnnkit::scale(data, n, factor); };
}

// countNonfinite(x, result[1])
std::function<void()> PrepareCountNonfinite(const Napi::CallbackInfo& info) {
  Napi::Float32Array x = RequireAnyFloat32(info[0], "x");
  double* result = RequireFloat64(info[1], "result", 1);
  const float* data = x.Data();
  const size_t n = x.ElementLength();
  return [=]() { result[0] = double(rnnkit::count_nonfinite(data, n)); };
}

}  // namespace

void ExportOptimizers(Napi::Env env, Napi::Object exports) {
  ExportKernel(env, exports, "sgdStep", PrepareSgd);
  ExportKernel(env, exports, "adamStep", PrepareAdam);
  ExportKernel(env, exports, "sumSquares", PrepareSumSquares);
  ExportKernel(env, exports, "scale", PrepareScale);
  ExportKernel(env, exports, "countNonfinite", PrepareCountNonfinite);
}

}  // namespace rnnkit_addon
