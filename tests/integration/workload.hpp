// The workload process (tests/workloads/stacks.py) with the ground truth it reports about itself,
// and running gdb with the pyxray plugin against a process.
#pragma once

#include "harness.hpp"
#include "interpreters.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
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
  uint64_t thread_id = 0;            // threading ident (pthread_t)
  std::optional<int64_t> native_id;  // kernel tid, 3.8+ only
  std::string name;                  // threading name
  bool spinner = false;              // the busy-looping thread (frames move; holds the GIL)
  std::vector<Frame> frames;         // innermost first
};

struct GroundTruth {
  int pid = 0;
  std::string python;  // platform.python_version()
  int major = 0, minor = 0, micro = 0;
  std::vector<ThreadTruth> threads;  // every thread left in the process

  bool has_qualname() const { return major > 3 || (major == 3 && minor >= 11); }
  bool has_native_id() const { return major > 3 || (major == 3 && minor >= 8); }
  const ThreadTruth* by_name(const std::string& name) const;
};

GroundTruth parse_ground_truth(const nlohmann::json& j);  // throws nlohmann::json::exception

// How to start the workload when not simply as `interp.path`: another executable (a stripped copy
// of the interpreter) and extra environment variables (LD_LIBRARY_PATH, MALLOC_ARENA_MAX).
struct Launch {
  std::filesystem::path executable;  // empty: interp.path
  EnvOverrides env;
};

// A running stacks.py. start() returns once the ground truth is written and the reporter thread has
// exited, i.e. once the process holds exactly the reported threads. The destructor kills the
// process group (then the temporary directory goes).
class Workload {
 public:
  // Throws std::runtime_error with the workload's stderr when it fails to get ready in time.
  static std::unique_ptr<Workload> start(const Interpreter& interp, const Launch& launch = {});

  pid_t pid() const { return proc_->pid(); }
  const GroundTruth& truth() const { return truth_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  bool alive() { return proc_->running(); }
  // Kills the process group now (e.g. once a core file of it has been written).
  void kill() { proc_->kill_group(); }

 private:
  Workload() = default;
  TempDir dir_;  // declared first: destroyed after the process is gone
  std::unique_ptr<Process> proc_;
  GroundTruth truth_;
};

// A Python condition on a gdb.InferiorThread `t`, true for the thread with this pthread_t and kernel
// id: the kernel id where the workload reports one (3.8+), else the pthread_t (t.handle() needs
// libthread_db, which gdb cannot load for the libc of a process in a container).
std::string gdb_thread_is(uint64_t pthread_id, std::optional<int64_t> native_id);
// What gdb prints of that thread when it switches to it: "LWP N)" or, with no kernel id known,
// "Thread 0x... ".
std::string gdb_thread_label(uint64_t pthread_id, std::optional<int64_t> native_id);

// The gdb script that loads pyxray: $PYXRAY_GDB_PLUGIN, else PYXRAY_BUILD_DIR/pyxray-gdb.py.
std::filesystem::path gdb_plugin_path();
// The gdb that run_gdb, run_gdb_core and write_core start: $PYXRAY_GDB (a sanitizer build's
// gdb-asan, which preloads the ASan runtime), else gdb from PATH.
std::string gdb_program();

// The arguments of gdb -nx -batch [-iex INIT]... -p PID -x PLUGIN -ex CMD..., for a test that runs
// gdb itself (to signal it, or to watch its output while it runs).
std::vector<std::string> gdb_attach_argv(pid_t pid, const std::vector<std::string>& commands,
                                         const std::vector<std::string>& init_commands = {});

// gdb -nx -batch [-iex INIT]... -p PID -x PLUGIN -ex CMD... with a hard timeout. INIT commands run
// before gdb attaches (e.g. "set debug-file-directory /nonexistent").
CommandResult run_gdb(pid_t pid, const std::vector<std::string>& commands, const std::filesystem::path& work_dir,
                      Clock::duration timeout = 60s, const std::vector<std::string>& init_commands = {});

// gdb -nx -batch [-iex INIT]... EXECUTABLE CORE -x PLUGIN -ex CMD... with a hard timeout.
CommandResult run_gdb_core(const std::filesystem::path& executable, const std::filesystem::path& core,
                           const std::vector<std::string>& commands, const std::filesystem::path& work_dir,
                           Clock::duration timeout = 60s, const std::vector<std::string>& init_commands = {});

// gdb -nx -batch -p PID -ex 'gcore CORE' (no plugin). Throws std::runtime_error, with gdb's output,
// unless gdb says it saved the core and the file exists.
void write_core(pid_t pid, const std::filesystem::path& core, const std::filesystem::path& work_dir);

// A core of a process in a container, written by the kernel as a crash would write it: gdb's gcore
// cannot copy the thread stacks of a glibc 2.42+ process (their guard pages lie inside the stack
// mappings, and gcore gives up on a whole 1 MiB chunk when one page fails: "Memory read failed for
// corefile section"), and 3.14+ keeps the entry frame of every thread's evaluation loop there. The
// process gets RLIMIT_CORE and SIGABRT, and the kernel writes "core" (or "core.PID") into its
// working directory, the container's root: moved to `core` from there.
// Throws std::runtime_error when no core appears. The workload is gone afterwards.
void write_kernel_core(Workload& w, const std::filesystem::path& root, const std::filesystem::path& core);
// The same for any process: `alive` says whether it still runs.
void write_kernel_core(pid_t pid, const std::function<bool()>& alive, const std::filesystem::path& root,
                       const std::filesystem::path& core);

// The JSON document printed by `py-bt-all --json`: the first stdout line starting with `prefix`
// ({"pid" for py-bt-all; {"disagreements" for py-layout, whose keys are sorted).
// nullopt (with *error set) when there is none or it does not parse.
std::optional<nlohmann::json> find_json_line(const std::string& out, std::string* error,
                                             const std::string& prefix = "{\"pid\"");

// Why a gdb run did not end cleanly: it timed out, died by a signal or crashed ("Fatal signal"),
// printed a Python traceback, pyxray reported an internal error (a caught exception), a sanitizer
// reported an error, or, with `require_success`, exited non-zero. Empty when it ended cleanly.
std::vector<std::string> gdb_run_problems(const CommandResult& r, bool require_success);

// Lines of `text` (stdout and stderr together) that start with "pyxray:" once leading blanks are
// removed (per-thread warnings are indented).
std::vector<std::string> pyxray_lines(const CommandResult& r);

// Several gdb commands in one run, each output told apart: marked_script puts an `echo` marker
// before each command (and after the last), marked_outputs splits gdb's stdout back into one
// string per command, in order.
std::vector<std::string> marked_script(const std::vector<std::string>& commands);
std::vector<std::string> marked_outputs(const std::string& out, std::size_t commands);

}  // namespace pyxray::it
