// glibc malloc's view of the heap, read from its own structures (main_arena and the ring of arenas
// behind it, mp_) the way mallinfo2() and malloc_info() compute it inside the process: per arena the
// bytes taken from the system, the free chunks (fastbins, unsorted, small and large bins) and the top
// chunk; in use is the rest. Chunks cached in the per-thread tcache count as in use, as glibc counts
// them. Needs libc's debug information (struct layouts and the static main_arena/mp_), of the very
// libc build the target runs: symbols of another build, or structures that do not hold together in
// the target's memory, give an error, never numbers that cannot be true.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "target/address_space.hpp"

namespace pyxray {

class Memory;
class Target;

struct GlibcArena {
  uint64_t address = 0;
  bool main = false;              // main_arena (the sbrk heap); the others live in mmapped heaps
  uint64_t system_bytes = 0;      // system_mem: memory this arena holds from the system now
  uint64_t max_system_bytes = 0;  // max_system_mem: its peak
  uint64_t top_bytes = 0;         // the top chunk (free, at the end of the heap)
  uint64_t fastbin_chunks = 0, fastbin_bytes = 0;
  uint64_t bin_chunks = 0, bin_bytes = 0;  // unsorted + small + large bins
  uint64_t free_bytes() const { return top_bytes + fastbin_bytes + bin_bytes; }
  uint64_t in_use_bytes() const { return system_bytes >= free_bytes() ? system_bytes - free_bytes() : 0; }
};

struct GlibcStats {
  std::vector<GlibcArena> arenas;    // main_arena first, then in ring order
  uint64_t mmapped_regions = 0;      // mp_.n_mmaps: chunks mmapped on their own (large requests)
  uint64_t mmapped_bytes = 0;        // mp_.mmapped_mem
  uint64_t max_mmapped_regions = 0;  // mp_.max_n_mmaps
  uint64_t max_mmapped_bytes = 0;    // mp_.max_mmapped_mem
  std::optional<uint64_t> trim_threshold, mmap_threshold;
  bool fastbins = true;      // this glibc has fastbins (glibc 2.43 removed them)
  bool safe_linking = true;  // fastbin links are mangled (glibc >= 2.32)
  std::vector<std::string> warnings;

  uint64_t system_bytes() const;
  uint64_t free_bytes() const;
  uint64_t in_use_bytes() const;
  uint64_t top_bytes() const;
};

// An error says in one line why there are no statistics: libc's debug symbols are missing, they are
// of another libc build than the one the target maps, the structures are not ones pyxray knows, or
// what they describe does not fit the target's memory.
Expected<GlibcStats> read_glibc_malloc(Target& target, Memory& mem);
// The same, judged against the given address space (tests; the above reads the target's own).
Expected<GlibcStats> read_glibc_malloc(Target& target, Memory& mem, const AddressSpace& space);

}  // namespace pyxray
