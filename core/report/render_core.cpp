#include "report/render_core.hpp"

#include <fmt/format.h>

namespace pyxray {

bool core_crashed(const CoreOrigin& core) { return core.notes.signal && dumps_core(core.notes.signal->number); }

bool is_signalled_thread(const ProcessReport& report, const ThreadReport& t) {
  return report.core && core_crashed(*report.core) && t.native_id &&
         report.core->notes.signalled_thread == *t.native_id;
}

std::vector<std::size_t> thread_order(const ProcessReport& report) {
  std::vector<std::size_t> order;
  order.reserve(report.threads.size());
  for (std::size_t i = 0; i < report.threads.size(); ++i)
    if (is_signalled_thread(report, report.threads[i])) order.push_back(i);
  for (std::size_t i = 0; i < report.threads.size(); ++i)
    if (!is_signalled_thread(report, report.threads[i])) order.push_back(i);
  return order;
}

std::string core_header_text(const ProcessReport& report) {
  if (!report.core) return "";
  const CoreNotes& n = report.core->notes;
  std::string out = fmt::format("Core file {}: process {}", report.core->path, n.pid);
  if (n.ppid) out += fmt::format(" (parent {})", *n.ppid);
  if (!n.arguments.empty()) out += fmt::format(": {}", n.arguments);
  else if (!n.executable.empty()) out += fmt::format(": {}", n.executable);
  out += fmt::format(", Python {}\n", report.python);
  if (core_crashed(*report.core)) {
    const CoreSignal& s = *n.signal;
    const std::string cause = signal_cause(s);
    out += fmt::format("  killed by {}{}", signal_name(s.number), cause.empty() ? "" : " (" + cause + ")");
    if (s.fault_address) out += fmt::format(" at address 0x{:x}", *s.fault_address);
    if (s.sender && *s.sender != n.pid) out += fmt::format(", sent by process {}", *s.sender);
    if (n.signalled_thread) {
      out += fmt::format(" in thread {}", *n.signalled_thread);
      bool shown = false;
      for (const auto& t : report.threads) shown = shown || is_signalled_thread(report, t);
      out += shown ? " (first below)" : " (a thread without a Python thread state)";
    }
    out += "\n";
  } else if (n.signal) {
    out += fmt::format("  not a crash: the process was stopped ({}) when the core was written, as by gdb's gcore\n",
                       signal_name(n.signal->number));
  } else {
    out += "  no signal recorded: the core was written of a live process, as by gdb's gcore\n";
  }
  return out + "\n";
}

nlohmann::ordered_json core_json(const CoreOrigin& core) {
  using nlohmann::ordered_json;
  const CoreNotes& n = core.notes;
  ordered_json j;
  j["file"] = core.path;
  j["pid"] = n.pid;
  j["ppid"] = n.ppid ? ordered_json(*n.ppid) : ordered_json(nullptr);
  j["executable"] = n.executable;
  j["arguments"] = n.arguments;
  j["crashed"] = core_crashed(core);
  if (n.signal) {
    const CoreSignal& s = *n.signal;
    ordered_json sig = {{"number", s.number}, {"name", signal_name(s.number)}, {"code", s.code}};
    const std::string cause = signal_cause(s);
    sig["cause"] = cause.empty() ? ordered_json(nullptr) : ordered_json(cause);
    sig["fault_address"] = s.fault_address ? ordered_json(fmt::format("0x{:x}", *s.fault_address)) : nullptr;
    sig["sender"] = s.sender ? ordered_json(*s.sender) : ordered_json(nullptr);
    j["signal"] = std::move(sig);
  } else {
    j["signal"] = nullptr;
  }
  j["thread"] = n.signalled_thread ? ordered_json(*n.signalled_thread) : ordered_json(nullptr);
  return j;
}

}  // namespace pyxray
