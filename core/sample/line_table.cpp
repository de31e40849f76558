#include "sample/line_table.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "report/source_lines.hpp"

namespace pyxray {
namespace {

constexpr std::size_t kTopLines = 30;
constexpr std::size_t kFunctionBlocks = 8;
constexpr int kLongestListing = 300;  // a longer function is shown around its sampled lines only
constexpr int kContext = 3;

std::string share(uint64_t part, uint64_t whole) {
  return whole ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "-";
}

std::size_t indent_of(const std::string& line) {
  std::size_t n = 0;
  for (char c : line) {
    if (c == ' ') ++n;
    else if (c == '\t') n = n / 8 * 8 + 8;
    else break;
  }
  return n;
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\f") == std::string::npos; }

// The last line of a function whose code starts at `first` and has samples down to `last_sampled`:
// Python has no end marker, so the body is taken to go on while lines are blank or indented deeper
// than the function's first line (its `def` or first decorator). A guess, but only for the lines
// after the last sampled one, which the listing shows for context.
int function_end(const std::vector<std::string>& lines, int first, int last_sampled) {
  const int count = static_cast<int>(lines.size());
  if (first < 1 || first > count) return std::min(last_sampled, count);
  const std::size_t base = indent_of(lines[first - 1]);
  int end = std::max(first, std::min(last_sampled, count));
  for (int i = end + 1; i <= count; ++i) {
    const std::string& l = lines[i - 1];
    if (blank(l)) continue;
    if (indent_of(l) <= base) break;
    end = i;
  }
  return end;
}

}  // namespace

std::string line_view_summary(const LineCosts& costs, const LineViewInfo& info) {
  return fmt::format("{} samples over {:.2f} s (mean interval {:.3f} ms), mode {}", costs.samples, info.seconds,
                     info.interval * 1e3, info.mode);
}

std::vector<std::pair<int, int>> line_windows(const std::vector<int>& lines, int context, int line_count) {
  std::vector<std::pair<int, int>> out;
  for (int l : lines) {
    const int first = std::max(1, l - context), last = std::min(line_count, l + context);
    if (first > last) continue;
    if (!out.empty() && first <= out.back().second + 1) out.back().second = std::max(out.back().second, last);
    else out.emplace_back(first, last);
  }
  return out;
}

std::string line_table(const LineCosts& costs, SourceLines& sources, const LineViewInfo& info) {
  std::string out = fmt::format("py-sample lines: {}\n", line_view_summary(costs, info));
  if (!info.title.empty()) out += info.title + "\n";
  out += "\n";
  if (costs.lines.empty()) {
    out += "no samples with a Python line\n";
    return out;
  }

  // The top lines by own samples; the location and function columns as wide as their longest entry.
  std::vector<const LineCost*> rows;
  for (const auto& l : costs.lines) {
    if (l.own == 0 || rows.size() == kTopLines) break;
    rows.push_back(&l);
  }
  std::size_t where_width = 4, function_width = 8;
  for (const LineCost* l : rows) {
    where_width = std::max(where_width, l->file.size() + 1 + fmt::formatted_size("{}", l->line));
    function_width = std::max(function_width, l->function.size());
  }
  std::set<std::string> unreadable;
  out += fmt::format("top lines by own samples:\n{:>7} {:>6} {:>7} {:>6}  {:<{}}  {:<{}}  {}\n", "Own", "Own%", "Total",
                     "Total%", "Line", where_width, "Function", function_width, "Line Contents");
  for (const LineCost* l : rows) {
    auto text = sources.line(l->file, l->line);
    if (!text) unreadable.insert(l->file);
    std::string contents = text ? printable_source_line(*text) : "-";
    if (l->own_in_native) contents += fmt::format("  ({} in native code)", l->own_in_native);
    out += fmt::format("{:>7} {:>6} {:>7} {:>6}  {:<{}}  {:<{}}  {}\n", l->own, share(l->own, costs.samples), l->total,
                       share(l->total, costs.samples), fmt::format("{}:{}", l->file, l->line), where_width, l->function,
                       function_width, contents);
  }
  for (const auto& f : unreadable) out += fmt::format("source not readable: {}\n", f);
  std::set<std::string> shown;
  for (const LineCost* l : rows)
    if (!unreadable.count(l->file) && shown.insert(l->file).second && info.changed && info.changed(l->file))
      out += fmt::format("{}: {}\n", kChangedNote, l->file);

  // Per hot function, line_profiler's listing: every line of the function (around its sampled lines
  // when it is long or is a module), blank where nothing was sampled, % Own of the function's own.
  std::size_t blocks = 0;
  for (const auto& fn : costs.functions) {
    if (fn.own == 0 || blocks == kFunctionBlocks) break;
    ++blocks;
    out += fmt::format("\nFunction: {} at line {}\nFile: {}\nOwn: {} sample{} ({}), total {} ({})\n\n", fn.function,
                       fn.first_line, fn.file, fn.own, fn.own == 1 ? "" : "s", share(fn.own, costs.samples), fn.total,
                       share(fn.total, costs.samples));
    if (info.changed && info.changed(fn.file)) out += fmt::format("{}\n\n", kChangedNote);
    const std::string header =
        fmt::format("{:>7} {:>9} {:>9} {:>7}  {}", "Line #", "Own", "Total", "% Own", "Line Contents");
    out += header + "\n" + std::string(header.size() + 20, '=') + "\n";
    std::vector<int> sampled;
    for (const auto& [line, c] : fn.lines) sampled.push_back(line);
    const auto* all = sources.lines(fn.file);
    auto row = [&](int line, const std::string& contents) {
      auto it = fn.lines.find(line);
      if (it == fn.lines.end()) {
        out += fmt::format("{:>7} {:>9} {:>9} {:>7}  {}\n", line, "", "", "", contents);
        return;
      }
      out += fmt::format("{:>7} {:>9} {:>9} {:>7}  {}\n", line, it->second.own ? fmt::format("{}", it->second.own) : "",
                         it->second.total, it->second.own ? share(it->second.own, fn.own) : "", contents);
    };
    if (!all) {
      out += fmt::format("source not readable: {}\n", fn.file);
      for (int line : sampled) row(line, "");
      continue;
    }
    const int count = static_cast<int>(all->size());
    const int first = std::max(1, fn.first_line);
    const int end = function_end(*all, fn.first_line, sampled.empty() ? first : sampled.back());
    std::vector<std::pair<int, int>> ranges;
    if (fn.first_line >= 1 && fn.function != "<module>" && end - first < kLongestListing &&
        (sampled.empty() || sampled.front() >= first))
      ranges.emplace_back(first, end);
    else ranges = line_windows(sampled, kContext, count);
    for (std::size_t r = 0; r < ranges.size(); ++r) {
      if (r) out += fmt::format("{:>7}\n", "...");
      for (int line = ranges[r].first; line <= ranges[r].second; ++line)
        row(line, line <= count ? printable_source_line((*all)[line - 1]) : "");
    }
  }
  return out;
}

}  // namespace pyxray
