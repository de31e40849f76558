// py-print NAME|ADDRESS: the repr of a variable of the selected frame or of the object at an address,
// decoded from memory (nothing runs in the target).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "commands/commands.hpp"
#include "commands/selected_frame.hpp"
#include "interp/locals.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "repr/repr.hpp"

namespace pyxray {
namespace {

// NAME as the selected Python frame sees it: a local, then a global, then a builtin.
Expected<std::string> print_name(Session& session, const std::string& name, bool json) {
  PYX_TRY(named, lookup_selected(session, name));
  const FrameContext& ctx = named.ctx;
  const NameLookup* found = &named.found;
  std::string repr = safe_repr(*ctx.proc, *ctx.objects, found->value);
  if (!json) return fmt::format("{} {} = {}\n", found->scope, name, repr);
  nlohmann::ordered_json j;
  j["name"] = name;
  j["scope"] = found->scope;
  j["address"] = found->value;
  j["type"] = ctx.objects->type_name(found->value).value_or("?");
  j["repr"] = repr;
  return json_line(j);
}

Expected<std::string> run_print(Session& session, const ParsedArgs& args) {
  if (args.positional.empty()) return fail("py-print wants a NAME or an ADDRESS (see help py-print)");
  if (!looks_like_address(args.positional[0])) return print_name(session, args.positional[0], args.has("--json"));
  PYX_TRY(addr, parse_address(args.positional[0]));
  PYX_TRY(proc, session.process());
  Objects objects(*proc);
  // A pointer that is not an object is an error here (one clear line), not a "<invalid ...>" repr.
  if (auto type = check_object(*proc, objects, addr); !type)
    return fail(fmt::format("0x{:x} is not a Python object: {}", addr, type.error().message));
  std::string repr = safe_repr(*proc, objects, addr);
  if (!args.has("--json")) return repr + "\n";
  nlohmann::ordered_json j;  // keys in the documented order
  j["address"] = addr;
  j["type"] = objects.type_name(addr).value_or("?");
  j["repr"] = repr;
  // ensure_ascii: the output is plain ASCII whatever the debugger's charset; bad bytes are replaced.
  return json_line(j);
}

}  // namespace

std::vector<CommandDef> print_commands() {
  return {
      {{"py-print", "Print a Python variable, or the object at an address",
        "Usage: py-print NAME|ADDRESS [--json]\n"
        "Print repr() of NAME as the selected Python frame sees it (a local, then a global, then a\n"
        "builtin), or of the object at ADDRESS (hex 0x... or decimal), decoded from memory without\n"
        "running code in the process. Long containers and strings are cut with \"...\"; an instance of a\n"
        "class shows its attributes, <module.Class(attr=value, ...) at 0x...> (a __repr__ of its own cannot\n"
        "run), or without any <module.Class object at 0x...>.\n"
        "--json prints {\"address\": N, \"type\": \"...\", \"repr\": \"...\"} (plus \"name\" and \"scope\" for a "
        "NAME)."},
       {{"--json", false, "print one JSON object instead of text"}},
       1,
       run_print},
  };
}

}  // namespace pyxray
