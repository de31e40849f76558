// A workload script (tests/workloads/SCRIPT) that writes its ground truth as JSON with a "threads"
// list and a reporter thread that exits right after: frames.py, gil.py. stacks.py has its own
// richer wrapper (workload.hpp).
#pragma once

#include "harness.hpp"

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pyxray::it {

class ScriptWorkload {
 public:
  // Runs `EXECUTABLE -E -s tests/workloads/SCRIPT ARGS... OUT_PATH LIFETIME` with `env`, and
  // returns once OUT_PATH exists (written by rename), names this process, and the process holds
  // exactly truth()["threads"].size() threads (the reporter has exited). Throws
  // std::runtime_error, with the workload's stderr, when it fails to get there in time.
  static std::unique_ptr<ScriptWorkload> start(const std::filesystem::path& executable, const EnvOverrides& env,
                                               const std::string& script, const std::vector<std::string>& args = {});

  pid_t pid() const { return proc_->pid(); }
  const nlohmann::json& truth() const { return truth_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  bool alive() { return proc_->running(); }

 private:
  ScriptWorkload() = default;
  TempDir dir_;  // declared first: destroyed after the process is gone
  std::unique_ptr<Process> proc_;
  nlohmann::json truth_;
};

// Threads of `pid` left in a tracing or job-control stop ('t'/'T'), as "tid: state" lines.
std::vector<std::string> stopped_threads(pid_t pid);

}  // namespace pyxray::it
