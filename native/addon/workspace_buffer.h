// A kernel workspace that grows without touching its memory on the JS thread.
// std::vector::resize zero-fills (and page-faults) the whole block where it is
// called: for an async call that is the event loop, ~0.5 s for a 400 MB LSTM
// workspace. Here growth only reserves the memory; the kernel's own thread
// zeroes it (fill_if_new) before the kernel runs, so the kernel sees the same
// zeroed memory as before.
#pragma once
#include <algorithm>
#include <cstddef>
#include <memory>

namespace rnnkit_addon {

class WorkspaceBuffer {
 public:
  // Room for `floats`: returns how many floats the kernel thread must zero
  // before use (all of them when the memory is new, else 0). Throws
  // std::bad_alloc, leaving the buffer empty, when the memory cannot be had.
  size_t reserve(size_t floats) {
    if (floats <= capacity_) return 0;
    release();
    data_.reset(new float[floats]);
    capacity_ = floats;
    return floats;
  }
  void release() {
    data_.reset();
    capacity_ = 0;
  }
  float* data() const { return data_.get(); }
  size_t capacity() const { return capacity_; }

 private:
  std::unique_ptr<float[]> data_;
  size_t capacity_ = 0;
};

// Zeroes what reserve() said is new; run on the thread that runs the kernel.
inline void fill_if_new(float* data, size_t fresh_floats) {
  if (fresh_floats > 0) std::fill(data, data + fresh_floats, 0.0f);
}

}  // namespace rnnkit_addon
