// py-referrers --path: a chain of references from a root to an object as one line of Python-like
// text (`sys.modules['leakapp'].CACHE['k'] -> list[3] -> <leakapp.Widget 0x7f...>`), the root as
// JSON, and the chains as a Graphviz graph in the manner of objgraph's show_backrefs (the target red,
// the nodes darker the further they are from it).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "heap/heap_paths.hpp"

namespace pyxray {

struct PathStep {
  uint64_t address = 0;
  std::string type;  // "list", "leakapp.Widget"
  std::string edge;  // where this object holds the next one ("[3]", "['k']", ".attr"); "" if unknown or last
  std::string repr;  // a short repr, for the graph
};

// A chain read from the target, ready to print: the root's object first, the target last.
struct PathView {
  PathRoot root;
  std::vector<PathStep> steps;
};

struct HeapContext;

// A chain found by find_paths, read from the target: each object's type and where it holds the next
// (edge_label), with a short repr of each when `with_repr` (for the graph).
PathView read_path_view(HeapContext& ctx, const HeapPath& chain, bool with_repr);

// The root alone: "sys.modules['leakapp'].CACHE", "sys.modules['app'].Widget.registry",
// "thread 1234 frame main: x", "sys.intern('key')".
std::string root_expression(const PathRoot& root);

// The whole chain on one line. Each object after the root's is its type followed by where it holds
// the next ("list[3]"); an instance's or class's ".__dict__ -> dict['x']" reads ".x"; the target ends
// it as "<type 0xADDR>". A chain of one object (the root is the target): "EXPR is <type 0xADDR>".
std::string path_expression(const PathView& path);

// {"kind": "global", "module": "leakapp", "name": "CACHE"} (module and name null when they do not apply).
nlohmann::ordered_json path_root_json(const PathRoot& root);

// A digraph of every chain (shared objects drawn once).
std::string paths_dot(const std::vector<PathView>& paths);

// A Graphviz quoted string: the quote and the backslash escaped, a line break as \n, other control
// characters as spaces.
std::string dot_quote(std::string_view s);

// The identifier a dict-value label names: "['registry']" -> "registry"; "" when the key is not a
// str that is an identifier (then ".__dict__ -> dict[...]" stays as it is).
std::string identifier_key(std::string_view edge);

}  // namespace pyxray
