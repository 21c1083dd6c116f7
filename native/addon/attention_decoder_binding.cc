// Bindings of the attention decoder kernel (stateless: the caller owns the
// workspace that forward fills and backward reads): validate, borrow, call.
#include "attention_decoder_binding.h"

#include <algorithm>
#include <string>

#include "../kernels/attention_decoder.h"
#include "checks.h"
#include "kernel_function.h"

namespace rnnkit_addon {
namespace {

struct DecoderCall {
  rnnkit::AttentionDecoderShape shape;
  bool bias;
};

// shape: { cell (1..4), score (1 bahdanau, 2 dot, 3 general), M, N, B, X, E, H, A, bias, S (optional: the
// memory's batch, when a forward maps its rows onto sources) }
DecoderCall RequireShape(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) ThrowType(env, "shape: expected an object, got " + Describe(v));
  Napi::Object o = v.As<Napi::Object>();
  DecoderCall c{};
  c.shape.cell = static_cast<rnnkit::Cell>(RequirePositiveInt(o.Get("cell"), "cell", 4) - 1);
  c.shape.score = static_cast<rnnkit::Score>(RequirePositiveInt(o.Get("score"), "score", 3) - 1);
  c.shape.M = RequirePositiveInt(o.Get("M"), "M");
  c.shape.N = RequirePositiveInt(o.Get("N"), "N");
  c.shape.B = RequirePositiveInt(o.Get("B"), "B");
  c.shape.X = RequirePositiveInt(o.Get("X"), "X");
  c.shape.E = RequirePositiveInt(o.Get("E"), "E");
  c.shape.H = RequirePositiveInt(o.Get("H"), "H");
  c.shape.A = c.shape.score == rnnkit::Score::Bahdanau ? RequirePositiveInt(o.Get("A"), "A") : 1;
  c.shape.S = IsAbsent(o.Get("S")) ? 0 : RequirePositiveInt(o.Get("S"), "S");
  Napi::Value bias = o.Get("bias");
  if (!bias.IsBoolean()) ThrowType(env, "bias: expected a boolean, got " + Describe(bias));
  c.bias = bias.As<Napi::Boolean>().Value();
  if (c.shape.score == rnnkit::Score::Dot && c.shape.E != c.shape.H)
    ThrowShape(env, "attention 'luong-dot' needs memory size E == decoder hidden size H, got E=" +
                        std::to_string(c.shape.E) + ", H=" + std::to_string(c.shape.H));
  const rnnkit::AttentionDecoderShape& s = c.shape;
  const double GH = double(rnnkit::gate_count(s.cell)) * s.H;
  const double biggest = std::max({double(s.M) * s.B * (s.H + s.E), double(s.M) * s.B * GH, double(s.N) * s.B * s.E,
                                   double(s.N) * rnnkit::memory_batch(s) * s.E,
                                   double(s.M) * s.B * s.N * s.A, GH * (double(s.X) + s.E)});
  if (biggest > 2147483647.0) ThrowValue(env, "shape: a tensor of this decoder would exceed 2^31-1 elements");
  return c;
}

// Row b attends to memory row rows[b], in [0, S). Needed when S differs from B.
const int* RequireSourceRows(const Napi::Value& v, const rnnkit::AttentionDecoderShape& s) {
  if (IsAbsent(v)) {
    if (rnnkit::memory_batch(s) != s.B)
      ThrowShape(v.Env(), "sourceRows: needed when the memory's batch S=" + std::to_string(s.S) + " differs from B=" +
                              std::to_string(s.B));
    return nullptr;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowType(v.Env(), "sourceRows: expected an Int32Array, got " + Describe(v));
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (a.ElementLength() != size_t(s.B))
    ThrowShape(v.Env(), "sourceRows: expected " + std::to_string(s.B) + " elements, got " + std::to_string(a.ElementLength()));
  const int S = rnnkit::memory_batch(s);
  for (size_t i = 0; i < a.ElementLength(); ++i) {
    if (a[i] < 0 || a[i] >= S)
      ThrowValue(v.Env(), "sourceRows[" + std::to_string(i) + "]: expected a memory row in [0, " + std::to_string(S - 1) +
                              "], got " + std::to_string(a[i]));
  }
  return a.Data();
}

// reuse: { keys, packedWeights }, both booleans (see DecoderReuse).
rnnkit::DecoderReuse RequireReuse(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) ThrowType(env, "reuse: expected an object, got " + Describe(v));
  Napi::Object o = v.As<Napi::Object>();
  rnnkit::DecoderReuse reuse;
  const Napi::Value keys = o.Get("keys"), packed = o.Get("packedWeights");
  if (!keys.IsBoolean()) ThrowType(env, "reuse.keys: expected a boolean, got " + Describe(keys));
  if (!packed.IsBoolean()) ThrowType(env, "reuse.packedWeights: expected a boolean, got " + Describe(packed));
  reuse.keys = keys.As<Napi::Boolean>().Value();
  reuse.packed_weights = packed.As<Napi::Boolean>().Value();
  return reuse;
}

// attentionDecoderForward(shape, params, x, memory, sourceLengths, targetLengths, h0, c0,
//                         reuse { keys, packedWeights }, workspace, out, weights, hN, cN, sourceRows)
// sourceRows (optional Int32Array [B]): the memory row, in [0, S), that each row attends to.
std::function<void()> PrepareForward(const Napi::CallbackInfo& info) {
  const DecoderCall c = RequireShape(info[0]);
  const rnnkit::AttentionDecoderShape s = c.shape;
  const size_t BH = size_t(s.B) * s.H;
  const bool lstm = s.cell == rnnkit::Cell::Lstm;
  float* params = RequireFloat32(info[1], "params", rnnkit::attention_decoder_param_count(s, c.bias));
  const float* x = RequireFloat32(info[2], "x", size_t(s.M) * s.B * s.X);
  const float* memory = RequireFloat32(info[3], "memory", size_t(s.N) * rnnkit::memory_batch(s) * s.E);
  const int* src = RequireLengths(info[4], "sourceLengths", size_t(s.B), 1, s.N);
  const int* tgt = RequireLengths(info[5], "targetLengths", size_t(s.B), 1, s.M);
  const float* h0 = RequireFloat32(info[6], "h0", BH, true);
  const float* c0 = lstm ? RequireFloat32(info[7], "c0", BH, true) : nullptr;
  const rnnkit::DecoderReuse reuse = RequireReuse(info[8]);
  const int* rows = RequireSourceRows(info.Length() > 14 ? info[14] : info.Env().Undefined(), s);
  float* ws = RequireFloat32(info[9], "workspace", rnnkit::attention_decoder_workspace_floats(s));
  float* out = RequireFloat32(info[10], "output", size_t(s.M) * s.B * (s.H + s.E));
  float* weights = RequireFloat32(info[11], "weights", size_t(s.M) * s.B * s.N, true);
  float* hN = RequireFloat32(info[12], "hN", BH);
  float* cN = lstm ? RequireFloat32(info[13], "cN", BH) : nullptr;
  const rnnkit::AttentionDecoderParams<float> p = rnnkit::attention_decoder_params(params, s, c.bias);
  return [=]() {
    rnnkit::attention_decoder_forward(out, weights, hN, cN, ws, p, x, memory, rows, src, tgt, h0, c0, reuse, s);
  };
}

// attentionDecoderBackward(shape, params, grads, workspace, dOutput, dhN, dcN, x, memory,
//                          sourceLengths, targetLengths, dx, dMemory, dh0, dc0)
std::function<void()> PrepareBackward(const Napi::CallbackInfo& info) {
  const DecoderCall c = RequireShape(info[0]);
  const rnnkit::AttentionDecoderShape s = c.shape;
  if (rnnkit::memory_batch(s) != s.B)
    ThrowShape(info.Env(), "shape.S: backward reads one memory row per batch row, so S must equal B=" + std::to_string(s.B));
  const size_t BH = size_t(s.B) * s.H, count = rnnkit::attention_decoder_param_count(s, c.bias);
  const bool lstm = s.cell == rnnkit::Cell::Lstm;
  float* params = RequireFloat32(info[1], "params", count);
  float* grads = RequireFloat32(info[2], "grads", count);
  float* ws = RequireFloat32(info[3], "workspace", rnnkit::attention_decoder_workspace_floats(s));
  const float* dout = RequireFloat32(info[4], "dOutput", size_t(s.M) * s.B * (s.H + s.E), true);
  const float* dhN = RequireFloat32(info[5], "dhN", BH, true);
  const float* dcN = lstm ? RequireFloat32(info[6], "dcN", BH, true) : nullptr;
  const float* x = RequireFloat32(info[7], "x", size_t(s.M) * s.B * s.X);
  const float* memory = RequireFloat32(info[8], "memory", size_t(s.N) * s.B * s.E);
  const int* src = RequireLengths(info[9], "sourceLengths", size_t(s.B), 1, s.N);
  const int* tgt = RequireLengths(info[10], "targetLengths", size_t(s.B), 1, s.M);
  float* dx = RequireFloat32(info[11], "dx", size_t(s.M) * s.B * s.X);
  float* dmemory = RequireFloat32(info[12], "dMemory", size_t(s.N) * s.B * s.E);
  float* dh0 = RequireFloat32(info[13], "dh0", BH);
  float* dc0 = lstm ? RequireFloat32(info[14], "dc0", BH) : nullptr;
  const rnnkit::AttentionDecoderParams<float> p = rnnkit::attention_decoder_params(params, s, c.bias);
  const rnnkit::AttentionDecoderParams<float> g = rnnkit::attention_decoder_params(grads, s, c.bias);
  return [=]() {
    rnnkit::attention_decoder_backward(dx, dmemory, dh0, dc0, g, ws, p, dout, dhN, dcN, x, memory, src, tgt, s);
  };
}

// attentionDecoderSizes(shape) -> { params, workspace } in floats
Napi::Value Sizes(const Napi::CallbackInfo& info) {
  const DecoderCall c = RequireShape(info[0]);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("params", double(rnnkit::attention_decoder_param_count(c.shape, c.bias)));
  o.Set("workspace", double(rnnkit::attention_decoder_workspace_floats(c.shape)));
  return o;
}

}  // namespace

void RegisterAttentionDecoder(Napi::Env env, Napi::Object exports) {
  ExportKernel(env, exports, "attentionDecoderForward", PrepareForward);
  ExportKernel(env, exports, "attentionDecoderBackward", PrepareBackward);
  exports.Set("attentionDecoderSizes", Napi::Function::New(env, Sizes, "attentionDecoderSizes"));
}

}  // namespace rnnkit_addon
