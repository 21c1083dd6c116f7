// rnnkit's own thread pool: the one place kernels get parallelism from.
// OpenBLAS is kept at 1 thread (set explicitly, see blas.h) and the kernels
// split work themselves: big GEMMs by rows or columns, recurrent time loops
// by batch rows or by direction, so the per-step work needs no per-step sync.
// Workers sleep on a condition variable between jobs; nothing spins.
// Header-only so it needs no entry in the build files' source list.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace rnnkit {

// Threads a native call may use (the caller's thread included).
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> threads{std::max(1, std::min(64, int(std::thread::hardware_concurrency())))};
  return threads;
}
inline int num_threads() { return thread_setting().load(std::memory_order_relaxed); }

namespace detail {

inline bool& in_parallel_task() {
  thread_local bool inside = false;
  return inside;
}

class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool* pool = new ThreadPool();  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  // Runs task(i) for every i in [0, n), on up to `threads` threads including
  // the caller's, and returns when all are done. When the pool is already
  // serving another call (another libuv worker), runs them all on the caller's
  // thread: same tasks, same results, no waiting on each other.
  void run(int n, int threads, const std::function<void(int)>& task) {
    if (n <= 0) return;
    std::unique_lock<std::mutex> submit(submit_, std::defer_lock);
    if (n == 1 || threads <= 1 || in_parallel_task() || !submit.try_lock()) {
      run_inline(n, task);
      return;
    }
    const int helpers = std::min(n, threads) - 1;
    while (int(workers_.size()) < helpers) start_worker();
    keep_workers_off_caller_cpu(helpers);
    Job job(&task, n, helpers);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    work(job);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return job.unfinished == 0 && job.active == 0; });
    job_ = nullptr;
  }

 private:
  struct Job {
    Job(const std::function<void(int)>* t, int n, int helpers) : task(t), count(n), unfinished(n), wanted(helpers) {}
    const std::function<void(int)>* task;
    const int count;
    std::atomic<int> next{0};
    int unfinished, wanted, active = 0;  // guarded by mutex_
  };

  ThreadPool() = default;

  void start_worker() {
    std::unique_lock<std::mutex> lock(mutex_);
    const size_t index = workers_.size();
    workers_info_.push_back(WorkerInfo{});
    workers_.emplace_back([this, index] {
      {
        std::lock_guard<std::mutex> started(mutex_);
        WorkerInfo& me = workers_info_[index];
#if defined(__linux__)
        CPU_ZERO(&me.allowed);
        CPU_ZERO(&me.applied);
        if (sched_getaffinity(0, sizeof me.allowed, &me.allowed) != 0) CPU_ZERO(&me.allowed);
#endif
        me.thread_id = current_thread_id();
        request_short_slice();
      }
      started_.notify_all();
      loop();
    });
    started_.wait(lock, [&] { return workers_info_[index].thread_id != 0; });
  }

  // Linux places a woken thread next to its waker when both were mostly idle
  // (a server's occasional call, or a benchmark with pauses): then the caller
  // and the worker share one core for several ms while the other core idles
  // (measured: GRU config a forward 21 ms instead of 14 with 150 ms pauses).
  // Each job therefore lets the workers run where the caller may run (or, when
  // the caller is held to one CPU, where they started) except on the caller's
  // current CPU. Not a pin: they still float over the rest, and the caller may
  // move. RNNKIT_KEEP_AFFINITY=1 leaves the masks alone.
  void keep_workers_off_caller_cpu(int helpers) {
#if defined(__linux__)
    static const bool keep = [] {
      const char* v = std::getenv("RNNKIT_KEEP_AFFINITY");
      return v && *v && std::string(v) != "0";
    }();
    if (keep) return;
    const int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE) return;
    cpu_set_t caller;
    CPU_ZERO(&caller);
    const bool caller_spread = sched_getaffinity(0, sizeof caller, &caller) == 0 && CPU_COUNT(&caller) >= 2;
    for (int w = 0; w < helpers; ++w) {
      WorkerInfo& info = workers_info_[w];
      cpu_set_t mask = caller_spread ? caller : info.allowed;
      if (CPU_ISSET(cpu, &mask)) CPU_CLR(cpu, &mask);
      if (CPU_COUNT(&mask) == 0 || CPU_EQUAL(&mask, &info.applied)) continue;  // nowhere else, or already so
      if (sched_setaffinity(pid_t(info.thread_id), sizeof mask, &mask) == 0) info.applied = mask;
    }
#else
    (void)helpers;
#endif
  }

  // While both cores run native work, the JS thread waits for one when its
  // timers fire. Workers ask the scheduler (EEVDF, Linux >= 6.12; ignored
  // before) for a 300 us slice instead of the default ~1.4 ms, so a woken JS
  // thread gets their core sooner. Measured: event-loop delay p99 during async
  // training 4.2-4.9 -> 3.5-4.3 ms at 2 threads, throughput unchanged.
  static void request_short_slice() {
#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
    struct Attr {  // struct sched_attr (its size since Linux 5.3); glibc has no wrapper
      uint32_t size, policy;
      uint64_t flags;
      int32_t nice;
      uint32_t priority;
      uint64_t runtime, deadline, period;
      uint32_t util_min, util_max;
    } attr{};
    if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0 || attr.policy != SCHED_OTHER) return;
    attr.size = sizeof attr;
    attr.flags = 0;
    attr.runtime = 300000;  // ns
    syscall(SYS_sched_setattr, 0, &attr, 0);
#endif
  }

  static long current_thread_id() {
#if defined(__linux__)
    return long(syscall(SYS_gettid));
#else
    return 1;
#endif
  }

  static void run_inline(int n, const std::function<void(int)>& task) {
    const bool outer = in_parallel_task();
    in_parallel_task() = true;
    for (int i = 0; i < n; ++i) task(i);
    in_parallel_task() = outer;
  }

  // Claims tasks of `job` until none are left.
  void work(Job& job) {
    in_parallel_task() = true;
    int finished = 0;
    for (int i; (i = job.next.fetch_add(1, std::memory_order_relaxed)) < job.count;) {
      (*job.task)(i);
      ++finished;
    }
    in_parallel_task() = false;
    std::lock_guard<std::mutex> lock(mutex_);
    job.unfinished -= finished;
  }

  void loop() {
    unsigned long seen = 0;
    for (;;) {
      Job* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return job_ != nullptr && generation_ != seen && job_->wanted > 0; });
        seen = generation_;
        job = job_;
        --job->wanted;
        ++job->active;
      }
      work(*job);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--job->active == 0 && job->unfinished == 0) done_.notify_all();
    }
  }

  std::mutex submit_;  // one call uses the workers at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_, started_;
  std::vector<std::thread> workers_;  // only touched while submit_ is held
  struct WorkerInfo {
    long thread_id = 0;  // kernel thread id
#if defined(__linux__)
    cpu_set_t allowed;   // its CPU mask when it started
    cpu_set_t applied;   // the mask keep_workers_off_caller_cpu last gave it (empty: none)
#endif
  };
  std::vector<WorkerInfo> workers_info_;  // parallel to workers_
  Job* job_ = nullptr;
  unsigned long generation_ = 0;
};

}  // namespace detail

// Runs task(i) for i in [0, n) on the pool (at most num_threads() threads);
// tasks must touch disjoint outputs. Nested calls run inline.
inline void parallel_for(int n, const std::function<void(int)>& task) {
  detail::ThreadPool::instance().run(n, num_threads(), task);
}

// The p-th of `parts` near-equal pieces of [0, n), boundaries rounded to `align`.
struct Range { int begin, end; };
inline Range split_range(int n, int parts, int p, int align = 1) {
  auto at = [&](int k) {
    if (k >= parts) return n;
    const long long raw = (long long)n * k / parts;
    return std::min(n, int((raw + align / 2) / align * align));
  };
  return Range{at(p), at(p + 1)};
}

}  // namespace rnnkit
