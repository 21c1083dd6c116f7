// Binding of rnnkit::linear_forward / linear_backward: validate, borrow, call.
#include "../kernels/linear.h"
#include "block_bindings.h"
#include "kernel_function.h"
#include "value_checks.h"

namespace rnnkit_addon {
namespace {

struct LinearDims { int N, I, O; };

LinearDims RequireLinearDims(const Napi::CallbackInfo& info, size_t at) {
  const LinearDims d{RequirePositiveInt(info[at], "N"), RequirePositiveInt(info[at + 1], "inFeatures"),
                     RequirePositiveInt(info[at + 2], "outFeatures")};
  RequireIndexable(info.Env(), "x", d.N, d.I);
  RequireIndexable(info.Env(), "weight", d.O, d.I);
  RequireIndexable(info.Env(), "y", d.N, d.O);
  return d;
}

// linearForward(x, weight, bias, N, I, O, y)
std::function<void()> PrepareForward(const Napi::CallbackInfo& info) {
  const LinearDims d = RequireLinearDims(info, 3);
  const int N = d.N, I = d.I, O = d.O;
  const float* x = RequireFloat32(info[0], "x", size_t(N) * I);
  const float* w = RequireFloat32(info[1], "weight", size_t(O) * I);
  const float* b = RequireFloat32(info[2], "bias", size_t(O), true);
  float* y = RequireFloat32(info[6], "y", size_t(N) * O);
  return [=]() { rnnkit::linear_forward(y, x, w, b, N, I, O); };
}

// linearBackward(dy, x, weight, N, I, O, dWeight, dBias, dx, accumulateDx)
std::function<void()> PrepareBackward(const Napi::CallbackInfo& info) {
  const LinearDims d = RequireLinearDims(info, 3);
  const int N = d.N, I = d.I, O = d.O;
  const float* dy = RequireFloat32(info[0], "dy", size_t(N) * O);
  const float* x = RequireFloat32(info[1], "x", size_t(N) * I);
  const float* w = RequireFloat32(info[2], "weight", size_t(O) * I);
  float* dw = RequireFloat32(info[6], "dWeight", size_t(O) * I);
  float* db = RequireFloat32(info[7], "dBias", size_t(O), true);
  float* dx = RequireFloat32(info[8], "dx", size_t(N) * I, true);
  const bool accumulate = RequireBool(info[9], "accumulateDx");
  return [=]() { rnnkit::linear_backward(dx, accumulate, dw, db, dy, x, w, N, I, O); };
}

}  // namespace

void ExportLinear(Napi::Env env, Napi::Object exports) {
  ExportKernel(env, exports, "linearForward", PrepareForward);
  ExportKernel(env, exports, "linearBackward", PrepareBackward);
}

}  // namespace rnnkit_addon
