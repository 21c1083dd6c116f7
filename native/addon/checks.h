// Argument checks for the binding: each failure throws a JS TypeError or
// RangeError carrying an ERR_RNNKIT_* code and a message that names the
// argument, what was expected and what came. Nothing here computes.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace rnnkit_addon {

[[noreturn]] inline void ThrowTyped(Napi::Env env, bool range, const char* code, const std::string& message) {
  Napi::Error error = range ? Napi::Error(Napi::RangeError::New(env, message))
                            : Napi::Error(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

[[noreturn]] inline void ThrowType(Napi::Env env, const std::string& message) {
  ThrowTyped(env, false, "ERR_RNNKIT_TYPE", message);
}
[[noreturn]] inline void ThrowShape(Napi::Env env, const std::string& message) {
  ThrowTyped(env, true, "ERR_RNNKIT_SHAPE", message);
}
[[noreturn]] inline void ThrowValue(Napi::Env env, const std::string& message) {
  ThrowTyped(env, true, "ERR_RNNKIT_VALUE", message);
}

inline std::string Describe(const Napi::Value& v) {
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint8_array: return "Uint8Array";
      default: return "another TypedArray";
    }
  }
  if (v.IsArray()) return "Array";
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNumber()) return "number " + std::to_string(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "string";
  return "object";
}

inline bool IsAbsent(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

// A positive integer that fits in int (sizes, counts).
inline int RequirePositiveInt(const Napi::Value& v, const char* name, int max = 1 << 30) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber()) ThrowType(v.Env(), std::string(name) + ": expected a positive integer, got " + Describe(v));
  if (!(d >= 1 && d <= max && std::floor(d) == d))
    ThrowValue(v.Env(), std::string(name) + ": expected a positive integer up to " + std::to_string(max) +
                            ", got " + Describe(v));
  return int(d);
}

// A Float32Array of exactly `expected` elements; nullptr when absent and optional.
inline float* RequireFloat32(const Napi::Value& v, const char* name, size_t expected, bool optional = false) {
  if (optional && IsAbsent(v)) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowType(v.Env(), std::string(name) + ": expected a Float32Array, got " + Describe(v));
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != expected)
    ThrowShape(v.Env(), std::string(name) + ": expected " + std::to_string(expected) + " elements, got " +
                            std::to_string(a.ElementLength()));
  return a.Data();
}

// A Float64Array of exactly `expected` elements (e.g. scalar results); nullptr when absent and optional.
inline double* RequireFloat64(const Napi::Value& v, const char* name, size_t expected, bool optional = false) {
  if (optional && IsAbsent(v)) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    ThrowType(v.Env(), std::string(name) + ": expected a Float64Array, got " + Describe(v));
  Napi::Float64Array a = v.As<Napi::Float64Array>();
  if (a.ElementLength() != expected)
    ThrowShape(v.Env(), std::string(name) + ": expected " + std::to_string(expected) + " elements, got " +
                            std::to_string(a.ElementLength()));
  return a.Data();
}

// RequireFloat32 or RequireFloat64 by the element type a kernel instantiation reads.
template <typename Real>
Real* RequireFloats(const Napi::Value& v, const char* name, size_t expected, bool optional = false);
template <>
inline float* RequireFloats<float>(const Napi::Value& v, const char* name, size_t expected, bool optional) {
  return RequireFloat32(v, name, expected, optional);
}
template <>
inline double* RequireFloats<double>(const Napi::Value& v, const char* name, size_t expected, bool optional) {
  return RequireFloat64(v, name, expected, optional);
}

// An Int32Array of exactly `expected` elements (ids, targets); values are checked by the caller.
inline int32_t* RequireInt32(const Napi::Value& v, const char* name, size_t expected, bool optional = false) {
  if (optional && IsAbsent(v)) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowType(v.Env(), std::string(name) + ": expected an Int32Array, got " + Describe(v));
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (a.ElementLength() != expected)
    ThrowShape(v.Env(), std::string(name) + ": expected " + std::to_string(expected) + " elements, got " +
                            std::to_string(a.ElementLength()));
  return a.Data();
}

// A finite number (hyper-parameters); `lo`/`hi` bound it inclusively.
inline double RequireNumber(const Napi::Value& v, const char* name, double lo, double hi) {
  if (!v.IsNumber()) ThrowType(v.Env(), std::string(name) + ": expected a number, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi))
    ThrowValue(v.Env(), std::string(name) + ": expected a number in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "], got " + Describe(v));
  return d;
}

// An Int32Array of `count` values in [lo, hi]; nullptr when absent.
inline const int32_t* RequireLengths(const Napi::Value& v, const char* name, size_t count, int lo, int hi) {
  if (IsAbsent(v)) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowType(v.Env(), std::string(name) + ": expected an Int32Array, got " + Describe(v));
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (a.ElementLength() != count)
    ThrowShape(v.Env(), std::string(name) + ": expected " + std::to_string(count) + " elements, got " +
                            std::to_string(a.ElementLength()));
  for (size_t i = 0; i < count; ++i) {
    if (a[i] < lo || a[i] > hi)
      ThrowValue(v.Env(), std::string(name) + "[" + std::to_string(i) + "]: expected a length in [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(a[i]));
  }
  return a.Data();
}

}  // namespace rnnkit_addon
