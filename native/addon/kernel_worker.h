// Runs one kernel call on libuv's thread pool and settles a Promise.
// Execute() touches no N-API: the arrays it reads and writes were borrowed on
// the JS thread and are kept alive by the references held here until it ends.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <utility>
#include <vector>

namespace rnnkit_addon {

class KernelWorker : public Napi::AsyncWorker {
 public:
  // keep_alive: every JS object the kernel touches (typed arrays, the owning wrapper).
  // on_done runs on the JS thread, success or failure (e.g. to clear a busy flag).
  KernelWorker(Napi::Env env, std::function<void()> kernel, const std::vector<Napi::Value>& keep_alive,
               std::function<void()> on_done)
      : Napi::AsyncWorker(env, "rnnkit:kernel"),
        deferred_(Napi::Promise::Deferred::New(env)),
        kernel_(std::move(kernel)),
        on_done_(std::move(on_done)) {
    for (const Napi::Value& v : keep_alive)
      if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      kernel_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("rnnkit: unknown native failure");
    }
  }
  void OnOK() override {
    on_done_();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& error) override {
    on_done_();
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> kernel_;
  std::function<void()> on_done_;
  std::vector<Napi::ObjectReference> refs_;
};

}  // namespace rnnkit_addon
