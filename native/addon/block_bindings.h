// Registration of the stateless building-block kernels: each export is a
// sync/Async twin pair made by ExportKernel (kernel_function.h).
#pragma once
#include <napi.h>

namespace rnnkit_addon {

void ExportLinear(Napi::Env env, Napi::Object exports);      // linear_binding.cc
void ExportEmbedding(Napi::Env env, Napi::Object exports);   // embedding_binding.cc
void ExportLosses(Napi::Env env, Napi::Object exports);      // loss_binding.cc
void ExportOptimizers(Napi::Env env, Napi::Object exports);  // optimizer_binding.cc
void ExportDropout(Napi::Env env, Napi::Object exports);     // dropout_binding.cc

}  // namespace rnnkit_addon
