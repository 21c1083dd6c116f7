// Time loops whose batch rows threads hand over to each other mid-loop.
//
// A layer's time loop runs as a few row ranges ("leases"), one per thread, with
// no synchronisation inside the loop. A static split waits for its slowest
// range: when another process takes part of one core, the thread there runs at
// half speed and the other one idles at the end. So a thread that finishes its
// rows takes the upper half of the rows another thread has left, from that
// thread's next step on (after waiting for its current step, at most one step).
//
// Rows are independent through time and every row's arithmetic is its own
// (rows_gemm and the cell passes work per row), so results are bit-identical
// whoever runs which rows and whether rows change hands.
// Header-only so it needs no entry in the build files' source list.
#pragma once
#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "parallel.h"

namespace rnnkit {

class RowLease;
// Native tests only: called by each lease's owner after every step, so a test
// can slow one thread and force handovers inside the real kernels. Null otherwise.
using RowLeaseStepHook = void (*)(const RowLease&, int step);
inline RowLeaseStepHook& row_lease_step_hook() {
  static RowLeaseStepHook hook = nullptr;
  return hook;
}

// Rows [begin, end) of loop `group` (a direction), walked from step first_step
// to the last by one thread; a thief may shrink `end` between two steps.
class RowLease {
 public:
  RowLease(int group, int begin, int end, int first_step)
      : group_(group), begin_(begin), first_step_(first_step), end_(end), started_(first_step), done_(first_step) {}

  int group() const { return group_; }
  int begin() const { return begin_; }
  int first_step() const { return first_step_; }

  // The owner, before step k: the end of the rows it runs in this step.
  int begin_step(int k) {
    std::lock_guard<std::mutex> lock(mutex_);
    started_ = k + 1;
    return end_;
  }
  // The owner, after step k.
  void end_step(int k) {
    if (RowLeaseStepHook hook = row_lease_step_hook()) hook(*this, k);
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = k + 1;
    if (waiting_) done_cv_.notify_all();
  }

  // Rows times steps not yet started (what a thief would share).
  long long work_left(int steps) {
    std::lock_guard<std::mutex> lock(mutex_);
    return (long long)(end_ - begin_) * (steps - started_);
  }

  // The thief: takes the upper half of the rows left when each half keeps at
  // least min_rows rows and min_steps steps are left; returns the taken rows as
  // a lease that starts at the owner's next step, once the owner's current step
  // is done (their states are then final for that step). Null when not worth it.
  std::unique_ptr<RowLease> split(int steps, int min_rows, int min_steps) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int rows = end_ - begin_;
    if (rows < 2 * min_rows || steps - started_ < min_steps) return nullptr;
    const int mid = begin_ + (rows + 1) / 2, end = end_, from = started_;
    end_ = mid;
    waiting_ = true;
    done_cv_.wait(lock, [&] { return done_ >= from; });
    waiting_ = false;
    return std::make_unique<RowLease>(group_, mid, end, from);
  }

 private:
  const int group_, begin_, first_step_;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  int end_, started_, done_;  // guarded by mutex_
  bool waiting_ = false;
};

// Smallest range a handover leaves on either side (rows_gemm's row tile is 4),
// and the fewest steps left that are worth waiting a step for.
constexpr int kMinStolenRows = 4;
constexpr int kMinStolenSteps = 4;

// Runs `groups` independent time loops of T steps over B rows, each split into
// `parts` row ranges, on the pool: loop(lease) runs lease's rows from its first
// step (calling begin_step / end_step around each step). A thread whose rows
// are done takes rows from the lease with the most work left, until none is
// worth taking (never when hand_over is false).
template <typename Loop>
void run_time_loops(int groups, int parts, int B, int T, bool hand_over, Loop&& loop) {
  std::mutex registry;  // guards leases (each lease guards itself)
  std::vector<std::unique_ptr<RowLease>> leases;
  leases.reserve(size_t(groups) * parts);
  for (int g = 0; g < groups; ++g)
    for (int p = 0; p < parts; ++p) {
      const Range r = split_range(B, parts, p);
      leases.push_back(std::make_unique<RowLease>(g, r.begin, r.end, 0));
    }
  if (leases.size() == 1) return loop(*leases[0]);
  parallel_for(int(leases.size()), [&](int task) {
    RowLease* mine;
    {
      std::lock_guard<std::mutex> lock(registry);
      mine = leases[size_t(task)].get();
    }
    for (;;) {
      loop(*mine);
      if (!hand_over) return;
      std::unique_ptr<RowLease> taken;
      {
        std::lock_guard<std::mutex> lock(registry);
        RowLease* victim = nullptr;
        long long most = 0;
        for (auto& lease : leases) {
          const long long left = lease.get() == mine ? 0 : lease->work_left(T);
          if (left > most) { most = left; victim = lease.get(); }
        }
        // Splitting waits for the victim's current step; holding the registry
        // meanwhile only delays other thieves, never the victim's owner.
        if (victim) taken = victim->split(T, kMinStolenRows, kMinStolenSteps);
        if (!taken) return;
        leases.push_back(std::move(taken));
        mine = leases.back().get();
      }
    }
  });
}

}  // namespace rnnkit
