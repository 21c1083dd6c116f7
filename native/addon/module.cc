// Entry point of the native addon: registers the bindings. No computation here.
#include <napi.h>

#include <string>

#include "../kernels/blas.h"
#include "../kernels/cpu_isa.h"
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

// The kernel paths this process runs: rnnkit's instruction set (RNNKIT_ISA capped at the
// CPU's best) and OpenBLAS's own kernel choice (OPENBLAS_CORETYPE, or its CPU detection).
Napi::Value KernelInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("isa", rnnkit::isa_name(rnnkit::active_isa()));
  out.Set("cpuIsa", rnnkit::isa_name(rnnkit::cpu_best_isa()));
  out.Set("blasCore", openblas_get_corename());
  out.Set("blasConfig", openblas_get_config());
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // A misspelt RNNKIT_ISA must not silently test or run another path than the one asked for.
  rnnkit::Isa requested;
  if (!rnnkit::requested_isa(&requested)) {
    ThrowValue(env, std::string("RNNKIT_ISA: expected baseline, avx2 or avx512 (or unset for the CPU's best), got '") +
                        std::getenv("RNNKIT_ISA") + "'");
  }
  exports.Set("kernelInfo", Napi::Function::New(env, KernelInfo, "kernelInfo"));
  exports.Set("RecurrentStack", RecurrentStackBinding::Define(env));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  RegisterAttentionDecoder(env, exports);
  ExportLinear(env, exports);
  ExportEmbedding(env, exports);
  ExportLosses(env, exports);
  ExportOptimizers(env, exports);
  ExportDropout(env, exports);
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace
}  // namespace rnnkit_addon

static Napi::Object InitRnnkit(Napi::Env env, Napi::Object exports) { return rnnkit_addon::Init(env, exports); }

NODE_API_MODULE(rnnkit, InitRnnkit)
