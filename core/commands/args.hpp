// Command-line parsing shared by every command: the same flags in gdb and LLDB.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

struct FlagSpec {
  std::string name;  // "--json"
  bool takes_value = false;
  std::string help;
  bool repeatable = false;  // given again, its values are joined with ','
};

struct ParsedArgs {
  std::map<std::string, std::string> flags;  // flag -> value ("" for switches)
  std::vector<std::string> positional;
  // Every value given to a flag, in order (`flags` keeps the last, or all joined for a repeatable
  // one): py-sample's -o may name several files, whose paths may hold commas.
  std::vector<std::pair<std::string, std::string>> values_given;
  bool has(const std::string& flag) const { return flags.contains(flag); }
  std::optional<std::string> value(const std::string& flag) const;
};

// Splits like a shell: whitespace separates, quotes group, backslash escapes.
Expected<std::vector<std::string>> tokenize(std::string_view line);
Expected<ParsedArgs> parse_args(std::string_view command, std::string_view line, const std::vector<FlagSpec>& specs,
                                std::size_t max_positional);
Expected<long long> parse_count(std::string_view flag, std::string_view text, long long min, long long max);

}  // namespace pyxray
