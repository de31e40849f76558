// The LLDB front end's entry point. `plugin load libpyxray-lldb.so` calls lldb::PluginInitialize,
// which registers one LLDB command per core command; each command hands its arguments to the core
// Session of its debugger's selected target and prints what comes back. Nothing else about commands
// lives here.
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "lldb/API/SBCommandInterpreter.h"
#include "lldb/API/SBCommandReturnObject.h"
#include "lldb/API/SBDebugger.h"
#include "lldb/API/SBProcess.h"
#include "lldb/API/SBTarget.h"

#include "commands/session.hpp"
#include "lldb_target.hpp"

namespace pyxray::lldb_plugin {
namespace {

// One core Session per debugger, for the target and process it was made for.
struct DebuggerState {
  lldb::SBTarget Target;
  uint32_t ProcessUniqueId = 0;
  lldb::pid_t Pid = LLDB_INVALID_PROCESS_ID;
  std::unique_ptr<pyxray::Session> Session;
};

std::mutex &statesMutex() {
  static auto *Mutex = new std::mutex();
  return *Mutex;
}

// Never destroyed: SB objects must not be released from a static destructor after LLDB shut down.
std::map<lldb::user_id_t, DebuggerState> &states() {
  static auto *States = new std::map<lldb::user_id_t, DebuggerState>();
  return *States;
}

pyxray::Session &sessionFor(lldb::SBDebugger &Debugger, lldb::SBTarget &Target, lldb::SBProcess &Process) {
  DebuggerState &State = states()[Debugger.GetID()];
  const uint32_t UniqueId = Process.GetUniqueID();
  const lldb::pid_t Pid = Process.GetProcessID();
  if (!State.Session || !(State.Target == Target) || State.ProcessUniqueId != UniqueId || State.Pid != Pid) {
    State.Session.reset();
    State.Session = std::make_unique<pyxray::Session>(std::make_unique<LLDBTarget>(Target, Process));
    State.Target = Target;
    State.ProcessUniqueId = UniqueId;
    State.Pid = Pid;
  }
  return *State.Session;
}

// LLDB has already split the command line (and removed its quotes); quote again what the core's
// shell-like tokenizer would otherwise split or unescape.
std::string joinArgs(char **Args) {
  std::string Line;
  for (char **Arg = Args; Arg && *Arg; ++Arg) {
    const std::string A = *Arg;
    if (!Line.empty()) Line += ' ';
    if (!A.empty() && A.find_first_of(" \t\n'\"\\") == std::string::npos) {
      Line += A;
      continue;
    }
    Line += '"';
    for (char C : A) {
      if (C == '"' || C == '\\') Line += '\\';
      Line += C;
    }
    Line += '"';
  }
  return Line;
}

// Whether command `Name` reads the process (most do) or only files (py-sample-diff).
bool needsProcess(const std::string &Name) {
  for (const auto &Info : pyxray::command_list())
    if (Info.name == Name) return Info.needs_process;
  return true;
}

// A command that reads only files, run where no stopped process is: in a session of its own over an
// empty target, since the debugger's target may be running or absent.
pyxray::CommandResult runWithoutProcess(const std::string &Name, lldb::SBDebugger &Debugger, char **Args) {
  std::lock_guard<std::mutex> Lock(statesMutex());
  static auto *Sessions = new std::map<lldb::user_id_t, std::unique_ptr<pyxray::Session>>();
  auto &S = (*Sessions)[Debugger.GetID()];
  if (!S) S = std::make_unique<pyxray::Session>(std::make_unique<LLDBTarget>(lldb::SBTarget(), lldb::SBProcess()));
  return S->run(Name, joinArgs(Args));
}

pyxray::CommandResult run(const std::string &Name, lldb::SBDebugger &Debugger, char **Args) {
  lldb::SBTarget Target = Debugger.GetSelectedTarget();
  lldb::SBProcess Process = Target.IsValid() ? Target.GetProcess() : lldb::SBProcess();
  const lldb::StateType State = Process.IsValid() ? Process.GetState() : lldb::eStateInvalid;
  const bool Stopped = State == lldb::eStateStopped || State == lldb::eStateCrashed || State == lldb::eStateSuspended;
  if (!Stopped && !needsProcess(Name)) return runWithoutProcess(Name, Debugger, Args);
  switch (State) {
  case lldb::eStateStopped:
  case lldb::eStateCrashed:
  case lldb::eStateSuspended: break;
  case lldb::eStateRunning:
  case lldb::eStateStepping:
  case lldb::eStateLaunching:
  case lldb::eStateAttaching: return {false, "pyxray: the process is running; stop it first ('process interrupt')"};
  default:
    return {false, "pyxray: no process: attach to one ('lldb -p PID', 'process attach --pid PID') or open a "
                   "core file ('lldb PYTHON -c CORE')"};
  }
  std::lock_guard<std::mutex> Lock(statesMutex());
  return sessionFor(Debugger, Target, Process).run(Name, joinArgs(Args));
}

class PyxrayCommand final : public lldb::SBCommandPluginInterface {
public:
  explicit PyxrayCommand(std::string Name) : Name(std::move(Name)) {}

  bool DoExecute(lldb::SBDebugger Debugger, char **Args, lldb::SBCommandReturnObject &Result) override {
    // Nothing may escape into LLDB: the core never throws, but allocation or the SB API might.
    pyxray::CommandResult R;
    try {
      R = run(Name, Debugger, Args);
    } catch (const std::exception &E) {
      R = {false, "pyxray: internal error in " + Name + ": " + E.what()};
    } catch (...) {
      R = {false, "pyxray: internal error in " + Name};
    }
    if (R.reraise_signal) return endAfterSignal(R);
    try {
      if (!R.note.empty()) Result.Printf("%s\n", R.note.c_str());
      if (!R.ok) {
        Result.SetError(R.output.c_str());
        Result.SetStatus(lldb::eReturnStatusFailed);
        return false;
      }
      if (!R.output.empty() && R.output.back() != '\n') R.output += '\n';
      Result.Printf("%s", R.output.c_str());
      Result.SetStatus(R.output.empty() ? lldb::eReturnStatusSuccessFinishNoResult
                                        : lldb::eReturnStatusSuccessFinishResult);
      return true;
    } catch (...) {
      return false;
    }
  }

private:
  // A SIGTERM came while the command ran; the core finished the command and left the target as it
  // was. LLDB would print the result only after we return, and the signal must reach it now: print it
  // ourselves, then give the signal back to LLDB (whose own handling, or the default, ends it).
  static bool endAfterSignal(const pyxray::CommandResult &R) {
    std::FILE *Out = R.ok ? stdout : stderr;
    if (!R.note.empty()) std::fprintf(stderr, "%s\n", R.note.c_str());
    std::fputs(R.output.c_str(), Out);
    if (!R.ok || (!R.output.empty() && R.output.back() != '\n')) std::fputc('\n', Out);
    std::fflush(stdout);
    std::fflush(stderr);
    std::raise(R.reraise_signal);
    return R.ok;
  }

  std::string Name;
};

// LLDB wraps each line of a long help on its own: join the lines of a paragraph so that it wraps
// as one. Blank lines and indented lines (lists, tables) stay as they are.
std::string paragraphs(const std::string &Text) {
  std::string Out;
  std::size_t Pos = 0;
  bool Joinable = false; // the previous line was plain text
  while (Pos < Text.size()) {
    std::size_t Eol = Text.find('\n', Pos);
    if (Eol == std::string::npos) Eol = Text.size();
    const std::string Line = Text.substr(Pos, Eol - Pos);
    Pos = Eol + 1;
    const bool Plain = !Line.empty() && Line[0] != ' ' && Line[0] != '\t';
    if (Plain && Joinable) Out += ' ';
    else if (!Out.empty()) Out += '\n';
    Out += Line;
    Joinable = Plain;
  }
  return Out;
}

// The core's help is "Usage: LINE" then the description: LLDB shows the summary, "Syntax: LINE",
// then the long help.
void addCommand(lldb::SBCommandInterpreter &Interpreter, const pyxray::CommandInfo &Info) {
  std::string Syntax = Info.name, Long = Info.help;
  const std::size_t Eol = Info.help.find('\n');
  const std::string First = Info.help.substr(0, Eol);
  if (First.starts_with("Usage: ")) {
    Syntax = First.substr(7);
    Long = Eol == std::string::npos ? "" : Info.help.substr(Eol + 1);
  }
  // LLDB owns the implementation object from here on.
  lldb::SBCommand Cmd =
      Interpreter.AddCommand(Info.name.c_str(), new PyxrayCommand(Info.name), Info.summary.c_str(), Syntax.c_str());
  if (Cmd.IsValid() && !Long.empty()) Cmd.SetHelpLong(paragraphs(Long).c_str());
}

} // namespace
} // namespace pyxray::lldb_plugin

namespace lldb {

__attribute__((visibility("default"))) bool PluginInitialize(lldb::SBDebugger Debugger);

bool PluginInitialize(lldb::SBDebugger Debugger) {
  try {
    lldb::SBCommandInterpreter Interpreter = Debugger.GetCommandInterpreter();
    if (!Interpreter.IsValid()) return false;
    for (const auto &Info : pyxray::command_list()) pyxray::lldb_plugin::addCommand(Interpreter, Info);
    return true;
  } catch (...) {
    return false;
  }
}

} // namespace lldb
