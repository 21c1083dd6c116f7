// Exports a stateless kernel binding twice from one "prepare" function:
// `name(...)` runs it on the JS thread, `nameAsync(...)` on libuv's pool and
// returns a Promise. prepare() validates and borrows on the JS thread and
// returns the call, so both twins check arguments identically and throw
// before anything runs.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "kernel_worker.h"

namespace rnnkit_addon {

using PrepareKernel = std::function<void()> (*)(const Napi::CallbackInfo&);

inline void ExportKernel(Napi::Env env, Napi::Object exports, const char* name, PrepareKernel prepare) {
  exports.Set(name, Napi::Function::New(
                        env,
                        [prepare](const Napi::CallbackInfo& info) -> Napi::Value {
                          prepare(info)();
                          return info.Env().Undefined();
                        },
                        name));
  const std::string async_name = std::string(name) + "Async";
  exports.Set(async_name, Napi::Function::New(
                              env,
                              [prepare](const Napi::CallbackInfo& info) -> Napi::Value {
                                std::function<void()> kernel = prepare(info);
                                std::vector<Napi::Value> keep_alive;
                                for (size_t i = 0; i < info.Length(); ++i) keep_alive.push_back(info[i]);
                                auto* worker = new KernelWorker(info.Env(), std::move(kernel), keep_alive, [] {});
                                Napi::Promise promise = worker->Promise();
                                worker->Queue();
                                return promise;
                              },
                              async_name));
}

}  // namespace rnnkit_addon
