// Checks the building-block bindings need beyond checks.h: booleans, integers
// in a range, BLAS-indexable sizes, any-length Float32Arrays, ids and targets
// in range, row weights. Same error codes and wording as checks.h.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "checks.h"

namespace rnnkit_addon {

inline bool RequireBool(const Napi::Value& v, const char* name) {
  if (!v.IsBoolean()) ThrowType(v.Env(), std::string(name) + ": expected a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

// An integer in [lo, hi] (e.g. paddingIdx, where -1 means none).
inline int RequireIntIn(const Napi::Value& v, const char* name, int lo, int hi) {
  if (!v.IsNumber()) ThrowType(v.Env(), std::string(name) + ": expected an integer, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi && std::floor(d) == d))
    ThrowValue(v.Env(), std::string(name) + ": expected an integer in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "], got " + Describe(v));
  return int(d);
}

// A finite number >= lo (hyper-parameters, scales); lo = -INFINITY admits any finite number.
inline double RequireFinite(const Napi::Value& v, const char* name, double lo = -INFINITY) {
  if (!v.IsNumber()) ThrowType(v.Env(), std::string(name) + ": expected a number, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(std::isfinite(d) && d >= lo)) {
    std::ostringstream want;
    want << "a finite number";
    if (lo != -INFINITY) want << " >= " << lo;
    ThrowValue(v.Env(), std::string(name) + ": expected " + want.str() + ", got " + Describe(v));
  }
  return d;
}

// rows * cols elements must be indexable by one BLAS call (int).
inline void RequireIndexable(Napi::Env env, const char* what, double rows, double cols) {
  if (rows * cols > 2147483647.0)
    ThrowValue(env, std::string(what) + ": " + std::to_string(rows * cols) +
                        " elements exceed the 2^31-1 a single BLAS call can index");
}

// A Float32Array of any length (flat parameter buffers).
inline Napi::Float32Array RequireAnyFloat32(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowType(v.Env(), std::string(name) + ": expected a Float32Array, got " + Describe(v));
  return v.As<Napi::Float32Array>();
}

// Whether v is a Float64Array: the flat-buffer kernels (optimizers, norms) run their double
// instantiation on one, the float one on anything else (whose checks then refuse what is not a Float32Array).
inline bool IsFloat64Array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
}

// A flat buffer of any length whose element type picks the kernel: a Float32Array (Real = float) or a
// Float64Array (Real = double). Its length goes to `n`.
template <typename Real>
Real* RequireAnyFloats(const Napi::Value& v, const char* name, size_t& n) {
  constexpr napi_typedarray_type want = sizeof(Real) == sizeof(float) ? napi_float32_array : napi_float64_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    ThrowType(v.Env(), std::string(name) + ": expected a Float32Array or a Float64Array, got " + Describe(v));
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  n = a.ElementLength();
  return reinterpret_cast<Real*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

// Ids in [0, V), copied so a later change to the caller's array cannot send the kernel out of bounds.
inline std::vector<int> RequireIds(const Napi::Value& v, const char* name, size_t count, int V) {
  const int32_t* ids = RequireInt32(v, name, count);
  for (size_t n = 0; n < count; ++n) {
    if (ids[n] < 0 || ids[n] >= V)
      ThrowValue(v.Env(), std::string(name) + "[" + std::to_string(n) + "]: expected an id in [0, " +
                              std::to_string(V - 1) + "], got " + std::to_string(ids[n]));
  }
  return std::vector<int>(ids, ids + count);
}

// Per-row weights: finite and >= 0 (0 masks a row); nullptr when absent (all 1).
inline const float* RequireRowWeights(const Napi::Value& v, const char* name, size_t rows) {
  const float* w = RequireFloat32(v, name, rows, true);
  for (size_t n = 0; w && n < rows; ++n) {
    if (!(std::isfinite(w[n]) && w[n] >= 0))
      ThrowValue(v.Env(), std::string(name) + "[" + std::to_string(n) + "]: expected a finite weight >= 0, got " +
                              std::to_string(w[n]));
  }
  return w;
}

// Class targets in [0, V) for rows of non-zero weight; masked rows may hold anything (e.g. -1) and
// are copied as 0, so the copy stays in bounds whatever happens to the caller's arrays later.
inline std::vector<int> RequireTargets(const Napi::Value& v, const char* name, size_t rows, int V,
                                       const float* weights) {
  const int32_t* t = RequireInt32(v, name, rows);
  std::vector<int> copy(rows, 0);
  for (size_t n = 0; n < rows; ++n) {
    if (weights && weights[n] == 0) continue;
    if (t[n] < 0 || t[n] >= V)
      ThrowValue(v.Env(), std::string(name) + "[" + std::to_string(n) + "]: expected a class in [0, " +
                              std::to_string(V - 1) + "] (or a row weight of 0), got " + std::to_string(t[n]));
    copy[n] = t[n];
  }
  return copy;
}

}  // namespace rnnkit_addon
