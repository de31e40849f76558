// The bounds on every walk over target memory, as values a user can raise (core/base/limits.def lists
// them). A command reads the limits in force through limits(); the session installs its own values,
// plus the command's `--max NAME=N`, for the length of one command.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

struct Limits {
#define PYX_LIMIT(member, name, def, max, unit, what) int64_t member = def;
#include "base/limits.def"
#undef PYX_LIMIT
};

struct LimitInfo {
  std::string_view name;
  int64_t Limits::*member;
  int64_t default_value;
  int64_t max;
  std::string_view unit;
  std::string_view what;
};

// In the order of limits.def.
const std::vector<LimitInfo>& limit_infos();
const LimitInfo* find_limit(std::string_view name);

// Applies "NAME=N[,NAME=N...]" (digits may be grouped with '_'); a limit can be set from 1 to its
// maximum. Nothing is changed when any assignment is wrong.
Expected<void> apply_limits(Limits& limits, std::string_view assignments);

// The limits in force for the command that is running.
const Limits& limits();

// What a message adds when a walk stops at a limit: "raise it with --max threads=N".
std::string raise_hint(std::string_view name);

// Installs `limits` until destroyed (a command's duration); scopes nest.
class LimitsScope {
 public:
  explicit LimitsScope(const Limits& limits);
  ~LimitsScope();
  LimitsScope(const LimitsScope&) = delete;
  LimitsScope& operator=(const LimitsScope&) = delete;

 private:
  const Limits* previous_;
};

}  // namespace pyxray
