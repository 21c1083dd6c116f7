// Seeded inverted dropout masks: each element keeps 1/(1-p) with probability 1-p, else 0.
// splitmix64 gives reproducible streams from (seed, stream) without global state.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rnnkit {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename Real>
void make_dropout_mask(Real* mask, size_t n, double p, uint64_t seed, uint64_t stream) {
  uint64_t state = seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
  const Real keep = Real(1.0 / (1.0 - p));
  for (size_t i = 0; i < n; ++i) {
    const double u = double(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
    mask[i] = u < p ? Real(0) : keep;
  }
}

// y = x * mask with the mask make_dropout_mask(seed, stream) would write, without storing it: the
// same call on the gradient (dx = dy * mask) is the backward. y may be x.
template <typename Real>
void apply_dropout(Real* y, const Real* x, size_t n, double p, uint64_t seed, uint64_t stream) {
  uint64_t state = seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
  const Real keep = Real(1.0 / (1.0 - p));
  for (size_t i = 0; i < n; ++i) {
    const double u = double(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
    y[i] = u < p ? Real(0) : x[i] * keep;
  }
}

}  // namespace rnnkit
