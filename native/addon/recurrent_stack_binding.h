// JS class `RecurrentStack`: owns the workspace of one recurrent stack and
// runs its forward/backward kernels, synchronously or on a worker thread.
// Parameters, gradients, inputs and outputs are caller-owned Float32Arrays, or
// Float64Arrays for a stack made with dtype 'float64' (the double kernels).
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "workspace_buffer.h"

#include "../kernels/recurrent_stack.h"

namespace rnnkit_addon {

class RecurrentStackBinding : public Napi::ObjectWrap<RecurrentStackBinding> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RecurrentStackBinding(const Napi::CallbackInfo& info);
  ~RecurrentStackBinding() override;

 private:
  Napi::Value ParamCount(const Napi::CallbackInfo& info);
  Napi::Value WorkspaceBytes(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ForwardAsync(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value BackwardAsync(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // Validate and borrow arguments; return the kernel call, ready to run anywhere.
  std::function<void()> PrepareForward(const Napi::CallbackInfo& info);
  std::function<void()> PrepareBackward(const Napi::CallbackInfo& info);
  template <typename Real>
  std::function<void()> PrepareForwardAs(const Napi::CallbackInfo& info);
  template <typename Real>
  std::function<void()> PrepareBackwardAs(const Napi::CallbackInfo& info);
  Napi::Value RunAsync(const Napi::CallbackInfo& info, std::function<void()> kernel);
  void RequireIdle(Napi::Env env) const;
  // Tells V8 how much native memory this object holds, so garbage collection
  // weighs it (a workspace can be far larger than the JS object that owns it).
  void AccountExternalMemory(Napi::Env env);

  rnnkit::StackConfig config_{};
  bool float64_ = false;  // dtype 'float64': every array is a Float64Array, the kernels run in double
  size_t param_count_ = 0;
  double workspace_limit_bytes_ = 0;
  WorkspaceBuffer workspace_;            // training forward -> backward
  WorkspaceBuffer inference_workspace_;  // forward with training=false
  std::vector<int> inference_lengths_;
  int64_t external_bytes_ = 0;  // what V8 was last told this object holds
  bool busy_ = false;
  bool disposed_ = false;
  // What the last training forward recorded for backward.
  bool has_record_ = false;
  int record_T_ = 0, record_B_ = 0;
  bool record_has_lengths_ = false;
  std::vector<int> record_lengths_;
};

}  // namespace rnnkit_addon
