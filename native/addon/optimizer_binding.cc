// Binding of the optimizer steps (plain and checked) and gradient-norm helpers
// over flat Float32Arrays: validate (lengths agree, hyper-parameters in
// PyTorch's ranges, checked steps' buffers apart), borrow, call. Scalar
// results go to a caller-owned Float64Array.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>

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

// Hyper-parameters and borrowed buffers of one SGD step, checked.
struct SgdCall {
  float* params;
  const float* grads;
  float* velocity;
  size_t n;
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
};

// sgdStep(params, grads, velocity, lr, momentum, dampening, nesterov, weightDecay, firstStep, ...)
SgdCall ReadSgd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array params = RequireAnyFloat32(info[0], "params");
  SgdCall c;
  c.n = params.ElementLength();
  c.grads = RequireFloat32(info[1], "grads", c.n);
  c.lr = RequireFinite(info[3], "lr", 0);
  c.momentum = RequireFinite(info[4], "momentum", 0);
  c.dampening = RequireFinite(info[5], "dampening");
  c.nesterov = RequireBool(info[6], "nesterov");
  c.weight_decay = RequireFinite(info[7], "weightDecay", 0);
  c.first = RequireBool(info[8], "firstStep");
  if (c.nesterov && (c.momentum <= 0 || c.dampening != 0))
    ThrowValue(env, "nesterov: needs momentum > 0 and dampening = 0, got momentum " + std::to_string(c.momentum) +
                        " and dampening " + std::to_string(c.dampening));
  c.velocity = RequireFloat32(info[2], "velocity", c.n, c.momentum == 0);
  c.params = params.Data();
  return c;
}

std::function<void()> PrepareSgd(const Napi::CallbackInfo& info) {
  const SgdCall c = ReadSgd(info);
  return [=]() {
    rnnkit::sgd_step(c.params, c.velocity, c.grads, c.n, c.lr, c.momentum, c.dampening, c.nesterov, c.weight_decay,
                     c.first);
  };
}

// Hyper-parameters and borrowed buffers of one Adam / AdamW step, checked.
struct AdamCall {
  float* params;
  const float* grads;
  float *m, *v;
  size_t n;
  double lr, beta1, beta2, eps, weight_decay, step;
  bool decoupled;
};

// adamStep(params, grads, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, decoupled, step, ...)
AdamCall ReadAdam(const Napi::CallbackInfo& info) {
  Napi::Float32Array params = RequireAnyFloat32(info[0], "params");
  AdamCall c;
  c.n = params.ElementLength();
  c.grads = RequireFloat32(info[1], "grads", c.n);
  c.m = RequireFloat32(info[2], "expAvg", c.n);
  c.v = RequireFloat32(info[3], "expAvgSq", c.n);
  c.lr = RequireFinite(info[4], "lr", 0);
  c.beta1 = RequireBeta(info[5], "beta1");
  c.beta2 = RequireBeta(info[6], "beta2");
  c.eps = RequireFinite(info[7], "eps", 0);
  // eps = 0 turns a zero gradient entry into 0/0 = NaN in the weights.
  if (!(c.eps > 0)) ThrowValue(info.Env(), "eps: expected a number > 0, got " + Describe(info[7]));
  c.weight_decay = RequireFinite(info[8], "weightDecay", 0);
  c.decoupled = RequireBool(info[9], "decoupled");
  c.step = RequireFinite(info[10], "step", 1);
  if (c.step != std::floor(c.step) || c.step > kMaxSafeInteger)
    ThrowValue(info.Env(), "step: expected a positive safe integer, got " + Describe(info[10]));
  c.params = params.Data();
  return c;
}

std::function<void()> PrepareAdam(const Napi::CallbackInfo& info) {
  const AdamCall c = ReadAdam(info);
  return [=]() {
    rnnkit::adam_step(c.params, c.m, c.v, c.grads, c.n, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.decoupled,
                      c.step);
  };
}

// The checked steps compute each element from the old values of its own slots, so no two buffers may share
// memory: an overlap would let the writing pass read values the checking pass never saw.
struct Slot {
  const char* name;
  const float* data;
};

void RequireApart(Napi::Env env, std::initializer_list<Slot> slots, size_t n) {
  for (auto a = slots.begin(); a != slots.end(); ++a) {
    for (auto b = slots.begin(); b != a; ++b) {
      if (!a->data || !b->data || n == 0) continue;
      const uintptr_t a0 = uintptr_t(a->data), b0 = uintptr_t(b->data), bytes = n * sizeof(float);
      if (a0 < b0 + bytes && b0 < a0 + bytes)
        ThrowValue(env, std::string(a->name) + ": expected a buffer apart from " + b->name + ", got one sharing " +
                            "its memory");
    }
  }
}

// sgdStepChecked(params, grads, velocity, lr, momentum, dampening, nesterov, weightDecay, firstStep, gradScale,
//                result[1]): result[0] = elements that would turn non-finite (0: the step was applied).
std::function<void()> PrepareSgdChecked(const Napi::CallbackInfo& info) {
  const SgdCall c = ReadSgd(info);
  const double scale = RequireFinite(info[9], "gradScale", 0);
  double* result = RequireFloat64(info[10], "result", 1);
  RequireApart(info.Env(), {{"params", c.params}, {"grads", c.grads}, {"velocity", c.velocity}}, c.n);
  return [=]() {
    result[0] = double(rnnkit::sgd_step_checked(c.params, c.velocity, c.grads, c.n, scale, c.lr, c.momentum,
                                                c.dampening, c.nesterov, c.weight_decay, c.first));
  };
}

// adamStepChecked(params, grads, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale,
//                 result[1]): result[0] = elements that would turn non-finite (0: the step was applied).
std::function<void()> PrepareAdamChecked(const Napi::CallbackInfo& info) {
  const AdamCall c = ReadAdam(info);
  const double scale = RequireFinite(info[11], "gradScale", 0);
  double* result = RequireFloat64(info[12], "result", 1);
  RequireApart(info.Env(), {{"params", c.params}, {"grads", c.grads}, {"expAvg", c.m}, {"expAvgSq", c.v}}, c.n);
  return [=]() {
    result[0] = double(rnnkit::adam_step_checked(c.params, c.m, c.v, c.grads, c.n, scale, c.lr, c.beta1, c.beta2,
                                                 c.eps, c.weight_decay, c.decoupled, c.step));
  };
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

// zero(x): every element +0 whatever it held (not scale(x, 0): NaN * 0 is NaN). Async, it takes
// fit's zeroing of the gradients (6 MB for the g2p model, ~1.5 ms) off the event loop.
std::function<void()> PrepareZero(const Napi::CallbackInfo& info) {
  Napi::Float32Array x = RequireAnyFloat32(info[0], "x");
  float* data = x.Data();
  const size_t n = x.ElementLength();
  return [=]() { std::fill(data, data + n, 0.0f); };
}

// movingAverage(average, x, decay): average += (1 - decay) * (x - average), in float.
std::function<void()> PrepareMovingAverage(const Napi::CallbackInfo& info) {
  Napi::Float32Array average = RequireAnyFloat32(info[0], "average");
  const size_t n = average.ElementLength();
  const float* x = RequireFloat32(info[1], "x", n);
  const double decay = RequireNumber(info[2], "decay", 0, 1);
  RequireApart(info.Env(), {{"average", average.Data()}, {"x", x}}, n);
  float* a = average.Data();
  return [=]() { rnnkit::moving_average(a, x, n, decay); };
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
  ExportKernel(env, exports, "sgdStepChecked", PrepareSgdChecked);
  ExportKernel(env, exports, "adamStepChecked", PrepareAdamChecked);
  ExportKernel(env, exports, "sumSquares", PrepareSumSquares);
  ExportKernel(env, exports, "scale", PrepareScale);
  ExportKernel(env, exports, "zero", PrepareZero);
  ExportKernel(env, exports, "movingAverage", PrepareMovingAverage);
  ExportKernel(env, exports, "countNonfinite", PrepareCountNonfinite);
}

}  // namespace rnnkit_addon
