// The registry that maps command names to their implementations (one cmd_*.cpp file each).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "commands/args.hpp"
#include "commands/session.hpp"

namespace pyxray {

struct CommandDef {
  CommandInfo info;
  std::vector<FlagSpec> flags;
  std::size_t max_positional = 0;
  std::function<Expected<std::string>(Session&, const ParsedArgs&)> run;
};

const std::vector<CommandDef>& command_defs();

// Each command file provides its definitions.
std::vector<CommandDef> bt_commands();
std::vector<CommandDef> print_commands();
std::vector<CommandDef> layout_commands();
std::vector<CommandDef> frame_commands();
std::vector<CommandDef> sample_commands();
std::vector<CommandDef> sample_diff_commands();
std::vector<CommandDef> heap_commands();
std::vector<CommandDef> heap_diff_commands();
std::vector<CommandDef> lock_commands();
std::vector<CommandDef> task_commands();
std::vector<CommandDef> arenas_commands();
std::vector<CommandDef> limits_commands();

}  // namespace pyxray
