// The workload process (tests/workloads/stacks.py) with the ground truth it reports about itself,
// and running gdb with the pyxray plugin against a process.
#pragma once

#include "harness.hpp"
#include "interpreters.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pyxray::it {

struct Frame {
  std::string function;                 // co_name
  std::optional<std::string> qualname;  // co_qualname (3.11+)
  std::string file;                     // co_filename
  int64_t line = 0;                     // f_lineno
};

struct ThreadTruth {
  uint64_t thread_id = 0;               // threading ident (pthread_t)
  std::optional<int64_t> native_id;     // kernel tid, 3.8+ only
  std::string name;                     // threading name
  bool spinner = false;                 // the busy-looping thread (frames move; holds the GIL)
  std::vector<Frame> frames;            // innermost first
};

struct GroundTruth {
  int pid = 0;
  std::string python;                   // platform.python_version()
  int major = 0, minor = 0, micro = 0;
  std::vector<ThreadTruth> threads;     // every thread left in the process

  bool has_qualname() const { return major > 3 || (major == 3 && minor >= 11); }
  bool has_native_id() const { return major > 3 || (major == 3 && minor >= 8); }
  const ThreadTruth* by_name(const std::string& name) const;
};

GroundTruth parse_ground_truth(const nlohmann::json& j);  // throws nlohmann::json::exception

// A running stacks.py. start() returns once the ground truth is written and the reporter thread has
// exited, i.e. once the process holds exactly the reported threads. The destructor kills the
// process group (then the temporary directory goes).
class Workload {
 public:
  // Throws std::runtime_error with the workload's stderr when it fails to get ready in time.
  static std::unique_ptr<Workload> start(const Interpreter& interp);

  pid_t pid() const { return proc_->pid(); }
  const GroundTruth& truth() const { return truth_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  bool alive() { return proc_->running(); }

 private:
  Workload() = default;
  TempDir dir_;                    // declared first: destroyed after the process is gone
  std::unique_ptr<Process> proc_;
  GroundTruth truth_;
};

// The gdb script that loads pyxray: $PYXRAY_GDB_PLUGIN, else PYXRAY_BUILD_DIR/pyxray-gdb.py.
std::filesystem::path gdb_plugin_path();

// gdb -nx -batch -p PID -x PLUGIN -ex CMD... with a hard timeout.
CommandResult run_gdb(pid_t pid, const std::vector<std::string>& commands,
                      const std::filesystem::path& work_dir, Clock::duration timeout = 60s);

// The JSON document printed by `py-bt-all --json`: the first stdout line starting with {"pid".
// nullopt (with *error set) when there is none or it does not parse.
std::optional<nlohmann::json> find_json_line(const std::string& out, std::string* error);

}  // namespace pyxray::it
