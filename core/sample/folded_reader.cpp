#include "sample/folded_reader.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

namespace pyxray {
namespace {

constexpr const char* kHint = "give folded stacks, as py-sample -o X.folded writes them";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// What the start of a file that is no text profile looks like, for the message; "" when nothing
// recognisable.
std::string_view looks_like(std::string_view text) {
  if (text.starts_with("\x1f\x8b")) return "gzip data (a pprof profile?)";
  if (text.starts_with("{")) return "JSON (a speedscope profile?)";
  if (text.starts_with("<?xml") || text.starts_with("<svg")) return "XML (a flame graph SVG?)";
  return "";
}

// The count at the end of a line: \d+(\.\d*)?, parsed without the locale (a debugger may have set
// one whose decimal point is a comma).
std::optional<double> count_of(std::string_view token) {
  std::size_t digits = 0;
  while (digits < token.size() && token[digits] >= '0' && token[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  if (digits < token.size()) {
    if (token[digits] != '.') return std::nullopt;
    for (std::size_t i = digits + 1; i < token.size(); ++i)
      if (token[i] < '0' || token[i] > '9') return std::nullopt;
  }
  std::string text(token);
  if (text.back() == '.') text.pop_back();  // "12." is twelve
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

Expected<FoldedProfile> parse_folded(std::string_view text, const std::string& name) {
  auto not_profile = [&](std::size_t line, std::string_view why) {
    return fail(fmt::format("{} is not a profile (line {}: {}): {}", name, line, why, kHint));
  };
  FoldedProfile out;
  out.name = name;
  std::size_t line_no = 0;
  bool any_text = false;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    if (line.empty()) continue;
    any_text = true;
    if (line.front() == '#') continue;
    std::size_t space = line.size();
    while (space > 0 && !is_space(line[space - 1])) --space;
    std::optional<double> count;
    if (space > 0) count = count_of(line.substr(space));
    if (!count) {
      // Only a line that is no stack is judged by its looks: "<module> (...)" starts a stack.
      std::string_view what = out.stacks.empty() ? looks_like(line) : "";
      return not_profile(line_no, what.empty() ? "no sample count at the end" : what);
    }
    std::string_view stack = line.substr(0, space);
    while (!stack.empty() && is_space(stack.back())) stack.remove_suffix(1);
    FoldedStack s;
    s.count = *count;
    for (std::size_t from = 0;;) {
      std::size_t semi = stack.find(';', from);
      s.frames.emplace_back(stack.substr(from, semi == std::string_view::npos ? std::string_view::npos : semi - from));
      if (semi == std::string_view::npos) break;
      from = semi + 1;
    }
    out.total += s.count;
    out.stacks.push_back(std::move(s));
  }
  if (!any_text) return fail(fmt::format("{} is empty: {}", name, kHint));
  if (out.stacks.empty()) return fail(fmt::format("{} has no stacks, only comments: {}", name, kHint));
  if (out.total <= 0) return fail(fmt::format("{} has no samples: every count is 0", name));
  return out;
}

Expected<FoldedProfile> read_folded_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    return fail(fmt::format("cannot read {}: {}", path, std::strerror(ENOENT)));
  if (std::filesystem::is_directory(status)) return fail(fmt::format("cannot read {}: it is a directory", path));
  // A device or a pipe could be endless (/dev/zero): a profile is a file.
  if (!std::filesystem::is_regular_file(status)) return fail(fmt::format("cannot read {}: not a regular file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno ? errno : EACCES)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(fmt::format("cannot read {}: read error", path));
  return parse_folded(text.view(), path);
}

FoldedFunction function_of_frame(std::string_view frame) {
  // The file is in the last parentheses, after a space, closing the frame: a native symbol's own
  // parentheses ("f(int) (libx.so)") come before them.
  if (frame.ends_with(')')) {
    if (std::size_t open = frame.rfind(" ("); open != std::string_view::npos && open > 0) {
      std::string_view file = frame.substr(open + 2, frame.size() - open - 3);
      // "file:line": the line is digits after the last ':'.
      if (std::size_t colon = file.rfind(':');
          colon != std::string_view::npos && colon + 1 < file.size() &&
          file.find_first_not_of("0123456789", colon + 1) == std::string_view::npos)
        file = file.substr(0, colon);
      return {std::string(frame.substr(0, open)), std::string(file)};
    }
  }
  return {std::string(frame), ""};
}

}  // namespace pyxray
