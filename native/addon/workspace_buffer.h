// A kernel workspace that grows without touching its memory on the JS thread.
// std::vector::resize zero-fills (and page-faults) the whole block where it is
// called: for an async call that is the event loop, ~0.5 s for a 400 MB LSTM
// workspace. Here growth only reserves the memory; the kernel's own thread
// zeroes it (fill_if_new) before the kernel runs, so the kernel sees the same
// zeroed memory as before. Raw bytes, aligned for any scalar: a float32 or a
// float64 stack reads it as its own Real.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

namespace rnnkit_addon {

class WorkspaceBuffer {
 public:
  // Room for `count` elements of T: returns how many bytes the kernel thread
  // must zero before use (all of them when the memory is new, else 0). Throws
  // std::bad_alloc, leaving the buffer empty, when the memory cannot be had.
  template <typename T>
  size_t reserve(size_t count) {
    const size_t bytes = count * sizeof(T);
    if (bytes <= capacity_) return 0;
    release();
    // operator new[] returns memory aligned for every fundamental type (float, double).
    data_.reset(new unsigned char[bytes]);
    capacity_ = bytes;
    return bytes;
  }
  void release() {
    data_.reset();
    capacity_ = 0;
  }
  template <typename T>
  T* data() const { return reinterpret_cast<T*>(data_.get()); }
  // Bytes held.
  size_t capacity() const { return capacity_; }

 private:
  std::unique_ptr<unsigned char[]> data_;
  size_t capacity_ = 0;
};

// Zeroes what reserve() said is new (all-zero bits are 0.0 in float and double);
// run on the thread that runs the kernel.
inline void fill_if_new(void* data, size_t fresh_bytes) {
  if (fresh_bytes > 0) std::memset(data, 0, fresh_bytes);
}

}  // namespace rnnkit_addon
