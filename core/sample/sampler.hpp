// py-sample's sampling loop: at Poisson-distributed times (exponential gaps, so that no periodic
// behaviour of the program can alias with the sampling), read every selected thread's Python stack
// and add it to a StackAggregate.
//
// Non-blocking (the default), the loop runs on the thread Target::run_while gives it while the
// target runs, and reads the target only with process_vm_readv: nothing is written to the target and
// it is never paused. Blocking, the target is stopped through Target::run_while for every sample and
// read on the caller's thread, exact, optionally with native frames from the debugger.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"
#include "base/limits.hpp"
#include "sample/live_stacks.hpp"
#include "sample/stack_aggregate.hpp"
#include "target/target.hpp"

namespace pyxray {

class PythonProcess;
class SampleCodes;
class TickReader;

enum class ThreadFilter {
  All,   // every Python thread (idle ones only with `idle`)
  Gil,   // only the thread holding the GIL
  Busy,  // only threads holding the GIL or running on a CPU
};

struct SampleOptions {
  double duration = 1.0;  // seconds
  double rate = 100.0;    // mean samples per second
  ThreadFilter threads = ThreadFilter::All;
  bool idle = false;      // keep samples of idle threads
  bool blocking = false;  // stop the target for every sample
  bool native = false;    // blocking only: native frames from the debugger
  // asyncio: a thread running a task is sampled as the task's coroutine chain, its root the task
  // ("task NAME") instead of the event loop's frames.
  bool async_tasks = false;
  int max_frames = static_cast<int>(limits().frames);
  std::size_t max_native_frames = static_cast<std::size_t>(limits().native_frames);  // with `native`
  // Called about four times a second from the sampling thread: seconds sampled, samples recorded.
  std::function<void(double elapsed, uint64_t recorded)> progress;
};

struct SampleStats {
  uint64_t ticks = 0;      // sampling rounds
  uint64_t taken = 0;      // thread samples: recorded + errors + idle + empty
  uint64_t recorded = 0;   // in the profile
  uint64_t errors = 0;     // inconsistent twice in a row: dropped
  uint64_t idle = 0;       // idle threads' samples, dropped without `idle`
  uint64_t empty = 0;      // threads without a Python frame at that moment
  uint64_t retried = 0;    // inconsistent at first, consistent when read again at once
  uint64_t no_holder = 0;  // --mode gil: rounds where no thread held the GIL
  std::array<uint64_t, static_cast<std::size_t>(WalkError::kCount)> error_kinds{};
  double elapsed = 0;                         // seconds sampled
  uint64_t syscalls = 0;                      // process_vm_readv calls
  uint64_t ranges = 0;                        // iovecs they read
  std::size_t codes = 0;                      // code objects decoded
  bool target_gone = false;                   // the process went away under the sampler
  std::optional<std::string> native_warning;  // --native: why some stacks have Python frames only
  std::optional<std::string> note;            // how sampling had to differ from what was asked
};

class Sampler {
 public:
  Sampler(PythonProcess& proc, SampleOptions options);
  ~Sampler();

  // Before the target runs (it is stopped; the debugger may be used): symbols, threads and names.
  Expected<void> prepare();
  // Non-blocking: samples until the duration has passed or `stop` is set. Any thread; never calls
  // the debugger.
  void run(const std::atomic<bool>& stop);
  // Blocking: alternates Target::run_while (the target runs until the next sample time) and one
  // sample of the stopped target. Returns how the last run ended.
  Expected<RunOutcome> run_blocking(Target& target);
  // After sampling, the target stopped again: names of threads that appeared meanwhile.
  void finish(bool target_alive);

  const StackAggregate& aggregate() const { return agg_; }
  const FrameTable& frames() const { return frames_; }
  const SampleStats& stats() const { return stats_; }
  const SampleOptions& options() const { return options_; }

 private:
  class OsThreads;
  void tick(Target* native);
  bool sample_thread(const LiveThread& t, Target* native);
  uint32_t thread_slot(const LiveThread& t);
  std::optional<uint32_t> known_slot(const LiveThread& t) const;
  int64_t kernel_tid(const LiveThread& t) const;
  void record(uint32_t slot, Target* native, const LiveThread& t);
  void name_threads();
  void learn_tasks();
  std::span<const uint32_t> task_stack(std::span<const uint32_t> frames);
  void sleep_until(double deadline, const std::atomic<bool>& stop);
  double now() const;

  PythonProcess& proc_;
  SampleOptions options_;
  SampleSymbols symbols_;
  FrameTable frames_;
  StackAggregate agg_;
  SampleStats stats_;
  std::unique_ptr<TickReader> reader_;
  std::unique_ptr<SampleCodes> codes_;
  std::unique_ptr<LiveStacks> stacks_;
  std::unique_ptr<OsThreads> os_;
  std::vector<LiveThread> threads_;
  std::vector<LiveThread> retry_threads_;
  WalkedStack walked_;
  std::vector<uint32_t> merged_;                        // --native: the mixed stack's frame ids
  std::unordered_map<uint64_t, uint32_t> slots_;        // thread id -> aggregate thread
  std::unordered_map<uint64_t, int64_t> pthread_tids_;  // thread id -> kernel tid, from the debugger (< 3.8)
  std::unordered_map<uint64_t, std::string> names_;     // thread id -> name
  // --async: a task's coroutine frame -> the frame id of its root ("task NAME"), and the roots made
  // for coroutines not known as tasks yet, named when the target is stopped again.
  std::unordered_map<uint64_t, std::string> task_names_;
  std::unordered_map<uint64_t, uint32_t> task_roots_;
  std::vector<uint32_t> task_frames_;
  double start_ = 0;
  double tick_time_ = 0;
};

}  // namespace pyxray
