// The garbage collector's object lists: where each interpreter keeps its generation heads, and how a
// PyGC_Head is read in each version (tracked or not, the list links without their flag bits).
//
//   2.7, 3.6   _PyGC_generation0 (exported) points at generations[0]; the three heads are contiguous
//   3.7, 3.8   _PyRuntime.gc.generations[3] + gc.permanent_generation
//   3.9-3.15   interp->gc.generations[3] + gc.permanent_generation, per interpreter
//   3.14.0-4   interp->gc.young, gc.old[2] (same offsets as generations[3]) + gc.permanent_generation,
//              with gc.visited_space saying which old space this round has visited
//
// Up to 3.7 PyGC_Head is {gc_next, gc_prev, gc_refs} padded to 32 bytes (a long double union) and an
// untracked object has gc_refs == -2 (shifted left by one in 3.x, whose low bit is "finalized");
// from 3.8 it is {_gc_next, _gc_prev} (16 bytes), _gc_next == 0 when untracked, _gc_prev's low two
// bits are flags and _gc_next's low bit marks unreachable objects during a collection.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;

struct GcLists {
  std::vector<uint64_t> heads;  // PyGC_Head of every generation list (and permanent generation)
  // The generation each head in `heads` holds, as an index into the version's gc_list_names: 0-2 the
  // generations block (Incremental314: 0 young, 1 the visited old space, 2 the pending one), 3 permanent.
  std::vector<uint8_t> head_generation;
  std::vector<uint64_t> permanent;  // the permanent generation's heads among them (gc.freeze(), 3.7+)
  int visited_space = -1;           // Incremental314: the main interpreter's gc.visited_space (0 or 1), else -1
  uint64_t head_size = 16;          // sizeof(PyGC_Head): the object follows it
  bool refs_field = false;          // <= 3.7: tracked-ness is in gc_refs
  int refs_shift = 0;               // 3.6/3.7: gc_refs holds the count shifted left by one
  std::vector<std::string> warnings;

  bool tracked(std::span<const std::byte> head) const;
  static uint64_t next(std::span<const std::byte> head);
  static uint64_t prev(std::span<const std::byte> head);
  // Whether prev() is a list link now: during a collection (3.8+) _gc_prev holds a reference count.
  bool prev_is_link(std::span<const std::byte> head) const;
  bool is_head(uint64_t addr) const;
};

// The generation heads of every interpreter (bounded); an error only when none can be found.
Expected<GcLists> gc_lists(PythonProcess& proc);

}  // namespace pyxray
