#include "session.hpp"

#include <exception>

#include <fmt/format.h>

#include "commands.hpp"
#include "python_process.hpp"

namespace pyxray {

const std::vector<CommandDef>& command_defs() {
  static const std::vector<CommandDef> defs = [] {
    std::vector<CommandDef> all;
    for (auto& d : bt_commands()) all.push_back(std::move(d));
    for (auto& d : print_commands()) all.push_back(std::move(d));
    for (auto& d : frame_commands()) all.push_back(std::move(d));
    for (auto& d : layout_commands()) all.push_back(std::move(d));
    for (auto& d : sample_commands()) all.push_back(std::move(d));
    for (auto& d : heap_commands()) all.push_back(std::move(d));
    for (auto& d : arenas_commands()) all.push_back(std::move(d));
    return all;
  }();
  return defs;
}

const std::vector<CommandInfo>& command_list() {
  static const std::vector<CommandInfo> list = [] {
    std::vector<CommandInfo> out;
    for (const auto& d : command_defs()) out.push_back(d.info);
    return out;
  }();
  return list;
}

Session::Session(std::unique_ptr<Target> target) : target_(std::move(target)) {}
Session::~Session() = default;

Expected<PythonProcess*> Session::process() {
  int pid = target_->pid();
  if (pid <= 0 && target_->threads().empty())
    return fail("no process: attach to one ('gdb -p PID') or open a core file ('gdb PYTHON CORE')");
  if (!proc_ || pid != proc_pid_) {
    proc_.reset();
    PYX_TRY(opened, PythonProcess::open(*target_));
    proc_ = std::move(opened);
    proc_pid_ = pid;
  }
  proc_->begin_command();
  return proc_.get();
}

CommandResult Session::run(std::string_view name, std::string_view args) {
  const CommandDef* def = nullptr;
  for (const auto& d : command_defs())
    if (d.info.name == name) def = &d;
  if (!def) return {false, fmt::format("pyxray: unknown command '{}'", name)};
  try {
    auto parsed = parse_args(name, args, def->flags, def->max_positional);
    if (!parsed) return {false, "pyxray: " + parsed.error().message};
    auto out = def->run(*this, *parsed);
    if (!out) return {false, "pyxray: " + out.error().message};
    return {true, std::move(*out)};
  } catch (const std::exception& e) {
    // A decoder bug must not take the debugger down with it.
    return {false, fmt::format("pyxray: internal error in {}: {}", name, e.what())};
  }
}

}  // namespace pyxray
