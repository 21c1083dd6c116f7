// Entry point of the native addon: registers the bindings. No computation here.
#include <napi.h>

#include "../kernels/blas.h"
#include "attention_decoder_binding.h"
#include "block_bindings.h"
#include "checks.h"
#include "recurrent_stack_binding.h"

namespace rnnkit_addon {
namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  rnnkit::blas_set_num_threads(RequirePositiveInt(info[0], "threads", 1024));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), rnnkit::blas_get_num_threads());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("RecurrentStack", RecurrentStackBinding::Define(env));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  RegisterAttentionDecoder(env, exports);
  ExportLinear(env, exports);
  ExportEmbedding(env, exports);
  ExportLosses(env, exports);
  ExportOptimizers(env, exports);
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace
}  // namespace rnnkit_addon

static Napi::Object InitRnnkit(Napi::Env env, Napi::Object exports) { return rnnkit_addon::Init(env, exports); }

NODE_API_MODULE(rnnkit, InitRnnkit)
