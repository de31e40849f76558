#include "heap/gc_lists.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "layout/layout.hpp"

namespace pyxray {
namespace {

constexpr int kGenerations = 3;
constexpr int64_t kUntracked = -2;  // _PyGC_REFS_UNTRACKED

uint64_t load(std::span<const std::byte> b, std::size_t off) {
  uint64_t v = 0;
  if (off + 8 <= b.size()) std::memcpy(&v, b.data() + off, 8);
  return v;
}

}  // namespace

bool GcLists::tracked(std::span<const std::byte> head) const {
  if (refs_field) return (static_cast<int64_t>(load(head, 16)) >> refs_shift) != kUntracked;
  return load(head, 0) != 0;
}

uint64_t GcLists::next(std::span<const std::byte> head) { return load(head, 0) & ~uint64_t{7}; }
uint64_t GcLists::prev(std::span<const std::byte> head) { return load(head, 8) & ~uint64_t{7}; }

bool GcLists::prev_is_link(std::span<const std::byte> head) const {
  constexpr uint64_t kPrevMaskCollecting = 2;
  return refs_field || (load(head, 8) & kPrevMaskCollecting) == 0;
}

bool GcLists::is_head(uint64_t addr) const { return std::find(heads.begin(), heads.end(), addr) != heads.end(); }

Expected<GcLists> gc_lists(PythonProcess& proc) {
  const Layout& L = proc.layout();
  const PyVersion& v = proc.version();
  const VersionTraits& vt = proc.traits();
  Memory& m = proc.mem();
  GcLists g;
  g.head_size = L.gc_head_size != kAbsent ? static_cast<uint64_t>(L.gc_head_size) : vt.default_gc_head_size;
  g.refs_field = vt.gc_refs_in_head;
  g.refs_shift = vt.gc_refs_shift;
  // struct gc_generation {PyGC_Head head; int threshold; int count;}, padded to the head's alignment.
  uint64_t gen_size =
      L.gc_generation_size != kAbsent ? static_cast<uint64_t>(L.gc_generation_size) : vt.default_gc_generation_size;
  // Which generation each head of a block holds: the incremental collector's old[vs] is the visited
  // space, old[vs ^ 1] the pending one (the heads are old[0], old[1] in memory order).
  auto add_block = [&](uint64_t generations, uint64_t permanent, int visited_space) {
    for (int i = 0; i < kGenerations; ++i) {
      g.heads.push_back(generations + i * gen_size);
      uint8_t gen = static_cast<uint8_t>(i);
      if (i > 0 && visited_space == 1) gen = static_cast<uint8_t>(3 - i);
      g.head_generation.push_back(gen);
    }
    if (permanent) {
      g.heads.push_back(permanent);
      g.head_generation.push_back(3);
      g.permanent.push_back(permanent);
    }
  };
  if (vt.gc_generations == GcGenerations::Generation0Symbol) {
    auto sym = proc.target().symbol_address("_PyGC_generation0");
    if (!sym) return fail("cannot find _PyGC_generation0, the garbage collector's list heads");
    PYX_TRY(gen0, m.read_ptr(*sym));
    if (!gen0) return fail("_PyGC_generation0 is NULL: the garbage collector is not initialised");
    add_block(gen0, 0, -1);
  } else if (vt.gc_generations == GcGenerations::RuntimeState) {
    if (!proc.runtime_addr() || L.runtime_gc_generations == kAbsent)
      return fail(fmt::format("no layout for _PyRuntime.gc.generations in CPython {}", v.text()));
    uint64_t rt = proc.runtime_addr();
    add_block(rt + L.runtime_gc_generations,
              L.runtime_gc_permanent_generation != kAbsent ? rt + L.runtime_gc_permanent_generation : 0, -1);
  } else {
    // A 3.14.0-3.14.4 build's debuginfo names the first list gc.young; the built-in tables (3.14.5+)
    // give generations[0], at the same offset.
    const int64_t first = L.interp_gc_generations != kAbsent ? L.interp_gc_generations : L.interp_gc_young;
    if (first == kAbsent)
      return fail(fmt::format("no layout for PyInterpreterState.gc.generations in CPython {}", v.text()));
    PYX_TRY(interps, interpreters(proc));
    for (uint64_t interp : interps) {
      int vs = -1;
      if (vt.gc_model == GcModel::Incremental314) {
        int64_t f = L.interp_gc_visited_space;
        if (f == kAbsent && L.interp_gc_collecting != kAbsent)
          f = L.interp_gc_collecting + vt.gc_visited_space_from_collecting;
        auto read = f != kAbsent ? m.read<int32_t>(interp + f) : Expected<int32_t>(fail("no layout"));
        if (read && (*read == 0 || *read == 1)) {
          vs = *read;
        } else {
          g.warnings.push_back(
              fmt::format("gc.visited_space of interpreter 0x{:x} cannot be read or is not 0 or 1: its old spaces are "
                          "named as if old[0] were the visited one",
                          interp));
        }
        if (g.visited_space < 0) g.visited_space = vs;
      }
      add_block(interp + first,
                L.interp_gc_permanent_generation != kAbsent ? interp + L.interp_gc_permanent_generation : 0, vs);
    }
  }
  return g;
}

}  // namespace pyxray
