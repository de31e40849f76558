// The operating-system half of Target::run_while, shared by the front ends: while the debugger's own
// thread resumes the target and waits for it to stop, a worker thread runs the core's `work`; when
// the work is done first, the worker stops the target with a SIGSTOP, which the debugger sees as an
// ordinary signal stop. Linux (and any POSIX system with tgkill-like signalling) only.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "target/target.hpp"

namespace pyxray {

inline constexpr int kRunStopSignal = SIGSTOP;

class StopWorker {
 public:
  // Starts `work` at once on a thread that blocks every signal (the debugger's handlers must keep
  // running on the debugger's thread). When it returns, SIGSTOP goes to thread `tid` of `pid` -- the
  // thread the debugger resumes -- unless finish() was called first.
  StopWorker(int pid, int64_t tid, std::function<void(const std::atomic<bool>&)> work);
  ~StopWorker() { finish(); }
  StopWorker(const StopWorker&) = delete;
  StopWorker& operator=(const StopWorker&) = delete;

  // The debugger's resume returned (the target stopped or exited): from now on nothing is sent; asks
  // the work to end and waits for it.
  void finish();
  // Whether the worker sent its SIGSTOP (valid after finish()).
  bool stop_sent() const { return stop_sent_; }
  // Set by finish(), or by the user's interrupt through InterruptForward (interrupt.hpp).
  std::atomic<bool>& stop_requested() { return stop_requested_; }

 private:
  std::atomic<bool> stop_requested_{false};
  std::mutex mutex_;
  bool finished_ = false;   // under mutex_
  bool stop_sent_ = false;  // under mutex_
  std::thread thread_;
};

// True when a SIGSTOP is queued, not yet delivered, for thread `tid` of `pid` or the whole process:
// the worker's signal lost the race against another stop and would stop the program at the next
// resume, so the front end consumes it.
bool stop_signal_pending(int pid, int64_t tid);

// What a front end saw when its resume returned, in the debugger's terms; run_outcome() makes the
// RunOutcome from it the same way for every debugger.
struct RunFacts {
  bool alive = false;        // the process is still there, stopped under the debugger
  std::string exit_detail;   // when not alive: "exit code 3", or ""
  bool interrupted = false;  // the user interrupted the command (core/base/interrupt.hpp)
  bool stop_sent = false;    // the worker sent its SIGSTOP (StopWorker::stop_sent)
  std::string signal;        // the signal the process stopped with ("SIGSTOP", "SIGSEGV"), or ""
  std::string breakpoints;   // "1, 3" when it stopped at breakpoints
};
RunOutcome run_outcome(const RunFacts& facts);

// Whether the worker's SIGSTOP lost the race against another stop and is still queued for thread
// `tid`: the front end then resumes once more to consume it (it stops the process again at once),
// rather than let it surface at the user's next continue.
bool stop_left_pending(const RunFacts& facts, int pid, int64_t tid);

}  // namespace pyxray
