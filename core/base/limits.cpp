#include "base/limits.hpp"

#include <charconv>

#include <fmt/format.h>

namespace pyxray {
namespace {

const Limits kDefaults{};
const Limits* g_current = &kDefaults;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string known_names() {
  std::string out;
  for (const auto& info : limit_infos()) {
    if (!out.empty()) out += ", ";
    out += info.name;
  }
  return out;
}

Expected<int64_t> parse_value(const LimitInfo& info, std::string_view text) {
  std::string digits;
  for (char c : text)
    if (c != '_') digits += c;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || v < 1 || v > info.max)
    return fail(
        fmt::format("limit {} wants a number of {} from 1 to {}, not '{}'", info.name, info.unit, info.max, text));
  return v;
}

}  // namespace

const std::vector<LimitInfo>& limit_infos() {
  static const std::vector<LimitInfo> infos = {
#define PYX_LIMIT(member, name, def, max, unit, what) {name, &Limits::member, def, max, unit, what},
#include "base/limits.def"
#undef PYX_LIMIT
  };
  return infos;
}

const LimitInfo* find_limit(std::string_view name) {
  for (const auto& info : limit_infos())
    if (info.name == name) return &info;
  return nullptr;
}

Expected<void> apply_limits(Limits& limits, std::string_view assignments) {
  Limits staged = limits;
  std::size_t start = 0;
  while (start <= assignments.size()) {
    std::size_t comma = assignments.find(',', start);
    if (comma == std::string_view::npos) comma = assignments.size();
    std::string_view item = trim(assignments.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return fail(fmt::format("'{}' is not NAME=N (limits: {})", item, known_names()));
    std::string_view name = trim(item.substr(0, eq));
    const LimitInfo* info = find_limit(name);
    if (!info) return fail(fmt::format("no limit named '{}' (limits: {})", name, known_names()));
    PYX_TRY(value, parse_value(*info, trim(item.substr(eq + 1))));
    staged.*info->member = value;
  }
  limits = staged;
  return {};
}

const Limits& limits() { return *g_current; }

std::string raise_hint(std::string_view name) { return fmt::format("raise it with --max {}=N", name); }

LimitsScope::LimitsScope(const Limits& limits) : previous_(g_current) { g_current = &limits; }
LimitsScope::~LimitsScope() { g_current = previous_; }

}  // namespace pyxray
