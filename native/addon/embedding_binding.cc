// Binding of rnnkit::embedding_forward / embedding_backward: validate (every
// id in range), borrow, call. Ids are copied so the kernel never indexes
// with values it did not check.
#include "../kernels/embedding.h"
#include "block_bindings.h"
#include "kernel_function.h"
#include "value_checks.h"

namespace rnnkit_addon {
namespace {

// embeddingForward(ids, weight, N, V, E, out)
std::function<void()> PrepareForward(const Napi::CallbackInfo& info) {
  const int N = RequirePositiveInt(info[2], "N"), V = RequirePositiveInt(info[3], "numEmbeddings"),
            E = RequirePositiveInt(info[4], "embeddingDim");
  RequireIndexable(info.Env(), "weight", V, E);
  RequireIndexable(info.Env(), "out", N, E);
  std::vector<int> ids = RequireIds(info[0], "ids", size_t(N), V);
  const float* w = RequireFloat32(info[1], "weight", size_t(V) * E);
  float* out = RequireFloat32(info[5], "out", size_t(N) * E);
  return [=, ids = std::move(ids)]() { rnnkit::embedding_forward(out, w, ids.data(), N, E); };
}

// embeddingBackward(ids, dOut, paddingIdx, N, V, E, dWeight); paddingIdx -1: none
std::function<void()> PrepareBackward(const Napi::CallbackInfo& info) {
  const int N = RequirePositiveInt(info[3], "N"), V = RequirePositiveInt(info[4], "numEmbeddings"),
            E = RequirePositiveInt(info[5], "embeddingDim");
  RequireIndexable(info.Env(), "weight", V, E);
  RequireIndexable(info.Env(), "dOut", N, E);
  std::vector<int> ids = RequireIds(info[0], "ids", size_t(N), V);
  const float* dout = RequireFloat32(info[1], "dOut", size_t(N) * E);
  const int padding = RequireIntIn(info[2], "paddingIdx", -1, V - 1);
  float* dw = RequireFloat32(info[6], "dWeight", size_t(V) * E);
  return [=, ids = std::move(ids)]() { rnnkit::embedding_backward(dw, dout, ids.data(), padding, N, E); };
}

}  // namespace

void ExportEmbedding(Napi::Env env, Napi::Object exports) {
  ExportKernel(env, exports, "embeddingForward", PrepareForward);
  ExportKernel(env, exports, "embeddingBackward", PrepareBackward);
}

}  // namespace rnnkit_addon
