// Why an object is alive: the shortest chains of references from a root (a module global, a frame
// local, a class attribute, an interned string) to it, found by a backward breadth-first search, one
// heap walk per step, that keeps only the current frontier and what it has visited. No reverse graph
// of the heap is built (millions of objects x their references would not fit in the debugger), and
// no forward search from the roots (it would read the whole heap at random).
//
// Several targets can be searched for at once (py-heap-diff's leak suspects): each frontier entry
// remembers which target it leads to, so one walk per step serves them all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

struct HeapContext;

struct PathRoot {
  enum class Kind { Global, Local, Class, Interned, Frozen };
  Kind kind = Kind::Global;
  std::string module;  // "leakapp" for a global or class attribute; "" otherwise
  std::string name;    // "CACHE", "Widget.registry", a local's name; "" for an interned str
  // What holds the root object, and under which name, as Python would write them: "sys.modules['leakapp']"
  // and "CACHE"; "thread 1234 frame main" and "x"; "sys.intern" and "('text')"; "gc.freeze()d " and
  // "<list 0x7f...>".
  std::string holder, attr;
  std::string legacy;  // py-referrers' text without --path: "leakapp.CACHE", "thread 1234 frame main: x"
};

const char* root_kind_name(PathRoot::Kind k);  // "global", "local", "class", "interned", "frozen"

struct HeapPath {
  std::size_t target = 0;  // index of the target in the list asked for
  PathRoot root;
  std::vector<uint64_t> objects;  // the root's object first, the target last
};

struct PathSearch {
  int max_depth = 12;
  std::size_t max_chains = 5;   // per target
  std::size_t max_direct = 20;  // direct referrers remembered per target
  // Class attributes (a heap type's __dict__ reached from a module) and interned strings end chains
  // too, and an object no root reaches is explained by the gc.freeze()d objects that hold it (if
  // any). Off, the search is py-referrers' original one (globals and locals only).
  bool more_roots = false;
};

struct PathSearchResult {
  std::vector<HeapPath> chains;               // shortest first, per target in the order found
  std::vector<std::vector<uint64_t>> direct;  // per target: what refers to it directly
  int depth = 0;                              // steps searched
  bool heap_walked = true;                    // false: a heap pyxray does not walk, locals only
  bool interrupted = false;
  std::vector<std::string> warnings;
};

Expected<PathSearchResult> find_paths(HeapContext& ctx, const std::vector<uint64_t>& targets, const PathSearch& opt);

// Where `holder` keeps its reference to `held`, as Python would reach it: "[3]" (a list or tuple
// item), "['key']" (a dict value, the key's repr bounded), "(key)" (a dict key), "(member)" (a set's),
// ".name" (an instance attribute or slot), ".__dict__", ".cell_contents", ".__func__", ".__self__";
// "" when the holder's layout is not modelled (the heap walk scanned it for pointers).
std::string edge_label(HeapContext& ctx, uint64_t holder, uint64_t held);

}  // namespace pyxray
