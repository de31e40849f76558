// py-up, py-down, py-locals and py-list: moving through and looking into one Python frame.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "commands/commands.hpp"
#include "commands/selected_frame.hpp"
#include "commands/session.hpp"
#include "interp/locals.hpp"
#include "interp/python_process.hpp"
#include "report/source_lines.hpp"
#include "repr/repr.hpp"

namespace pyxray {
namespace {

constexpr int kListContext = 5;  // lines before and after the current one, as CPython's py-list

nlohmann::ordered_json frame_json(const PyFrame& f, int index) {
  return {{"index", index},
          {"function", f.code->name},
          {"qualname", f.code->qualname ? nlohmann::ordered_json(*f.code->qualname) : nlohmann::ordered_json(nullptr)},
          {"file", f.code->filename},
          {"line", f.line ? nlohmann::ordered_json(*f.line) : nlohmann::ordered_json(nullptr)}};
}

Expected<std::string> move(Session& session, const ParsedArgs& args, int direction, bool json) {
  int steps = 1;
  if (!args.positional.empty()) {
    PYX_TRY(n, parse_count("count", args.positional[0], 1, 1'000'000));
    steps = static_cast<int>(n);
  }
  PYX_TRY(ctx, selected_frame(session));
  int n = static_cast<int>(ctx.thread.stack.frames.size());
  int target = ctx.index + direction * steps;
  if (target >= n) {
    if (ctx.index == n - 1) return fail("already at the oldest Python frame");
    target = n - 1;
  }
  if (target < 0) {
    if (ctx.index == 0) return fail("already at the newest Python frame");
    target = 0;
  }
  const PyFrame& f = ctx.thread.stack.frames[static_cast<std::size_t>(target)];
  session.selection() = {session.selection().thread, target, f.addr};
  if (json) return json_line(frame_json(f, target));
  return describe_frame(session.target(), f, target);
}

Expected<std::string> run_locals(Session& session, const ParsedArgs& args) {
  PYX_TRY(ctx, selected_frame(session));
  const PyFrame& f = ctx.frame();
  PYX_TRY(vars, frame_locals(*ctx.proc, *ctx.objects, f));
  if (args.has("--json")) {
    nlohmann::ordered_json locals = nlohmann::ordered_json::object();
    for (const auto& v : vars) locals[v.name] = safe_repr(*ctx.proc, *ctx.objects, v.value);
    nlohmann::ordered_json out = {{"frame", frame_json(f, ctx.index)}, {"locals", std::move(locals)}};
    return json_line(out);
  }
  std::string out;
  for (const auto& v : vars) out += fmt::format("{} = {}\n", v.name, safe_repr(*ctx.proc, *ctx.objects, v.value));
  if (vars.empty()) out = "(no local variables)\n";
  return out;
}

// "N" centres on line N; "A,B" lists A..B; nothing centres on the frame's current line.
Expected<std::pair<int, int>> list_range(const ParsedArgs& args, int current) {
  if (args.positional.empty()) return std::pair{std::max(1, current - kListContext), current + kListContext};
  const std::string& spec = args.positional[0];
  if (auto comma = spec.find(','); comma != std::string::npos) {
    PYX_TRY(a, parse_count("start", spec.substr(0, comma), 1, 100'000'000));
    PYX_TRY(b, parse_count("end", spec.substr(comma + 1), a, 100'000'000));
    return std::pair{static_cast<int>(a), static_cast<int>(b)};
  }
  PYX_TRY(centre, parse_count("line", spec, 1, 100'000'000));
  return std::pair{std::max(1, static_cast<int>(centre) - kListContext), static_cast<int>(centre) + kListContext};
}

Expected<std::string> run_list(Session& session, const ParsedArgs& args) {
  PYX_TRY(ctx, selected_frame(session));
  const PyFrame& f = ctx.frame();
  int current = f.line.value_or(f.code->first_line);
  PYX_TRY(range, list_range(args, current));
  SourceLines sources(&session.target());
  const auto* lines = sources.lines(f.code->filename);
  if (!lines)
    return fail(fmt::format("cannot read {}{}", f.code->filename,
                            session.target().is_live_local() ? " (as the process sees it)" : " on this host"));
  int last = std::min(range.second, static_cast<int>(lines->size()));
  if (args.has("--json")) {
    nlohmann::ordered_json out = {
        {"file", f.code->filename}, {"line", current}, {"lines", nlohmann::ordered_json::array()}};
    for (int n = range.first; n <= last; ++n)
      out["lines"].push_back(
          {{"number", n}, {"text", (*lines)[static_cast<std::size_t>(n - 1)]}, {"current", n == current}});
    return json_line(out);
  }
  std::string out;
  for (int n = range.first; n <= last; ++n)
    out += fmt::format("{}{:>5}    {}\n", n == current ? ">" : " ", n, (*lines)[static_cast<std::size_t>(n - 1)]);
  if (out.empty()) return fail(fmt::format("{} has only {} lines", f.code->filename, lines->size()));
  return out;
}

const std::vector<FlagSpec> kJsonOnly = {{"--json", false, "print one JSON object"}};

}  // namespace

std::vector<CommandDef> frame_commands() {
  return {
      {{"py-up", "Select an older Python frame",
        "Usage: py-up [N] [--json]\nSelect the Python frame N (default 1) levels older than the current one in the\n"
        "selected thread, and show it."},
       kJsonOnly,
       1,
       [](Session& s, const ParsedArgs& a) { return move(s, a, +1, a.has("--json")); }},
      {{"py-down", "Select a newer Python frame",
        "Usage: py-down [N] [--json]\nSelect the Python frame N (default 1) levels newer than the current one in the\n"
        "selected thread, and show it."},
       kJsonOnly,
       1,
       [](Session& s, const ParsedArgs& a) { return move(s, a, -1, a.has("--json")); }},
      {{"py-locals", "Show the local variables of the selected Python frame",
        "Usage: py-locals [--json]\nPrint `name = repr` for each bound local variable of the selected Python frame,\n"
        "arguments first (module and class bodies: their namespace)."},
       kJsonOnly,
       0,
       run_locals},
      {{"py-list", "List the source around the selected Python frame's line",
        "Usage: py-list [LINE | START,END] [--json]\n"
        "Show the source of the selected Python frame around its current line (marked\n"
        "with '>'), around LINE, or from START to END."},
       kJsonOnly,
       1,
       run_list},
  };
}

}  // namespace pyxray
