// pymalloc's view of the heap, read from the target the way sys._debugmallocstats() computes it inside
// the process: every allocated arena, every pool carved from it, per size class the pools in use, the
// blocks in use and the blocks still available. Nothing runs in the target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;

struct PymallocClass {
  unsigned index = 0;  // size class index (szidx)
  uint64_t size = 0;   // block size in bytes
  uint64_t pools = 0;  // pools of this class holding at least one block
  uint64_t blocks_in_use = 0;
  uint64_t blocks_available = 0;  // free blocks in those pools (free list + never used)
};

struct PymallocStats {
  // Which object allocator the process uses ("pymalloc", "pymalloc_debug", ...) and how sure we are.
  std::string allocator;
  std::string where;  // where the state was found, for messages
  uint64_t arena_size = 0;
  uint64_t pool_size = 0;
  unsigned alignment = 0;
  unsigned small_request_threshold = 0;
  unsigned size_class_count = 0;
  uint64_t pool_overhead = 0;  // bytes of pool header, rounded to the alignment

  uint64_t arena_slots = 0;                        // maxarenas: slots in the arena vector
  uint64_t arenas = 0;                             // arenas allocated now (walked)
  std::optional<uint64_t> arenas_allocated_total;  // ntimes_arena_allocated (not in 2.7 release builds)
  std::optional<uint64_t> arenas_highwater;        // narenas_highwater (idem)
  std::optional<uint64_t> arenas_counter;          // narenas_currently_allocated, as CPython counts it

  std::vector<PymallocClass> classes;  // classes with at least one pool, by index
  uint64_t bytes_in_allocated_blocks = 0;
  uint64_t bytes_in_available_blocks = 0;
  uint64_t unused_pools = 0;  // free pools + pools never carved, over all arenas
  uint64_t bytes_in_unused_pools = 0;
  uint64_t bytes_lost_to_pool_headers = 0;
  uint64_t bytes_lost_to_quantization = 0;
  uint64_t bytes_lost_to_arena_alignment = 0;
  uint64_t total = 0;  // the sum of the above: arenas * arena_size when consistent

  bool interrupted = false;           // the user interrupted the pass: the counts are partial
  std::vector<std::string> warnings;  // inconsistencies met during the walk
};

// Why there are no statistics is an error (one line, e.g. the interpreter is stripped, or the process
// does not use pymalloc); the caller reports it as a note and prints "pymalloc": null.
// `max_arenas` stops the pass after that many arenas: enough to tell the build's geometry from the
// pool headers (a heap walk reads every pool itself), without reading a big heap's headers twice.
Expected<PymallocStats> read_pymalloc(PythonProcess& proc, uint64_t max_arenas = UINT64_MAX);

// pymalloc's vector of arena_objects (`arenas`, `maxarenas` slots) and its counters: obmalloc.c
// statics up to 3.11 (by symbol, or a validated scan of .bss when stripped), the main
// interpreter's obmalloc state from 3.12.
struct ArenaVector {
  uint64_t arenas = 0;
  uint64_t maxarenas = 0;
  std::optional<uint64_t> ncurrent, ntimes, highwater;
  std::string where;  // how it was found, for messages
};
Expected<ArenaVector> pymalloc_arena_vector(PythonProcess& proc);

// The allocator behind PyObject_Malloc, as far as the target tells: "pymalloc", "pymalloc_debug",
// "malloc", "malloc_debug", "hooked ..." or "unknown". `uses_pymalloc` is false only when the process
// is known not to use pymalloc for objects.
struct ObjectAllocator {
  std::string name;
  bool uses_pymalloc = true;
  bool known = false;
};
ObjectAllocator object_allocator(PythonProcess& proc);

}  // namespace pyxray
