// Binding of the optimizer steps (plain and checked) and gradient-norm helpers
// over flat Float32Arrays, or Float64Arrays (float64 layers: the kernels' double
// instantiation; every buffer of a call has the first one's type): validate
// (lengths agree, hyper-parameters in PyTorch's ranges, checked steps' buffers
// apart), borrow, call. Scalar results go to a caller-owned Float64Array.
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

// The prepare function `name` of a binding whose buffers may be float32 or float64: the type of its
// first argument picks name##As<float> or name##As<double>.
#define RNNKIT_BY_ELEMENT_TYPE(name)                                                          \
  std::function<void()> name(const Napi::CallbackInfo& info) {                                \
    return IsFloat64Array(info[0]) ? name##As<double>(info) : name##As<float>(info);          \
  }

// Hyper-parameters and borrowed buffers of one SGD step, checked.
template <typename Real>
struct SgdCall {
  Real* params;
  const Real* grads;
  Real* velocity;
  size_t n;
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
};

// sgdStep(params, grads, velocity, lr, momentum, dampening, nesterov, weightDecay, firstStep, ...)
template <typename Real>
SgdCall<Real> ReadSgd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SgdCall<Real> c;
  Real* params = RequireAnyFloats<Real>(info[0], "params", c.n);
  c.grads = RequireFloats<Real>(info[1], "grads", c.n);
  c.lr = RequireFinite(info[3], "lr", 0);
  c.momentum = RequireFinite(info[4], "momentum", 0);
  c.dampening = RequireFinite(info[5], "dampening");
  c.nesterov = RequireBool(info[6], "nesterov");
  c.weight_decay = RequireFinite(info[7], "weightDecay", 0);
  c.first = RequireBool(info[8], "firstStep");
  if (c.nesterov && (c.momentum <= 0 || c.dampening != 0))
    ThrowValue(env, "nesterov: needs momentum > 0 and dampening = 0, got momentum " + std::to_string(c.momentum) +
                        " and dampening " + std::to_string(c.dampening));
  c.velocity = RequireFloats<Real>(info[2], "velocity", c.n, c.momentum == 0);
  c.params = params;
  return c;
}

template <typename Real>
std::function<void()> PrepareSgdAs(const Napi::CallbackInfo& info) {
  const SgdCall<Real> c = ReadSgd<Real>(info);
  return [=]() {
    rnnkit::sgd_step(c.params, c.velocity, c.grads, c.n, c.lr, c.momentum, c.dampening, c.nesterov, c.weight_decay,
                     c.first);
  };
}

RNNKIT_BY_ELEMENT_TYPE(PrepareSgd)

// Hyper-parameters and borrowed buffers of one Adam / AdamW step, checked.
template <typename Real>
struct AdamCall {
  Real* params;
  const Real* grads;
  Real *m, *v;
  size_t n;
  double lr, beta1, beta2, eps, weight_decay, step;
  bool decoupled;
};

// adamStep(params, grads, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, decoupled, step, ...)
template <typename Real>
AdamCall<Real> ReadAdam(const Napi::CallbackInfo& info) {
  AdamCall<Real> c;
  Real* params = RequireAnyFloats<Real>(info[0], "params", c.n);
  c.grads = RequireFloats<Real>(info[1], "grads", c.n);
  c.m = RequireFloats<Real>(info[2], "expAvg", c.n);
  c.v = RequireFloats<Real>(info[3], "expAvgSq", c.n);
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
  c.params = params;
  return c;
}

template <typename Real>
std::function<void()> PrepareAdamAs(const Napi::CallbackInfo& info) {
  const AdamCall<Real> c = ReadAdam<Real>(info);
  return [=]() {
    rnnkit::adam_step(c.params, c.m, c.v, c.grads, c.n, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.decoupled,
                      c.step);
  };
}

RNNKIT_BY_ELEMENT_TYPE(PrepareAdam)

// The checked steps compute each element from the old values of its own slots, so no two buffers may share
// memory: an overlap would let the writing pass read values the checking pass never saw.
struct Slot {
  const char* name;
  const void* data;
};

// n elements of `element` bytes each.
void RequireApart(Napi::Env env, std::initializer_list<Slot> slots, size_t n, size_t element) {
  for (auto a = slots.begin(); a != slots.end(); ++a) {
    for (auto b = slots.begin(); b != a; ++b) {
      if (!a->data || !b->data || n == 0) continue;
      const uintptr_t a0 = uintptr_t(a->data), b0 = uintptr_t(b->data), bytes = n * element;
      if (a0 < b0 + bytes && b0 < a0 + bytes)
        ThrowValue(env, std::string(a->name) + ": expected a buffer apart from " + b->name + ", got one sharing " +
                            "its memory");
    }
  }
}

// sgdStepChecked(params, grads, velocity, lr, momentum, dampening, nesterov, weightDecay, firstStep, gradScale,
//                result[1]): result[0] = elements that would turn non-finite (0: the step was applied).
template <typename Real>
std::function<void()> PrepareSgdCheckedAs(const Napi::CallbackInfo& info) {
  const SgdCall<Real> c = ReadSgd<Real>(info);
  const double scale = RequireFinite(info[9], "gradScale", 0);
  double* result = RequireFloat64(info[10], "result", 1);
  RequireApart(info.Env(), {{"params", c.params}, {"grads", c.grads}, {"velocity", c.velocity}}, c.n, sizeof(Real));
  return [=]() {
    result[0] = double(rnnkit::sgd_step_checked(c.params, c.velocity, c.grads, c.n, scale, c.lr, c.momentum,
                                                c.dampening, c.nesterov, c.weight_decay, c.first));
  };
}

RNNKIT_BY_ELEMENT_TYPE(PrepareSgdChecked)

// adamStepChecked(params, grads, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, decoupled, step, gradScale,
//                 result[1]): result[0] = elements that would turn non-finite (0: the step was applied).
template <typename Real>
std::function<void()> PrepareAdamCheckedAs(const Napi::CallbackInfo& info) {
  const AdamCall<Real> c = ReadAdam<Real>(info);
  const double scale = RequireFinite(info[11], "gradScale", 0);
  double* result = RequireFloat64(info[12], "result", 1);
  RequireApart(info.Env(), {{"params", c.params}, {"grads", c.grads}, {"expAvg", c.m}, {"expAvgSq", c.v}}, c.n,
               sizeof(Real));
  return [=]() {
    result[0] = double(rnnkit::adam_step_checked(c.params, c.m, c.v, c.grads, c.n, scale, c.lr, c.beta1, c.beta2,
                                                 c.eps, c.weight_decay, c.decoupled, c.step));
  };
}

RNNKIT_BY_ELEMENT_TYPE(PrepareAdamChecked)

// sumSquares(x, result[1])
template <typename Real>
std::function<void()> PrepareSumSquaresAs(const Napi::CallbackInfo& info) {
  size_t n = 0;
  const Real* data = RequireAnyFloats<Real>(info[0], "x", n);
  double* result = RequireFloat64(info[1], "result", 1);
  return [=]() { result[0] = rnnkit::sum_squares(data, n); };
}
RNNKIT_BY_ELEMENT_TYPE(PrepareSumSquares)

// scale(x, factor)
template <typename Real>
std::function<void()> PrepareScaleAs(const Napi::CallbackInfo& info) {
  size_t n = 0;
  Real* data = RequireAnyFloats<Real>(info[0], "x", n);
  const double factor = RequireFinite(info[1], "factor");
  return [=]() { rnnkit::scale(data, n, factor); };
}
RNNKIT_BY_ELEMENT_TYPE(PrepareScale)

// zero(x): every element +0 whatever it held (not scale(x, 0): NaN * 0 is NaN). Async, it takes
// fit's zeroing of the gradients (6 MB for the g2p model, ~1.5 ms) off the event loop.
template <typename Real>
std::function<void()> PrepareZeroAs(const Napi::CallbackInfo& info) {
  size_t n = 0;
  Real* data = RequireAnyFloats<Real>(info[0], "x", n);
  return [=]() { std::fill(data, data + n, Real(0)); };
}
RNNKIT_BY_ELEMENT_TYPE(PrepareZero)

// movingAverage(average, x, decay): average += (1 - decay) * (x - average), in the buffers' precision.
template <typename Real>
std::function<void()> PrepareMovingAverageAs(const Napi::CallbackInfo& info) {
  size_t n = 0;
  Real* a = RequireAnyFloats<Real>(info[0], "average", n);
  const Real* x = RequireFloats<Real>(info[1], "x", n);
  const double decay = RequireNumber(info[2], "decay", 0, 1);
  RequireApart(info.Env(), {{"average", a}, {"x", x}}, n, sizeof(Real));
  return [=]() { rnnkit::moving_average(a, x, n, decay); };
}
RNNKIT_BY_ELEMENT_TYPE(PrepareMovingAverage)

// countNonfinite(x, result[1])
template <typename Real>
std::function<void()> PrepareCountNonfiniteAs(const Napi::CallbackInfo& info) {
  size_t n = 0;
  const Real* data = RequireAnyFloats<Real>(info[0], "x", n);
  double* result = RequireFloat64(info[1], "result", 1);
  return [=]() { result[0] = double(rnnkit::count_nonfinite(data, n)); };
}
RNNKIT_BY_ELEMENT_TYPE(PrepareCountNonfinite)

#undef RNNKIT_BY_ELEMENT_TYPE

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
