#include "target/stop_worker.hpp"

#include <cstring>
#include <fstream>
#include <string>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pyxray {

StopWorker::StopWorker(int pid, int64_t tid, std::function<void(const std::atomic<bool>&)> work) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);  // the new thread inherits this mask
  thread_ = std::thread([this, pid, tid, work = std::move(work)] {
    try {
      work(stop_requested_);
    } catch (...) {
      // The core's work does not throw; if it did, the target must still be stopped.
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
#ifdef SYS_tgkill
    if (syscall(SYS_tgkill, pid, static_cast<pid_t>(tid), kRunStopSignal) != 0) ::kill(pid, kRunStopSignal);
#else
    ::kill(pid, kRunStopSignal);
#endif
    stop_sent_ = true;
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void StopWorker::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  stop_requested_ = true;
  if (thread_.joinable()) thread_.join();
}

bool stop_signal_pending(int pid, int64_t tid) {
  auto mask_has = [](const std::string& path, const char* key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(key, 0) != 0) continue;
      unsigned long long mask = std::stoull(line.substr(std::strlen(key)), nullptr, 16);
      return ((mask >> (kRunStopSignal - 1)) & 1) != 0;
    }
    return false;
  };
  std::string task = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status";
  return mask_has(task, "SigPnd:") || mask_has(task, "ShdPnd:");
}

RunOutcome run_outcome(const RunFacts& f) {
  RunOutcome out;
  if (!f.alive) {
    out.end = RunEnd::Exited;
    out.detail = f.exit_detail;
  } else if (f.interrupted || f.signal == "SIGINT") {
    out.end = RunEnd::Interrupted;
  } else if (f.stop_sent && f.signal == "SIGSTOP") {
    out.end = RunEnd::WorkDone;
  } else if (!f.breakpoints.empty()) {
    out.end = RunEnd::Stopped;
    out.detail = "breakpoint " + f.breakpoints;
  } else {
    out.end = RunEnd::Stopped;
    out.detail = f.signal.empty() ? "stopped" : "signal " + f.signal;
  }
  return out;
}

bool stop_left_pending(const RunFacts& f, int pid, int64_t tid) {
  return f.alive && f.stop_sent && f.signal != "SIGSTOP" && stop_signal_pending(pid, tid);
}

}  // namespace pyxray
