// py-limits: the bounds pyxray puts on its walks, and raising them for the rest of the session.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "base/limits.hpp"
#include "base/thousands.hpp"
#include "commands/commands.hpp"

namespace pyxray {
namespace {

Expected<std::string> run_limits(Session& session, const ParsedArgs& args) {
  if (args.has("--reset")) {
    if (!args.positional.empty()) return fail("py-limits: --reset takes no NAME=N");
    session.limits() = Limits{};
  }
  std::string changes;
  if (!args.positional.empty()) {
    std::string joined;
    for (const auto& p : args.positional) joined += p + ",";
    Limits before = session.limits();
    if (auto r = apply_limits(session.limits(), joined); !r) return fail("py-limits: " + r.error().message);
    for (const auto& info : limit_infos()) {
      if (before.*info.member != session.limits().*info.member)
        changes += fmt::format("{}: {} -> {} for this session\n", info.name,
                               thousands(static_cast<uint64_t>(before.*info.member)),
                               thousands(static_cast<uint64_t>(session.limits().*info.member)));
    }
  }
  // What a command run now would use: the session's values (just changed, if so) plus this
  // command's own --max.
  Limits shown = session.limits();
  if (auto raised = args.value("--max")) (void)apply_limits(shown, *raised);
  if (args.has("--json")) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& info : limit_infos())
      rows.push_back({{"name", info.name},
                      {"value", shown.*info.member},
                      {"default", info.default_value},
                      {"max", info.max},
                      {"unit", info.unit},
                      {"what", info.what}});
    return json_line(nlohmann::json{{"limits", std::move(rows)}});
  }
  if (!changes.empty()) return changes;
  std::string out = fmt::format("{:<20} {:>13} {:>13}  {:<13} {}\n", "limit", "value", "default", "unit", "bounds");
  for (const auto& info : limit_infos()) {
    int64_t v = shown.*info.member;
    out += fmt::format("{:<20} {:>13} {:>13}  {:<13} {}{}\n", info.name, thousands(static_cast<uint64_t>(v)),
                       thousands(static_cast<uint64_t>(info.default_value)), info.unit, info.what,
                       v != info.default_value ? "  *changed" : "");
  }
  out += "Raise one for a command with --max NAME=N, or for this session with py-limits NAME=N.\n";
  return out;
}

}  // namespace

std::vector<CommandDef> limits_commands() {
  return {{{"py-limits", "Show or raise the bounds on pyxray's walks",
            "Usage: py-limits [NAME=N ...] [--reset] [--json]\n"
            "Every walk over the target's memory is bounded, so that a huge or corrupt process cannot hang\n"
            "the debugger: frames per thread, threads, string lengths, heap objects, sampling time. With no\n"
            "argument, list each limit, its value and what it bounds. NAME=N raises (or lowers) limits for\n"
            "the rest of this session; --reset restores the defaults. A command that stops at a limit says\n"
            "which one; --max NAME=N on that command raises it for one run.\n"
            "--json prints {\"limits\": [{\"name\", \"value\", \"default\", \"max\", \"unit\", \"what\"}, ...]}."},
           {{"--json", false, "print one JSON object instead of text"},
            {"--reset", false, "restore every limit's default for this session"}},
           64,
           run_limits}};
}

}  // namespace pyxray
