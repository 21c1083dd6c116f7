// Binding of rnnkit::stack_forward / stack_backward: validate, borrow, call.
// A float64 stack takes Float64Arrays and runs the kernels' double instantiation.
#include "recurrent_stack_binding.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "checks.h"
#include "kernel_worker.h"
#include "value_checks.h"

namespace rnnkit_addon {
namespace {

constexpr double kIntMax = 2147483647.0;

rnnkit::Cell RequireCell(const Napi::Value& v) {
  const int code = RequirePositiveInt(v, "cell", 5) - 1;  // 1-based on the JS side, see lib/native.ts
  return static_cast<rnnkit::Cell>(code);
}

// Sizes as doubles so products cannot overflow before they are checked.
void RequireIndexable(Napi::Env env, const char* what, double elements) {
  if (elements > kIntMax)
    ThrowValue(env, std::string(what) + ": " + std::to_string(elements) +
                        " elements exceed the 2^31-1 a single BLAS call can index");
}

}  // namespace

Napi::Function RecurrentStackBinding::Define(Napi::Env env) {
  return DefineClass(env, "RecurrentStack",
                     {
                         InstanceMethod("paramCount", &RecurrentStackBinding::ParamCount),
                         InstanceMethod("workspaceBytes", &RecurrentStackBinding::WorkspaceBytes),
                         InstanceMethod("forward", &RecurrentStackBinding::Forward),
                         InstanceMethod("forwardAsync", &RecurrentStackBinding::ForwardAsync),
                         InstanceMethod("backward", &RecurrentStackBinding::Backward),
                         InstanceMethod("backwardAsync", &RecurrentStackBinding::BackwardAsync),
                         InstanceMethod("dispose", &RecurrentStackBinding::Dispose),
                     });
}

// new RecurrentStack({ cell, numLayers, numDirections, inputSize, hiddenSize, bias, dropout, workspaceLimitBytes,
//                      projSize?, dtype? }): projSize 0 (or absent) is no projection; dtype 'float32' (default)
// or 'float64'.
RecurrentStackBinding::RecurrentStackBinding(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RecurrentStackBinding>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) ThrowType(env, "config: expected an object, got " + Describe(info[0]));
  Napi::Object c = info[0].As<Napi::Object>();
  config_.cell = RequireCell(c.Get("cell"));
  config_.num_layers = RequirePositiveInt(c.Get("numLayers"), "numLayers", 1024);
  config_.num_directions = RequirePositiveInt(c.Get("numDirections"), "numDirections", 2);
  config_.input_size = RequirePositiveInt(c.Get("inputSize"), "inputSize");
  config_.hidden_size = RequirePositiveInt(c.Get("hiddenSize"), "hiddenSize");
  Napi::Value bias = c.Get("bias"), dropout = c.Get("dropout"), limit = c.Get("workspaceLimitBytes");
  if (!bias.IsBoolean()) ThrowType(env, "bias: expected a boolean, got " + Describe(bias));
  config_.bias = bias.As<Napi::Boolean>().Value();
  if (!dropout.IsNumber()) ThrowType(env, "dropout: expected a number in [0, 1), got " + Describe(dropout));
  const double p = dropout.As<Napi::Number>().DoubleValue();
  if (!(p >= 0 && p < 1)) ThrowValue(env, "dropout: expected a number in [0, 1), got " + Describe(dropout));
  config_.dropout = p;
  if (!limit.IsNumber()) ThrowType(env, "workspaceLimitBytes: expected a positive number, got " + Describe(limit));
  const double cap = limit.As<Napi::Number>().DoubleValue();
  if (!(cap > 0)) ThrowValue(env, "workspaceLimitBytes: expected a positive number, got " + Describe(limit));
  workspace_limit_bytes_ = cap;
  Napi::Value proj = c.Get("projSize"), dtype = c.Get("dtype");
  if (!IsAbsent(proj)) {
    const int P = RequireIntIn(proj, "projSize", 0, 1 << 30);
    if (P > 0 && config_.cell != rnnkit::Cell::Lstm)
      ThrowValue(env, "projSize: only an LSTM has a projection (PyTorch's proj_size), got projSize " +
                          std::to_string(P) + " for cell " + std::to_string(int(config_.cell) + 1));
    if (P >= config_.hidden_size)
      ThrowValue(env, "projSize: expected 0 <= projSize < hiddenSize (" + std::to_string(config_.hidden_size) +
                          "), got " + std::to_string(P));
    config_.proj_size = P;
  }
  if (!IsAbsent(dtype)) {
    const std::string name = dtype.IsString() ? dtype.As<Napi::String>().Utf8Value() : std::string();
    if (!dtype.IsString()) ThrowType(env, "dtype: expected 'float32' or 'float64', got " + Describe(dtype));
    if (name != "float32" && name != "float64")
      ThrowValue(env, "dtype: expected 'float32' or 'float64', got '" + name + "'");
    float64_ = name == "float64";
  }
  const double GH = double(rnnkit::gate_count(config_.cell)) * config_.hidden_size;
  RequireIndexable(env, "weights",
                   GH * std::max(config_.input_size, config_.num_directions * rnnkit::stack_state_size(config_)));
  param_count_ = rnnkit::stack_param_count(config_);
}

RecurrentStackBinding::~RecurrentStackBinding() {
  // The C call, not Napi::MemoryManagement: a destructor must not throw.
  if (external_bytes_ != 0) {
    int64_t unused = 0;
    napi_adjust_external_memory(Env(), -external_bytes_, &unused);
  }
}

void RecurrentStackBinding::AccountExternalMemory(Napi::Env env) {
  const int64_t now = int64_t(workspace_.capacity() + inference_workspace_.capacity() +
                              (record_lengths_.capacity() + inference_lengths_.capacity()) * sizeof(int));
  if (now != external_bytes_) {
    int64_t unused = 0;
    napi_adjust_external_memory(env, now - external_bytes_, &unused);
    external_bytes_ = now;
  }
}

void RecurrentStackBinding::RequireIdle(Napi::Env env) const {
  if (disposed_) ThrowTyped(env, false, "ERR_RNNKIT_DISPOSED", "RecurrentStack: used after dispose()");
  if (busy_)
    ThrowTyped(env, false, "ERR_RNNKIT_BUSY",
               "RecurrentStack: an async forward/backward is still running on this layer; await it first");
}

Napi::Value RecurrentStackBinding::ParamCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(param_count_));
}

// workspaceBytes(T, B, training = true): bytes a forward at this shape needs.
Napi::Value RecurrentStackBinding::WorkspaceBytes(const Napi::CallbackInfo& info) {
  const int T = RequirePositiveInt(info[0], "T"), B = RequirePositiveInt(info[1], "B");
  const bool training = !info[2].IsBoolean() || info[2].As<Napi::Boolean>().Value();
  const double element = float64_ ? sizeof(double) : sizeof(float);
  return Napi::Number::New(info.Env(), double(rnnkit::stack_workspace_floats(config_, T, B, training)) * element);
}

std::function<void()> RecurrentStackBinding::PrepareForward(const Napi::CallbackInfo& info) {
  return float64_ ? PrepareForwardAs<double>(info) : PrepareForwardAs<float>(info);
}

std::function<void()> RecurrentStackBinding::PrepareBackward(const Napi::CallbackInfo& info) {
  return float64_ ? PrepareBackwardAs<double>(info) : PrepareBackwardAs<float>(info);
}

// forward(params, x, T, B, h0, c0, lengths, training, dropoutSeed, y, hN, cN)
// With projSize P: output [T,B,D*P], h0 and hN [L*D,B,P]; c0 and cN stay [L*D,B,H].
template <typename Real>
std::function<void()> RecurrentStackBinding::PrepareForwardAs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireIdle(env);
  const rnnkit::StackConfig c = config_;
  const int T = RequirePositiveInt(info[2], "T"), B = RequirePositiveInt(info[3], "B");
  const double DW = double(c.num_directions) * rnnkit::stack_state_size(c);
  RequireIndexable(env, "x", double(T) * B * c.input_size);
  RequireIndexable(env, "output", double(T) * B * c.num_directions * c.hidden_size * rnnkit::gate_count(c.cell));
  const size_t layers = size_t(c.num_layers) * c.num_directions;
  const size_t state = layers * B * rnnkit::stack_state_size(c), cell_state = layers * B * c.hidden_size;
  const bool lstm = c.cell == rnnkit::Cell::Lstm;

  const Real* params = RequireFloats<Real>(info[0], "params", param_count_);
  const Real* x = RequireFloats<Real>(info[1], "x", size_t(T) * B * c.input_size);
  const Real* h0 = RequireFloats<Real>(info[4], "h0", state, true);
  const Real* c0 = lstm ? RequireFloats<Real>(info[5], "c0", cell_state, true) : nullptr;
  const int32_t* lengths = RequireLengths(info[6], "lengths", size_t(B), 1, T);
  if (!info[7].IsBoolean()) ThrowType(env, "training: expected a boolean, got " + Describe(info[7]));
  const bool training = info[7].As<Napi::Boolean>().Value();
  const double seed = info[8].IsNumber() ? info[8].As<Napi::Number>().DoubleValue() : NAN;
  if (!(seed >= 0 && seed <= 9007199254740991.0 && std::floor(seed) == seed))
    ThrowValue(env, "dropoutSeed: expected a non-negative safe integer, got " + Describe(info[8]));
  Real* y = RequireFloats<Real>(info[9], "output", size_t(T) * B * size_t(DW));
  Real* hN = RequireFloats<Real>(info[10], "hN", state);
  Real* cN = lstm ? RequireFloats<Real>(info[11], "cN", cell_state) : nullptr;

  // Inference needs only the forward part (no input copy, gradient or backward buffers).
  const size_t floats = rnnkit::stack_workspace_floats(c, T, B, training);
  if (double(floats) * sizeof(Real) > workspace_limit_bytes_)
    ThrowValue(env, "workspace: T=" + std::to_string(T) + ", B=" + std::to_string(B) + " needs " +
                        std::to_string(double(floats) * sizeof(Real) / 1048576.0) + " MiB, above the limit of " +
                        std::to_string(workspace_limit_bytes_ / 1048576.0) +
                        " MiB (raise workspaceLimitBytes to allow it)");
  // All checks passed: from here on state may change. Inference has its own
  // workspace so it can run between a training forward and its backward.
  WorkspaceBuffer& workspace = training ? workspace_ : inference_workspace_;
  if (training) has_record_ = false;  // stays false if the allocation below fails
  const size_t fresh = workspace.reserve<Real>(floats);  // std::bad_alloc becomes a JS error at the boundary
  std::vector<int>& lens_copy = training ? record_lengths_ : inference_lengths_;
  if (lengths) lens_copy.assign(lengths, lengths + B);
  AccountExternalMemory(env);
  if (training) {
    has_record_ = true;
    record_T_ = T;
    record_B_ = B;
    record_has_lengths_ = lengths != nullptr;
  }
  Real* ws = workspace.template data<Real>();
  const int* lens = lengths ? lens_copy.data() : nullptr;
  const uint64_t dropout_seed = uint64_t(seed);
  return [=]() {
    fill_if_new(ws, fresh);
    rnnkit::stack_forward(y, hN, cN, ws, params, x, h0, c0, lens, training, dropout_seed, c, T, B);
  };
}

// backward(params, dparams, dy, dhN, dcN, dx, dh0, dc0), shaped as forward's arrays.
template <typename Real>
std::function<void()> RecurrentStackBinding::PrepareBackwardAs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireIdle(env);
  if (!has_record_)
    ThrowTyped(env, false, "ERR_RNNKIT_STATE", "backward: call forward(x, { training: true }) first");
  const rnnkit::StackConfig c = config_;
  const int T = record_T_, B = record_B_, W = rnnkit::stack_state_size(c);
  const size_t layers = size_t(c.num_layers) * c.num_directions;
  const size_t state = layers * B * W, cell_state = layers * B * c.hidden_size;
  const bool lstm = c.cell == rnnkit::Cell::Lstm;
  const Real* params = RequireFloats<Real>(info[0], "params", param_count_);
  Real* dparams = RequireFloats<Real>(info[1], "grads", param_count_);
  const Real* dy = RequireFloats<Real>(info[2], "dOutput", size_t(T) * B * c.num_directions * W, true);
  const Real* dhN = RequireFloats<Real>(info[3], "dhN", state, true);
  const Real* dcN = lstm ? RequireFloats<Real>(info[4], "dcN", cell_state, true) : nullptr;
  Real* dx = RequireFloats<Real>(info[5], "dx", size_t(T) * B * c.input_size);
  Real* dh0 = RequireFloats<Real>(info[6], "dh0", state);
  Real* dc0 = lstm ? RequireFloats<Real>(info[7], "dc0", cell_state) : nullptr;
  Real* ws = workspace_.data<Real>();
  const int* lens = record_has_lengths_ ? record_lengths_.data() : nullptr;
  return [=]() { rnnkit::stack_backward(dx, dh0, dc0, dparams, ws, params, dy, dhN, dcN, lens, c, T, B); };
}

Napi::Value RecurrentStackBinding::RunAsync(const Napi::CallbackInfo& info, std::function<void()> kernel) {
  std::vector<Napi::Value> keep_alive{Value()};
  for (size_t i = 0; i < info.Length(); ++i) keep_alive.push_back(info[i]);
  busy_ = true;
  auto* worker = new KernelWorker(info.Env(), std::move(kernel), keep_alive, [this]() { busy_ = false; });
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value RecurrentStackBinding::Forward(const Napi::CallbackInfo& info) {
  PrepareForward(info)();
  return info.Env().Undefined();
}

Napi::Value RecurrentStackBinding::ForwardAsync(const Napi::CallbackInfo& info) {
  return RunAsync(info, PrepareForward(info));
}

Napi::Value RecurrentStackBinding::Backward(const Napi::CallbackInfo& info) {
  PrepareBackward(info)();
  return info.Env().Undefined();
}

Napi::Value RecurrentStackBinding::BackwardAsync(const Napi::CallbackInfo& info) {
  return RunAsync(info, PrepareBackward(info));
}

// Frees the workspace now instead of at garbage collection.
Napi::Value RecurrentStackBinding::Dispose(const Napi::CallbackInfo& info) {
  RequireIdle(info.Env());
  workspace_.release();
  inference_workspace_.release();
  std::vector<int>().swap(record_lengths_);
  std::vector<int>().swap(inference_lengths_);
  AccountExternalMemory(info.Env());
  has_record_ = false;
  disposed_ = true;
  return info.Env().Undefined();
}

}  // namespace rnnkit_addon
