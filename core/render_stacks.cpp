#include "render_stacks.hpp"

#include <fmt/format.h>

#include "code.hpp"
#include "source_lines.hpp"

namespace pyxray {
namespace {

nlohmann::json frame_json(const PyFrame& f) {
  nlohmann::json j;
  j["kind"] = "python";
  j["function"] = f.code->name;
  j["qualname"] = f.code->qualname ? nlohmann::json(*f.code->qualname) : nlohmann::json(nullptr);
  j["file"] = f.code->filename;
  j["line"] = f.line ? nlohmann::json(*f.line) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

nlohmann::json stacks_json(const ProcessReport& report) {
  nlohmann::json out;
  out["pid"] = report.pid;
  out["python"] = report.python;
  nlohmann::json threads = nlohmann::json::array();
  for (const auto& t : report.threads) {
    nlohmann::json j;
    j["native_id"] = t.native_id ? nlohmann::json(*t.native_id) : nlohmann::json(nullptr);
    j["thread_id"] = t.state.thread_id;
    j["name"] = t.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.name);
    j["holds_gil"] = t.state.holds_gil;
    nlohmann::json frames = nlohmann::json::array();
    for (const auto& f : t.stack.frames) frames.push_back(frame_json(f));
    j["frames"] = std::move(frames);
    if (t.stack.warning) j["warning"] = *t.stack.warning;
    threads.push_back(std::move(j));
  }
  out["threads"] = std::move(threads);
  if (!report.warnings.empty()) out["warnings"] = report.warnings;
  return out;
}

std::string stacks_text(const ProcessReport& report, SourceLines& sources) {
  std::string out;
  for (const auto& w : report.warnings) out += fmt::format("pyxray: warning: {}\n", w);
  bool first = true;
  for (const auto& t : report.threads) {
    if (!first) out += "\n";
    first = false;
    out += "Thread ";
    out += t.native_id ? fmt::format("{}", *t.native_id) : fmt::format("0x{:x}", t.state.thread_id);
    if (!t.name.empty()) out += fmt::format(" \"{}\"", t.name);
    out += t.state.holds_gil ? " (holds the GIL)" : "";
    out += fmt::format(" [ident 0x{:x}]\n", t.state.thread_id);
    if (t.stack.frames.empty() && !t.stack.warning) out += "    (no Python frames)\n";
    for (const auto& f : t.stack.frames) {
      std::string line = f.line ? fmt::format("{}", *f.line) : "?";
      out += fmt::format("  File \"{}\", line {}, in {}\n", f.code->filename, line, f.code->name);
      if (f.line) {
        if (auto src = sources.line(f.code->filename, *f.line); src && !src->empty()) out += fmt::format("    {}\n", *src);
      }
    }
    if (t.stack.warning) out += fmt::format("  pyxray: warning: {}\n", *t.stack.warning);
  }
  return out;
}

}  // namespace pyxray
