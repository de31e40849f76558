// py-layout: which struct offsets pyxray uses for this target and where each came from. The first
// thing to look at when a stack looks wrong, and what the tests use to cross-check the sources.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "commands/commands.hpp"
#include "interp/python_process.hpp"
#include "layout/layout_tables.hpp"

namespace pyxray {
namespace {

struct Row {
  std::string key;
  std::optional<int64_t> debuginfo, debug_offsets, table;
  bool disagrees() const {
    std::optional<int64_t> first;
    for (const auto& v : {debuginfo, debug_offsets, table}) {
      if (!v) continue;
      if (first && *first != *v) return true;
      first = v;
    }
    return false;
  }
};

std::optional<int64_t> lookup(const std::map<std::string, int64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::nullopt : std::optional<int64_t>(it->second);
}

std::vector<Row> rows(const LayoutSources& s) {
  std::vector<Row> out;
  for (const auto& f : layout_fields()) {
    std::string key = layout_key(f);
    out.push_back({key, lookup(s.debuginfo, key), lookup(s.debug_offsets, key), lookup(s.table, key)});
  }
  return out;
}

nlohmann::json opt(const std::optional<int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

// "2.7, 3.6, ..., 3.13": the minor versions pyxray has a built-in table for.
std::string table_versions() {
  std::vector<std::string> names;
  for (const auto& v : versions_with_tables()) names.push_back(v.text());
  return fmt::format("{}", fmt::join(names, ", "));
}

// --python X.Y | auto. A forced version is decoded with its built-in table alone, so only versions
// with a table can be forced.
Expected<std::optional<PyVersion>> forced_version_arg(const std::string& text) {
  if (text == "auto") return std::optional<PyVersion>();
  auto v = parse_version(text);
  if (!v || !table_for(*v))
    return fail(
        fmt::format("--python {}: pyxray has no built-in layout table for that; it has tables for "
                    "CPython {} (or 'auto' to detect the version)",
                    text, table_versions()));
  return std::optional<PyVersion>(*v);
}

std::string forced_note(const LayoutSources& s) {
  return fmt::format(" (forced by --python; detected: {})", s.detected_version.value_or("nothing"));
}

Expected<std::string> run_layout(Session& session, const ParsedArgs& args) {
  if (auto text = args.value("--python")) {
    PYX_TRY(version, forced_version_arg(*text));
    const std::optional<PyVersion> previous = session.forced_version();
    const FrameSelection selection = session.selection();
    session.force_version(version);  // before opening: the process may only open as that version
    if (auto opened = session.process(); !opened) {
      session.force_version(previous);  // a refused override changes nothing
      session.selection() = selection;
      return fail(fmt::format("--python {} not applied: {}", *text, opened.error().message));
    }
  }
  PYX_TRY(proc, session.process());
  const LayoutSources& s = proc->layout_sources();
  const Layout& L = proc->layout();
  auto all = rows(s);
  if (args.has("--json")) {
    nlohmann::json j;
    j["python"] = proc->version().text();
    j["python_forced"] = s.forced;
    j["python_detected"] = s.detected_version ? nlohmann::json(*s.detected_version) : nlohmann::json(nullptr);
    j["source"] = L.source;
    j["free_threaded"] = s.free_threaded;
    nlohmann::json fields = nlohmann::json::object();
    for (const auto& f : layout_fields())
      if (L.*f.offset != kAbsent) fields[layout_key(f)] = L.*f.offset;
    j["fields"] = std::move(fields);
    j["sources"] = {{"debuginfo", s.debuginfo},
                    {"debug_offsets", s.debug_offsets},
                    {"debug_offsets_error",
                     s.debug_offsets_error ? nlohmann::json(*s.debug_offsets_error) : nlohmann::json(nullptr)},
                    {"table", s.table},
                    {"table_version", s.table_version}};
    nlohmann::json bad = nlohmann::json::array();
    for (const auto& r : all)
      if (r.disagrees())
        bad.push_back({{"key", r.key},
                       {"debuginfo", opt(r.debuginfo)},
                       {"debug_offsets", opt(r.debug_offsets)},
                       {"table", opt(r.table)}});
    j["disagreements"] = std::move(bad);
    return json_line(j);
  }
  std::string out = fmt::format("CPython {}{}{}; layouts from {}\n", proc->version().text(),
                                s.forced ? forced_note(s) : "", s.free_threaded ? " (free-threaded)" : "", L.source);
  if (s.forced)
    out +=
        "debuginfo and _Py_DebugOffsets are not read while the version is forced ('py-layout --python auto' "
        "detects it again)\n";
  if (s.debug_offsets_error) out += fmt::format("_Py_DebugOffsets not used: {}\n", *s.debug_offsets_error);
  if (!s.table_version.empty()) out += fmt::format("built-in table: {}\n", s.table_version);
  out += fmt::format("{:<48} {:>9} {:>9} {:>9}\n", "field", "debuginfo", "debugoffs", "table");
  auto cell = [](const std::optional<int64_t>& v) { return v ? fmt::format("{}", *v) : std::string("-"); };
  int disagreements = 0;
  for (const auto& r : all) {
    if (!r.debuginfo && !r.debug_offsets && !r.table) continue;
    bool bad = r.disagrees();
    disagreements += bad;
    if (args.has("--differences") && !bad) continue;
    out += fmt::format("{:<48} {:>9} {:>9} {:>9}{}\n", r.key, cell(r.debuginfo), cell(r.debug_offsets), cell(r.table),
                       bad ? "  <- differ" : "");
  }
  out += fmt::format("{} field(s) where the sources differ\n", disagreements);
  return out;
}

}  // namespace

std::vector<CommandDef> layout_commands() {
  return {{{"py-layout", "Show the struct layouts pyxray uses and where they came from",
            "Usage: py-layout [--json] [--differences] [--python X.Y|auto]\n"
            "List every struct offset pyxray decodes this process with, as debuginfo, _Py_DebugOffsets\n"
            "(3.13+) and the built-in table for this version give it; --differences shows only fields\n"
            "where the sources disagree.\n"
            "--python X.Y decodes the process as CPython X.Y from now on, with pyxray's built-in table\n"
            "for X.Y alone (for a version that is detected wrongly or not at all); --python auto goes\n"
            "back to detecting it."},
           {{"--json", false, "print one JSON object"},
            {"--differences", false, "only fields whose sources differ"},
            {"--python", true, "decode as this CPython version (X.Y), or auto"}},
           0,
           run_layout}};
}

}  // namespace pyxray
