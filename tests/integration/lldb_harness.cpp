#include "lldb_harness.hpp"

#include <cstdlib>

namespace pyxray::it {

namespace fs = std::filesystem;

// $PYXRAY_LLDB_PLUGIN, else the library this build tree made.
fs::path lldb_plugin_path() {
  if (const char* env = std::getenv("PYXRAY_LLDB_PLUGIN"); env && *env) return env;
  return fs::path(PYXRAY_BUILD_DIR) / "libpyxray-lldb.so";
}

// $PYXRAY_LLDB, else Debian's lldb-16.
std::string lldb_program() {
  if (const char* env = std::getenv("PYXRAY_LLDB"); env && *env) return env;
  return "lldb-16";
}

// lldb --no-lldbinit --batch TARGET_ARGS -o 'plugin load PLUGIN' -o CMD... with a hard timeout.
// Batch mode stops at the first failing command and then quits, detaching from an attached process
// (as the final `process detach` does when everything succeeded).
namespace {

std::vector<std::string> lldb_argv(const std::vector<std::string>& target_args,
                                   const std::vector<std::string>& commands) {
  std::vector<std::string> argv{lldb_program(), "--no-lldbinit", "--batch"};
  argv.insert(argv.end(), target_args.begin(), target_args.end());
  argv.push_back("-o");
  argv.push_back("plugin load " + lldb_plugin_path().string());
  for (const auto& c : commands) {
    argv.push_back("-o");
    argv.push_back(c);
  }
  return argv;
}

}  // namespace

CommandResult run_lldb(const std::vector<std::string>& target_args, const std::vector<std::string>& commands,
                       const fs::path& work_dir, Clock::duration timeout) {
  return run_command(lldb_argv(target_args, commands), work_dir, timeout);
}

std::vector<std::string> lldb_attach_argv(pid_t pid, const std::vector<std::string>& commands) {
  auto with_detach = commands;
  with_detach.push_back("process detach");
  return lldb_argv({"-p", std::to_string(pid)}, with_detach);
}

CommandResult run_lldb_attached(pid_t pid, std::vector<std::string> commands, const fs::path& work_dir) {
  return run_command(lldb_attach_argv(pid, commands), work_dir, 90s);
}

// What one command printed: the lines after LLDB's echo of "(lldb) COMMAND", up to the next echo.
std::string lldb_command_output(const std::string& out, const std::string& command) {
  std::string text;
  bool inside = false;
  for (const auto& line : split_lines(out)) {
    if (line.rfind("(lldb) ", 0) == 0) {
      if (inside) break;
      inside = line == "(lldb) " + command;
      continue;
    }
    if (inside) text += line + "\n";
  }
  return text;
}

// Why an LLDB run did not end cleanly (empty when it did).
std::vector<std::string> lldb_run_problems(const CommandResult& r, bool require_success) {
  std::vector<std::string> problems;
  if (r.timed_out) problems.push_back("lldb was killed after its timeout");
  else if (r.exit_code < 0) problems.push_back("lldb died by a signal");
  else if (require_success && r.exit_code != 0) problems.push_back("lldb exited with " + std::to_string(r.exit_code));
  for (const auto* stream : {&r.out, &r.err}) {
    for (const char* bad : {"PLEASE submit a bug report", "Stack dump:", "internal error", "Traceback"}) {
      if (stream->find(bad) != std::string::npos) problems.push_back(std::string("\"") + bad + "\" in the output");
    }
  }
  return problems;
}

}  // namespace pyxray::it
