// Process plumbing for the integration tests: temporary directories, child processes in their own
// process groups (killed as a group when the owner goes away, even on assertion failure), commands
// with a hard timeout, and small /proc readers.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pyxray::it {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  // A fresh directory under `base`, by default $TMPDIR (or /tmp).
  explicit TempDir(const std::filesystem::path& base = {});
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Environment variables to set (or override) in a child, on top of this process's environment.
using EnvOverrides = std::vector<std::pair<std::string, std::string>>;

// The Debian sid root that holds CPython 3.14 and 3.15 (scripts/install-sid-root):
// $PYXRAY_SID_ROOT, else /var/cache/pyxray/sid-root.
std::filesystem::path sid_root();
// The root file system a program runs in, when it is not the host's: sid_root() for a path under
// it, else nullopt.
std::optional<std::filesystem::path> container_root_of(const std::filesystem::path& program);

// A child process leading its own process group, with stdin from /dev/null and stdout/stderr
// redirected to files (files rather than pipes: nothing can block on a full pipe). The destructor
// SIGKILLs the whole group and reaps the child. PR_SET_PDEATHSIG also kills the child if the test
// binary itself dies without running destructors.
class Process {
 public:
  // argv[0] is looked up in PATH. A program under a container root (container_root_of) runs in a
  // container made from that root by tests/integration/tools/in-root, as ROOT-relative path, with
  // $TMPDIR (or /tmp) and the source tree bound at their own paths, so that both sides name the same
  // files; the child's pid is the program's. Throws std::runtime_error when fork fails; an exec failure shows
  // up as exit status 127 with the reason in the stderr file. `env` is applied on top of this
  // process's environment.
  Process(const std::vector<std::string>& argv, const std::filesystem::path& stdout_path,
          const std::filesystem::path& stderr_path, const EnvOverrides& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Reaps the child without blocking; true while it has not exited.
  bool running();
  // Raw wait status once exited (see running()/wait_for()).
  std::optional<int> status() const { return status_; }
  // Waits up to `timeout` for the child to exit; true if it did.
  bool wait_for(Clock::duration timeout);
  // SIGKILLs the process group and reaps the child (idempotent).
  void kill_group();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct CommandResult {
  bool timed_out = false;
  int exit_code = -1;            // exit status, or -1 when killed by a signal / timed out
  std::string out;               // stdout
  std::string err;               // stderr
  double seconds = 0;            // wall time
  std::string describe() const;  // exit code + both streams (truncated), for failure messages
};

// Runs argv to completion, killing its process group after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv, const std::filesystem::path& work_dir,
                          Clock::duration timeout, const EnvOverrides& env = {});

// Whole file as a string ("" when it cannot be read).
std::string read_text(const std::filesystem::path& path);

// Kernel thread ids listed in /proc/PID/task (empty when the process is gone).
std::vector<pid_t> task_ids(pid_t pid);
// The State: letter from /proc/PID[/task/TID]/status ('\0' when unreadable).
char proc_state(pid_t pid, std::optional<pid_t> tid = std::nullopt);
// Why process `pid` is not as a debugger that has gone must leave it: gone, a thread stopped ('t' or
// 'T'), still traced, or a signal pending. Empty when it runs on untouched.
std::vector<std::string> left_running_problems(pid_t pid);
// utime+stime of the process in clock ticks, from /proc/PID/stat.
std::optional<unsigned long long> cpu_ticks(pid_t pid);

// Lines of `text`, without the newline characters.
std::vector<std::string> split_lines(const std::string& text);
// Keeps the head and the tail of long text so failure messages stay readable.
std::string truncate_middle(const std::string& text, std::size_t max_chars = 6000);

}  // namespace pyxray::it
