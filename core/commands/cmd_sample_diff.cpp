// py-sample-diff: two folded profiles compared, BASE before and NEW after: a differential flame graph
// (Brendan Gregg's: NEW's widths, frames red where their own samples grew, blue where they shrank)
// and the functions whose share of the samples changed most. It reads files only: no process needed.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "commands/commands.hpp"
#include "commands/output_file.hpp"
#include "sample/flamegraph_svg.hpp"
#include "sample/folded_reader.hpp"
#include "sample/sample_diff.hpp"

namespace pyxray {
namespace {

using json = nlohmann::ordered_json;

constexpr long long kDefaultTop = 8;
constexpr const char* kCommand = "py-sample-diff";

// Counts are whole numbers unless a file had fractions: JSON shows them as the files do.
json number_json(double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) return static_cast<int64_t>(v);
  return v;
}

std::string count_text(double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:.1f}", v);
}

std::string share_text(double part, double whole) {
  return fmt::format("{:.1f}%", whole > 0 ? 100.0 * part / whole : 0.0);
}

std::string change_text(double points) {
  return fmt::format("{:+.1f}%", std::abs(points) < kShownChange ? 0.0 : points);
}

std::string function_text(const FunctionChange& f) {
  return f.file.empty() ? f.function : fmt::format("{} ({})", f.function, f.file);
}

// -o names the flame graph; nothing else is written, so only .svg is right.
Expected<std::optional<std::string>> output_of(const ParsedArgs& args) {
  std::optional<std::string> path;
  for (const auto& [flag, value] : args.values_given) {
    if (flag != "-o" && flag != "--output") continue;
    if (path) return fail(fmt::format("{}: -o names one file, the differential flame graph (.svg)", kCommand));
    path = value;
  }
  if (!path) return path;
  if (path->empty()) return fail(fmt::format("{}: -o wants a file name", kCommand));
  std::string name = std::filesystem::path(*path).filename().string();
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!(name.ends_with(".svg") && name.size() > 4))
    return fail(fmt::format("{}: -o writes a differential flame graph: name it .svg, not '{}'", kCommand, *path));
  return path;
}

std::string summary(const FoldedProfile& base, const FoldedProfile& now, const SampleDiff& d,
                    const DiffOptions& options, const std::optional<std::string>& output, std::size_t top) {
  std::string out;
  std::string scaled;
  if (!options.normalize) scaled = "counts not scaled: --no-normalize";
  else if (d.scale == 1) scaled = "the same number of samples";
  else scaled = fmt::format("BASE scaled x{:.3f}", d.scale);
  out += fmt::format("{}: BASE {} {} samples, NEW {} {} samples ({})\n", kCommand, base.name,
                     count_text(d.base_samples), now.name, count_text(d.new_samples), scaled);
  if (output)
    out += fmt::format("wrote differential flame graph to {} (widths: {}; red: more own samples in NEW, blue: fewer)\n",
                       *output, options.negate ? "BASE" : "NEW");
  bool any = false;
  for (bool by_total : {false, true}) {
    const auto rows = top_changes(d, by_total, top);
    if (rows.empty()) continue;
    any = true;
    out += fmt::format("top changes by {} time (share of samples, BASE -> NEW):\n", by_total ? "total" : "own");
    out += fmt::format("  {:>6}  {:>6}  {:>7}  function\n", "base", "new", "change");
    for (const FunctionChange* f : rows) {
      const double b = by_total ? f->base_total : f->base_own, n = by_total ? f->new_total : f->new_own;
      out += fmt::format("  {:>6}  {:>6}  {:>7}  {}\n", f->in_base() ? share_text(b, d.base_samples) : "-",
                         f->in_new() ? share_text(n, d.new_samples) : "-",
                         change_text(by_total ? f->total_change : f->own_change), function_text(*f));
    }
  }
  if (!any) out += "no function's share of own or total time changed by 0.1% or more\n";
  // Functions that appear or vanish, by their share of total time in the profile they are in.
  for (bool appeared : {true, false}) {
    std::vector<const FunctionChange*> rows;
    for (const auto& f : d.functions)
      if (appeared ? !f.in_base() : !f.in_new()) rows.push_back(&f);
    if (rows.empty()) continue;
    std::stable_sort(rows.begin(), rows.end(), [appeared](const FunctionChange* a, const FunctionChange* b) {
      return appeared ? a->new_total > b->new_total : a->base_total > b->base_total;
    });
    std::string list;
    for (std::size_t i = 0; i < rows.size() && i < top; ++i)
      list += fmt::format(
          "{}{} {}", list.empty() ? "" : ", ", function_text(*rows[i]),
          appeared ? share_text(rows[i]->new_total, d.new_samples) : share_text(rows[i]->base_total, d.base_samples));
    if (rows.size() > top) list += fmt::format(", and {} more", rows.size() - top);
    out += fmt::format("{}: {}\n", appeared ? "new in NEW" : "gone from NEW", list);
  }
  return out;
}

json function_json(const FunctionChange& f) {
  return {{"function", f.function},
          {"file", f.file},
          {"base_own", number_json(f.base_own)},
          {"new_own", number_json(f.new_own)},
          {"base_total", number_json(f.base_total)},
          {"new_total", number_json(f.new_total)},
          {"own_change", f.own_change},
          {"total_change", f.total_change}};
}

std::string summary_json(const FoldedProfile& base, const FoldedProfile& now, const SampleDiff& d,
                         const DiffOptions& options, const std::optional<std::string>& output) {
  json j;
  j["base"] = {{"file", base.name}, {"samples", number_json(base.total)}, {"stacks", base.stacks.size()}};
  j["new"] = {{"file", now.name}, {"samples", number_json(now.total)}, {"stacks", now.stacks.size()}};
  j["normalized"] = options.normalize;
  j["scale"] = d.scale;
  j["negate"] = options.negate;
  json changes = json::array(), new_only = json::array(), gone = json::array();
  for (const auto& f : d.functions) {
    if (std::abs(f.own_change) >= kShownChange || std::abs(f.total_change) >= kShownChange)
      changes.push_back(function_json(f));
    if (!f.in_base())
      new_only.push_back({{"function", f.function},
                          {"file", f.file},
                          {"own", number_json(f.new_own)},
                          {"total", number_json(f.new_total)}});
    if (!f.in_new())
      gone.push_back({{"function", f.function},
                      {"file", f.file},
                      {"own", number_json(f.base_own)},
                      {"total", number_json(f.base_total)}});
  }
  j["changes"] = std::move(changes);
  j["new_only"] = std::move(new_only);
  j["gone"] = std::move(gone);
  json outputs = json::array();
  if (output) outputs.push_back({{"file", *output}, {"format", "svg"}});
  j["outputs"] = std::move(outputs);
  return json_line(j);
}

Expected<std::string> run_sample_diff(Session&, const ParsedArgs& args) {
  if (args.positional.size() != 2)
    return fail(fmt::format("{} wants two folded profiles, BASE and NEW (see 'help {}')", kCommand, kCommand));
  DiffOptions options;
  options.normalize = !args.has("--no-normalize");
  options.negate = args.has("--negate");
  std::size_t top = kDefaultTop;
  if (auto v = args.value("--top")) {
    PYX_TRY(n, parse_count("--top", *v, 1, 1'000'000));
    top = static_cast<std::size_t>(n);
  }
  PYX_TRY(output, output_of(args));
  // The output is opened, and both inputs are read whole and judged, before anything is written: a
  // bad input leaves no file behind (and an existing one as it was).
  std::optional<OutputFile> file;
  if (output) {
    PYX_TRY(opened, OutputFile::open(kCommand, *output));
    file.emplace(std::move(opened));
  }
  std::vector<FoldedProfile> profiles;
  for (const auto& path : args.positional) {
    auto p = read_folded_file(path);
    if (!p) return fail(fmt::format("{}: {}", kCommand, p.error().message));
    profiles.push_back(std::move(*p));
  }
  const FoldedProfile& base = profiles[0];
  const FoldedProfile& now = profiles[1];
  const SampleDiff d = diff_profiles(base, now, options);
  if (file) {
    FlameGraphInfo info;
    info.title = "py-sample-diff";
    info.subtitle =
        fmt::format("{} ({} samples) \u2192 {} ({} samples), widths of {}; red: more own samples in NEW, blue: fewer{}",
                    base.name, count_text(base.total), now.name, count_text(now.total), options.negate ? "BASE" : "NEW",
                    options.normalize ? fmt::format(" (BASE scaled x{:.3f})", d.scale) : "");
    if (auto w = file->write(flamegraph_svg(diff_flame_tree(base, now, options), info)); !w)
      return fail(fmt::format("{}: {}", kCommand, w.error().message));
  }
  if (args.has("--json")) return summary_json(base, now, d, options, output);
  return summary(base, now, d, options, output, top);
}

}  // namespace

std::vector<CommandDef> sample_diff_commands() {
  CommandDef def{
      {kCommand, "Compare two py-sample profiles: a differential flame graph and the top changes",
       "Usage: py-sample-diff BASE.folded NEW.folded [-o DIFF.svg] [--no-normalize] [--negate] [--top N] [--json]\n"
       "Compare two profiles in folded stacks (py-sample -o X.folded; py-spy's and FlameGraph's are the same\n"
       "format), BASE before and NEW after. Needs no process: it reads the two files only. -o writes a\n"
       "differential flame graph (Brendan Gregg's): NEW's stacks at NEW's widths, each frame coloured by the\n"
       "change of its own samples, red where they grew, blue where they shrank, white where unchanged, the\n"
       "deeper the larger; hover shows both counts. BASE is scaled to NEW's number of samples first\n"
       "(--no-normalize compares raw counts). --negate draws BASE's widths instead, so that stacks gone\n"
       "from NEW show (in blue); colours keep their meaning. The summary lists the functions whose share of\n"
       "own and of total time changed most (--top N, default 8), and the functions new in NEW or gone\n"
       "from it. --json prints every change as one JSON object:\n"
       "{\"base\": {\"file\", \"samples\", \"stacks\"}, \"new\": {...}, \"scale\", \"changes\": [{\"function\", "
       "\"file\", \"base_own\", \"new_own\", \"base_total\", \"new_total\", \"own_change\", \"total_change\"}], "
       "\"new_only\": [...], \"gone\": [...], \"outputs\": [...]}.",
       /*needs_process=*/false},
      {{"-o", true, "the differential flame graph to write (.svg)"},
       {"--output", true, "same as -o"},
       {"--no-normalize", false, "compare raw counts: do not scale BASE to NEW's number of samples"},
       {"--negate", false, "draw BASE's widths (what is gone shows) instead of NEW's"},
       {"--top", true, "list at most N functions per table (default 8)"},
       {"--json", false, "print the summary as one JSON object"}},
      2,
      run_sample_diff};
  return {std::move(def)};
}

}  // namespace pyxray
