// The debugger an end-to-end test drives, gdb or LLDB, each attached to a process with pyxray loaded.
// Suites that judge what pyxray shows are parameterised on it, so that one test body checks both
// front ends against the same ground truth.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace pyxray::it {

enum class FrontEnd { Gdb, Lldb };
const char* front_end_name(FrontEnd front);
inline constexpr FrontEnd kFrontEnds[] = {FrontEnd::Gdb, FrontEnd::Lldb};

struct FrontEndRun {
  CommandResult raw;                  // the debugger's whole run
  std::vector<std::string> outputs;   // what each command printed, in order (LLDB's echoes left out)
  std::vector<std::string> problems;  // why the run did not end cleanly: empty when it did
};

// Attaches `front` to `pid`, runs `commands`, each output told apart by a marker, and detaches.
FrontEndRun run_front_end(FrontEnd front, pid_t pid, const std::vector<std::string>& commands,
                          const std::filesystem::path& work_dir);

// The commands that select the thread with kernel id `tid` (pthread_t `pthread_id`), and the text the
// output of the last of them shows once the debugger has switched.
struct ThreadSelect {
  std::vector<std::string> commands;
  std::string switched;
};
ThreadSelect select_thread(FrontEnd front, uint64_t pthread_id, int64_t tid);

// The plugin the front end loads: it must exist (build the whole project first).
std::filesystem::path front_end_plugin(FrontEnd front);

}  // namespace pyxray::it
