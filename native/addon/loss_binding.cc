// Binding of the loss kernels (softmax cross-entropy, log-softmax, MSE):
// validate, borrow, call. Targets are checked (rows of weight 0 excepted) and
// copied so the kernel never indexes with values it did not check.
#include "../kernels/losses.h"
#include "block_bindings.h"
#include "kernel_function.h"
#include "value_checks.h"

namespace rnnkit_addon {
namespace {

// softmaxCrossEntropy(logits, targets, weights, labelSmoothing, scale, N, V, result, dLogits)
std::function<void()> PrepareCrossEntropy(const Napi::CallbackInfo& info) {
  const int N = RequirePositiveInt(info[5], "N"), V = RequirePositiveInt(info[6], "numClasses");
  RequireIndexable(info.Env(), "logits", N, V);
  const float* logits = RequireFloat32(info[0], "logits", size_t(N) * V);
  const float* weights = RequireRowWeights(info[2], "weights", size_t(N));
  std::vector<int> targets = RequireTargets(info[1], "targets", size_t(N), V, weights);
  const double eps = RequireNumber(info[3], "labelSmoothing", 0, 1);
  const double scale = RequireFinite(info[4], "scale");
  double* result = RequireFloat64(info[7], "result", 2);
  float* dlogits = RequireFloat32(info[8], "dLogits", size_t(N) * V, true);
  return [=, targets = std::move(targets)]() {
    rnnkit::softmax_cross_entropy(dlogits, result, logits, targets.data(), weights, eps, scale, N, V);
  };
}

// logSoftmax(logits, N, V, out)
std::function<void()> PrepareLogSoftmax(const Napi::CallbackInfo& info) {
  const int N = RequirePositiveInt(info[1], "N"), V = RequirePositiveInt(info[2], "numClasses");
  RequireIndexable(info.Env(), "logits", N, V);
  const float* logits = RequireFloat32(info[0], "logits", size_t(N) * V);
  float* out = RequireFloat32(info[3], "out", size_t(N) * V);
  return [=]() { rnnkit::log_softmax(out, logits, N, V); };
}

// mseLoss(pred, target, weights, scale, N, F, result, dPred)
std::function<void()> PrepareMse(const Napi::CallbackInfo& info) {
  const int N = RequirePositiveInt(info[4], "N"), F = RequirePositiveInt(info[5], "features");
  RequireIndexable(info.Env(), "pred", N, F);
  const float* pred = RequireFloat32(info[0], "pred", size_t(N) * F);
  const float* target = RequireFloat32(info[1], "target", size_t(N) * F);
  const float* weights = RequireRowWeights(info[2], "weights", size_t(N));
  const double scale = RequireFinite(info[3], "scale");
  double* result = RequireFloat64(info[6], "result", 2);
  float* dpred = RequireFloat32(info[7], "dPred", size_t(N) * F, true);
  return [=]() { rnnkit::mse_loss(dpred, result, pred, target, weights, scale, N, F); };
}

}  // namespace

void ExportLosses(Napi::Env env, Napi::Object exports) {
  ExportKernel(env, exports, "softmaxCrossEntropy", PrepareCrossEntropy);
  ExportKernel(env, exports, "logSoftmax", PrepareLogSoftmax);
  ExportKernel(env, exports, "mseLoss", PrepareMse);
}

}  // namespace rnnkit_addon
