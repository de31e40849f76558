// Running Debian's lldb-16 with the pyxray plugin loaded, for the LLDB integration tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness.hpp"

namespace pyxray::it {

// $PYXRAY_LLDB_PLUGIN, else the library this build tree made.
std::filesystem::path lldb_plugin_path();
// $PYXRAY_LLDB, else Debian's lldb-16.
std::string lldb_program();

// lldb --no-lldbinit --batch TARGET_ARGS -o 'plugin load PLUGIN' -o CMD... with a hard timeout.
// Batch mode stops at the first failing command and then quits, detaching from an attached process
// (as the final `process detach` does when everything succeeded).
CommandResult run_lldb(const std::vector<std::string>& target_args, const std::vector<std::string>& commands,
                       const std::filesystem::path& work_dir, Clock::duration timeout = std::chrono::seconds(90));
// The arguments of lldb attached to `pid` running COMMANDS then `process detach`, for a test that
// runs LLDB itself (to signal it, or to watch its output while it runs).
std::vector<std::string> lldb_attach_argv(pid_t pid, const std::vector<std::string>& commands);
// Attached to `pid`, ending with `process detach`.
CommandResult run_lldb_attached(pid_t pid, std::vector<std::string> commands, const std::filesystem::path& work_dir);

// What one command printed: the lines after LLDB's echo of "(lldb) COMMAND", up to the next echo.
std::string lldb_command_output(const std::string& out, const std::string& command);

// Why an LLDB run did not end cleanly (empty when it did).
std::vector<std::string> lldb_run_problems(const CommandResult& r, bool require_success);

}  // namespace pyxray::it
