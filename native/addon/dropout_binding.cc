// Binding of seeded inverted dropout over a flat Float32Array, for the dropout
// the structures apply outside the recurrent stacks (embeddings, encoder
// outputs, the head's input). The mask is recomputed from (seed, stream) rather
// than stored, so backward is the same call on the gradient.
#include <cmath>
#include <cstdint>

#include "../kernels/dropout.h"
#include "block_bindings.h"
#include "kernel_function.h"
#include "value_checks.h"

namespace rnnkit_addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

double RequireSafeInteger(const Napi::Value& v, const char* name) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= kMaxSafeInteger && std::floor(d) == d))
    ThrowValue(v.Env(), std::string(name) + ": expected a non-negative safe integer, got " + Describe(v));
  return d;
}

// dropout(y, x, p, seed, stream): y = x * mask, mask 0 with probability p, else 1 / (1 - p).
std::function<void()> PrepareDropout(const Napi::CallbackInfo& info) {
  Napi::Float32Array out = RequireAnyFloat32(info[0], "y");
  const size_t n = out.ElementLength();
  const float* x = RequireFloat32(info[1], "x", n);
  const double p = RequireFinite(info[2], "p", 0);
  if (!(p < 1)) ThrowValue(info.Env(), "p: expected a number in [0, 1), got " + Describe(info[2]));
  const uint64_t seed = uint64_t(RequireSafeInteger(info[3], "seed"));
  const uint64_t stream = uint64_t(RequireSafeInteger(info[4], "stream"));
  float* y = out.Data();
  // y may be x itself (in place), but not a partial overlap: that would read what was just written.
  const uintptr_t y0 = uintptr_t(y), x0 = uintptr_t(x), bytes = n * sizeof(float);
  if (y != x && y0 < x0 + bytes && x0 < y0 + bytes)
    ThrowValue(info.Env(), "y: expected x itself or a buffer apart from x, got one overlapping it");
  return [=]() { rnnkit::apply_dropout(y, x, n, p, seed, stream); };
}

}  // namespace

void ExportDropout(Napi::Env env, Napi::Object exports) {
  ExportKernel(env, exports, "dropout", PrepareDropout);
}

}  // namespace rnnkit_addon
