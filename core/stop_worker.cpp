#include "stop_worker.hpp"

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

}  // namespace pyxray
