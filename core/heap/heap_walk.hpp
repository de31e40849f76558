// Every live object of the target, enumerated from outside without following every pointer:
//
//  (a) pymalloc: each arena's carved pools are read in one remote read; a block is live when it is
//      below its pool's nextoffset and not on the pool's free list (a freed block keeps a stale
//      ob_type), and it is an object when it validates: plausible refcount, a known type, the object
//      at the offset its type's GC head and pre-header put it, and an allocation size that fits the
//      block's size class (exactly, for fixed-size types);
//  (b) GC objects outside the arenas (big tuples, frames, types, PYTHONMALLOC=malloc): reached along
//      the GC lists from the generation heads and from every arena object whose list neighbour lies
//      outside the arenas, following links only through out-of-arena nodes;
//  (c) non-GC objects outside the arenas (big str/bytes/int, static objects): reached by reference
//      from (a), (b) and the roots (every thread's frame locals, the interpreters' dicts), validated
//      before they count.
//
// Memory is read arena by arena (never the whole heap at once); references to arrays elsewhere
// (list items, dict keys) are queued and served arena by arena too. Everything is bounded (objects,
// time) and a damaged heap gives a partial walk with warnings.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/expected.hpp"
#include "base/limits.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
class TypeCache;
class ObjectSizer;
class Referents;
struct TypeInfo;

struct HeapObject {
  enum class Where : uint8_t { Arena, GcList, Reference };
  uint64_t addr = 0;
  const TypeInfo* type = nullptr;
  uint64_t size = 0;  // sys.getsizeof
  Where where = Where::Arena;
  uint32_t ordinal = 0;  // the order it was found in: 0, 1, 2, ... within one walk
  // Its PyGC_Head's _gc_next as read, flag bits and all, when the collector tracks it; 0 when it does
  // not or the type is not a GC type. The head is right before the object (gc_generations.hpp).
  uint64_t gc_next = 0;
};

using ProgressFn = std::function<void(std::string_view)>;

struct HeapWalkOptions {
  std::function<void(const HeapObject&)> on_object;
  // References whose target is in `edge_targets` are reported to on_edge(referrer, target).
  const std::unordered_set<uint64_t>* edge_targets = nullptr;
  std::function<void(uint64_t src, uint64_t dst)> on_edge;
  ProgressFn progress;
  uint64_t max_objects = static_cast<uint64_t>(limits().heap_objects);
  double max_seconds = static_cast<double>(limits().heap_seconds);
  std::size_t max_outside = static_cast<std::size_t>(limits().outside_objects);  // objects outside the arenas
};

struct HeapWalkStats {
  uint64_t objects = 0;
  uint64_t bytes = 0;
  std::string allocator;  // "pymalloc", or what else and what that means for the walk
  bool pymalloc = false;  // the arenas were walked
  uint64_t arenas = 0;
  uint64_t in_arenas = 0;     // objects found in pymalloc blocks
  uint64_t gc_outside = 0;    // GC-tracked objects outside the arenas
  uint64_t by_reference = 0;  // other objects outside the arenas, found by reference
  uint64_t remote_reads = 0;
  uint64_t bytes_read = 0;
  double seconds = 0;
  bool partial = false;  // a bound was hit or memory was unreadable: some objects may be missing
  // The process exited or was killed during the walk: the walk stopped at the first read that found
  // it gone, and counts only what was read before (partial, and true as far as it goes).
  bool target_gone = false;
  // The user interrupted the command (core/base/interrupt.hpp): the walk ended early (partial).
  bool interrupted = false;
  std::vector<std::string> warnings;
};

// Where the references that hold objects without another object come from, and how to name them.
struct HeapRoots {
  struct Local {
    uint64_t value = 0;
    std::string label;  // "thread 1234 frame main: x"
  };
  std::vector<Local> frame_locals;
  std::unordered_map<uint64_t, std::string> module_dicts;  // a module's __dict__ -> the module's name
  std::vector<uint64_t> others;                            // interpreter dicts, frames' globals
  std::vector<std::string> warnings;
};
HeapRoots heap_roots(PythonProcess& proc, Objects& objects);

class HeapWalker {
 public:
  HeapWalker(PythonProcess& proc, Objects& objects, TypeCache& types, ObjectSizer& sizer, Referents& refs);
  ~HeapWalker();
  HeapWalker(const HeapWalker&) = delete;
  HeapWalker& operator=(const HeapWalker&) = delete;

  // One walk over the heap. An error only when nothing can be walked at all.
  Expected<HeapWalkStats> run(const HeapWalkOptions& options);

 private:
  struct Impl;
  PythonProcess& proc_;
  Objects& objects_;
  TypeCache& types_;
  ObjectSizer& sizer_;
  Referents& refs_;
};

}  // namespace pyxray
