#include "commands/session.hpp"

#include <algorithm>
#include <csignal>
#include <exception>

#include <fmt/format.h>

#include "base/interrupt.hpp"
#include "base/utf8.hpp"
#include "commands/commands.hpp"
#include "interp/python_process.hpp"
#include "target/memory.hpp"
#include "target/process_files.hpp"

namespace pyxray {

namespace {

FlagSpec max_flag() {
  return {"--max", true, "raise limits for this command: NAME=N[,NAME=N] (see py-limits)", /*repeatable=*/true};
}

}  // namespace

const std::vector<CommandDef>& command_defs() {
  static const std::vector<CommandDef> defs = [] {
    std::vector<CommandDef> all;
    for (auto& d : bt_commands()) all.push_back(std::move(d));
    for (auto& d : print_commands()) all.push_back(std::move(d));
    for (auto& d : frame_commands()) all.push_back(std::move(d));
    for (auto& d : layout_commands()) all.push_back(std::move(d));
    for (auto& d : sample_commands()) all.push_back(std::move(d));
    for (auto& d : sample_diff_commands()) all.push_back(std::move(d));
    for (auto& d : heap_commands()) all.push_back(std::move(d));
    for (auto& d : heap_diff_commands()) all.push_back(std::move(d));
    for (auto& d : lock_commands()) all.push_back(std::move(d));
    for (auto& d : task_commands()) all.push_back(std::move(d));
    for (auto& d : arenas_commands()) all.push_back(std::move(d));
    for (auto& d : limits_commands()) all.push_back(std::move(d));
    for (auto& d : all) d.flags.push_back(max_flag());
    return all;
  }();
  return defs;
}

const std::vector<CommandInfo>& command_list() {
  static const std::vector<CommandInfo> list = [] {
    std::vector<CommandInfo> out;
    for (const auto& d : command_defs()) {
      CommandInfo info = d.info;
      info.help +=
          "\nEvery command takes --max NAME=N[,NAME=N] to raise one of pyxray's limits for that\n"
          "command; py-limits lists them.";
      out.push_back(std::move(info));
    }
    return out;
  }();
  return list;
}

Session::Session(std::unique_ptr<Target> target) : target_(std::make_unique<ProcessFilesTarget>(std::move(target))) {}
Session::~Session() = default;

Target& Session::target() { return *target_; }

Expected<PythonProcess*> Session::process() {
  int pid = target_->pid();
  if (pid <= 0 && target_->threads().empty())
    return fail("no process: attach to one ('gdb -p PID') or open a core file ('gdb PYTHON CORE')");
  if (!proc_ || pid != proc_pid_) {
    proc_.reset();
    PYX_TRY(opened, PythonProcess::open(*target_, {forced_version_}));
    proc_ = std::move(opened);
    proc_pid_ = pid;
  }
  proc_->begin_command();
  return proc_.get();
}

void Session::force_version(std::optional<PyVersion> version) {
  auto text = [](const std::optional<PyVersion>& v) { return v ? v->text() : std::string("auto"); };
  if (text(version) != text(forced_version_)) {
    proc_.reset();  // decoded with the other version's layout: open it again
    selection_ = {};
  }
  forced_version_ = version;
}

namespace {

// Control characters escaped (a trailing newline dropped), so that a message is one line.
std::string one_line(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if ((u < 0x20 && c != '\t') || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}

std::string without_nul(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (c == '\0') out += "\\x00";
    else out += c;
  }
  return out;
}

}  // namespace

CommandResult Session::run(std::string_view name, std::string_view args) {
  CommandResult r;
  {
    CommandInterrupts interrupts;
    r = run_command(name, args);
    if (interrupt_signal() == SIGTERM) r.reraise_signal = SIGTERM;
  }
  // Each note once per process: the target's (files read through /proc), then the decoder's (a
  // version newer than pyxray's tables), which exists once a command has opened the process.
  if (note_pid_ != target_->pid()) {
    notes_given_.clear();
    note_pid_ = target_->pid();
  }
  auto give = [&](const std::optional<std::string>& note) {
    if (!note || std::find(notes_given_.begin(), notes_given_.end(), *note) != notes_given_.end()) return;
    notes_given_.push_back(*note);
    r.note += (r.note.empty() ? "" : "\n") + *note;
  };
  give(target_->note());
  if (proc_ && proc_pid_ == target_->pid() && proc_->note()) give("pyxray: note: " + *proc_->note());
  // Names and text come from the target's memory: whatever they hold, the front ends get UTF-8
  // (gdb's Python refuses anything else, and a JSON document must be UTF-8), and a failure stays
  // one line even when it quotes a name with a newline in it.
  r.output = sanitize_utf8(r.output);
  if (!r.ok) r.output = one_line(r.output);
  // gdb's Python refuses text with a NUL in it ("embedded null character") and LLDB's C strings end
  // at one; a name decoded from the target (or with a wrong layout) may hold one.
  else if (r.output.find('\0') != std::string::npos) r.output = without_nul(r.output);
  return r;
}

CommandResult Session::run_command(std::string_view name, std::string_view args) {
  const CommandDef* def = nullptr;
  for (const auto& d : command_defs())
    if (d.info.name == name) def = &d;
  if (!def) return {false, fmt::format("pyxray: unknown command '{}'", name)};
  try {
    auto parsed = parse_args(name, args, def->flags, def->max_positional);
    if (!parsed) return {false, "pyxray: " + parsed.error().message};
    Limits command_limits = limits_;
    if (auto raised = parsed->value("--max")) {
      if (auto r = apply_limits(command_limits, *raised); !r)
        return {false, fmt::format("pyxray: {}: --max: {}", name, r.error().message)};
    }
    LimitsScope scope(command_limits);
    auto out = def->run(*this, *parsed);
    if (out) return {true, std::move(*out)};
    std::string message = out.error().message;
    // A process that exited or was killed explains any failure to read it.
    if (message.find(" is gone (") == std::string::npos && live_process_gone(*target_))
      message = fmt::format("{}: {}", process_gone_message(target_->pid()), message);
    // Under a forced version a failure may be the version's fault: say so, and how to undo it.
    else if (forced_version_)
      message += fmt::format(
          " (decoding as CPython {}, forced by 'py-layout --python'; 'py-layout --python auto' "
          "detects the version again)",
          forced_version_->text());
    return {false, "pyxray: " + message};
  } catch (const std::exception& e) {
    // A decoder bug must not take the debugger down with it.
    return {false, fmt::format("pyxray: internal error in {}: {}", name, e.what())};
  }
}

}  // namespace pyxray
