// What a front end holds for one debugger: its Target adapter, the decoded process (kept between
// commands while the same process is attached), and the user's place in it (selected Python frame).
// Front ends call Session::run for every command name; nothing else about commands lives there.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.hpp"
#include "base/limits.hpp"
#include "layout/version.hpp"
#include "target/target.hpp"

namespace pyxray {

class PythonProcess;
class ProcessFilesTarget;

// The Python frame py-up/py-down moved to, per thread; py-locals, py-list and py-print use it.
struct FrameSelection {
  int64_t thread = -1;      // kernel thread id
  int index = 0;            // 0 = innermost Python frame
  uint64_t frame_addr = 0;  // to notice that the stack changed under us
};

struct CommandInfo {
  std::string name;
  std::string summary;  // one line
  std::string help;     // full help text, usage first
  // False for a command that reads only files (py-sample-diff): front ends run it with no process
  // attached, or one that is running.
  bool needs_process = true;
};

struct CommandResult {
  CommandResult() = default;
  CommandResult(bool ok, std::string output) : ok(ok), output(std::move(output)) {}

  bool ok = true;
  std::string output;  // what to print (text or JSON); on failure the one-line message
  // One line to show the user beside the output (not part of it, so JSON stays JSON), at most once
  // per session: "pyxray: note: ..."; "" for none.
  std::string note;
  // A SIGTERM that arrived while the command ran (core/base/interrupt.hpp): the front end raises it again
  // once it has printed the output, so the debugger ends as it would have; 0 for none.
  int reraise_signal = 0;
};

// Every command the front ends register, in the order `help` should list them.
const std::vector<CommandInfo>& command_list();

class Session {
 public:
  explicit Session(std::unique_ptr<Target> target);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs one command; never throws. `args` is the raw argument string the user typed.
  CommandResult run(std::string_view name, std::string_view args);

  // The front end's Target behind ProcessFilesTarget, which adds what a debugger lacks for a live
  // process whose files it cannot see (core/target/process_files.hpp).
  Target& target();
  // The decoded process, opened (or re-opened after the target changed) on demand.
  Expected<PythonProcess*> process();
  FrameSelection& selection() { return selection_; }
  // The limits every command of this session starts from (py-limits changes them).
  Limits& limits() { return limits_; }

  // py-layout --python X.Y: decode the process as that version from then on (nullopt: detect it).
  // A change re-opens the process at the next command.
  void force_version(std::optional<PyVersion> version);
  const std::optional<PyVersion>& forced_version() const { return forced_version_; }

 private:
  CommandResult run_command(std::string_view name, std::string_view args);
  std::unique_ptr<ProcessFilesTarget> target_;
  int note_pid_ = -1;                     // the process the notes were given for
  std::vector<std::string> notes_given_;  // to it
  std::unique_ptr<PythonProcess> proc_;
  int proc_pid_ = -1;
  std::optional<PyVersion> forced_version_;
  FrameSelection selection_;
  Limits limits_;
};

}  // namespace pyxray
