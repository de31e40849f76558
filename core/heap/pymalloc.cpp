#include "heap/pymalloc.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/interrupt.hpp"
#include "base/limits.hpp"
#include "interp/interp_scan.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "target/elf_file.hpp"
#include "target/process_files.hpp"
#include "target/static_symbol.hpp"

namespace pyxray {
namespace {

// The per-version facts (geometry, where the state lives, what other builds use) are
// VersionTraits::pymalloc (version_traits.hpp).
using Geometry = PymallocGeometry;

std::vector<Geometry> candidates(const PymallocTraits& t) {
  std::vector<Geometry> out{t.geometry};
  auto add = [&](Geometry g) {
    if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  };
  const Geometry& g = t.geometry;
  for (uint64_t pool : {g.pool_size, t.alt_pool_size ? t.alt_pool_size : g.pool_size}) {
    add({g.arena_size, pool, g.alignment, g.threshold});
    if (t.alt_alignment) add({g.arena_size, pool, t.alt_alignment, t.alt_threshold});
  }
  return out;
}

// Struct layouts that have not changed since 2.5 on 64-bit builds, used when neither debuginfo nor a
// built-in table gives them.
struct ArenaObjectLayout {
  int64_t size = 48, address = 0, pool_address = 8, nfreepools = 16, ntotalpools = 20;
};
struct PoolHeaderLayout {
  int64_t size = 48, count = 0, arenaindex = 32, szidx = 36, maxnextoffset = 44;
};
// PyMemAllocatorEx {ctx, malloc, calloc, realloc, free} is public ABI; debug_alloc_api_t is
// {char api_id; PyMemAllocatorEx alloc;}.
struct AllocatorLayout {
  int64_t ctx = 0, malloc = 8, debug_alloc = 8, debug_size = 48;
};

int64_t pick(int64_t from_layout, int64_t fallback) { return from_layout != kAbsent ? from_layout : fallback; }

ArenaObjectLayout arena_layout(const Layout& L) {
  ArenaObjectLayout d;
  return {pick(L.arena_object_size, d.size), pick(L.arena_object_address, d.address),
          pick(L.arena_object_pool_address, d.pool_address), pick(L.arena_object_nfreepools, d.nfreepools),
          pick(L.arena_object_ntotalpools, d.ntotalpools)};
}

PoolHeaderLayout pool_layout(const Layout& L) {
  PoolHeaderLayout d;
  return {pick(L.pool_header_size, d.size), pick(L.pool_header_count, d.count),
          pick(L.pool_header_arenaindex, d.arenaindex), pick(L.pool_header_szidx, d.szidx),
          pick(L.pool_header_maxnextoffset, d.maxnextoffset)};
}

AllocatorLayout allocator_layout(const Layout& L) {
  AllocatorLayout d;
  return {pick(L.allocator_ex_ctx, d.ctx), pick(L.allocator_ex_malloc, d.malloc),
          pick(L.debug_alloc_api_alloc, d.debug_alloc), pick(L.debug_alloc_api_size, d.debug_size)};
}

constexpr std::size_t kMaxWarnings = 8;  // then one line says how many more

uint64_t read_u64(std::span<const std::byte> buf, int64_t off) {
  uint64_t v = 0;
  std::memcpy(&v, buf.data() + off, sizeof v);
  return v;
}
uint32_t read_u32(std::span<const std::byte> buf, int64_t off) {
  uint32_t v = 0;
  std::memcpy(&v, buf.data() + off, sizeof v);
  return v;
}

// The arena vector and CPython's own counters, wherever this version keeps them.
// --- stripped <= 3.11: the arena vector found by a validated scan of the interpreter's .bss ---
//
// Without a symbol table nothing names `arenas` and `maxarenas`. They are zero-initialised statics of
// obmalloc.c, so they live in the .bss of the object holding the interpreter (libpython, or the
// executable of a static build), next to each other in every build seen (2.7-3.11, LTO included).
// A candidate is a pointer in .bss with a power-of-two multiple of 16 (the sizes the vector grows
// through) within 64 bytes of it, and it is accepted only if the whole vector it describes is
// pymalloc's: every slot either has no arena and links (nextarena) only inside the vector, or owns an
// arena whose pool_address is pool-aligned inside it, whose pool counts fit, and whose first carved
// pool records that slot as its arena index and a maxnextoffset that fits its size class; at least
// one arena is allocated. CPython's own counters
// (ntimes_arena_allocated, narenas_highwater) stay unknown.

struct InterpreterObject {
  ElfFile elf;
  uint64_t bias = 0;
};

Expected<InterpreterObject> interpreter_object(PythonProcess& proc) {
  Target& t = proc.target();
  auto objects = t.loaded_objects();
  std::string path;
  for (const auto& o : objects)
    if (o.path.find("libpython") != std::string::npos) {
      path = o.path;
      break;
    }
  if (path.empty() && !objects.empty()) path = objects.front().path;  // a static build: the executable
  if (path.empty()) return fail("the debugger lists no loaded objects");
  PYX_TRY(elf, read_elf(target_file_path(t, path)));
  for (const char* sym : {"Py_Initialize", "PyObject_Malloc", "Py_Finalize"}) {
    auto live = t.symbol_address(sym);
    auto link = elf.dynamic_symbol(sym);
    if (live && link) return InterpreterObject{std::move(elf), *live - *link};
  }
  return fail(fmt::format("{} exports none of Py_Initialize, PyObject_Malloc: cannot place its data", path));
}

bool plausible_heap_pointer(uint64_t p) { return p >= 0x10000 && p % 16 == 0 && p < (uint64_t{1} << 56); }

// Is [arenas, arenas + maxarenas) pymalloc's arena vector under geometry g?
bool validate_vector(PythonProcess& proc, uint64_t arenas, uint64_t maxarenas, const Geometry& g) {
  Memory& m = proc.mem();
  const ArenaObjectLayout A = arena_layout(proc.layout());
  const PoolHeaderLayout P = pool_layout(proc.layout());
  constexpr int64_t kNextArena = 32;  // arena_object.nextarena, after freepools
  auto bytes = m.read_bytes(arenas, maxarenas * A.size);
  if (!bytes) return false;
  const uint64_t end = arenas + maxarenas * A.size;
  const uint64_t pool_mask = g.pool_size - 1;
  uint64_t allocated = 0;
  for (uint64_t i = 0; i < maxarenas; ++i) {
    auto slot = std::span<const std::byte>(*bytes).subspan(i * A.size, A.size);
    uint64_t address = read_u64(slot, A.address);
    if (address == 0) {
      uint64_t next = read_u64(slot, kNextArena);
      if (next && (next < arenas || next >= end || (next - arenas) % A.size)) return false;
      continue;
    }
    uint64_t pool_address = read_u64(slot, A.pool_address);
    uint32_t nfree = read_u32(slot, A.nfreepools), ntotal = read_u32(slot, A.ntotalpools);
    uint64_t base = (address + pool_mask) & ~pool_mask;
    if (pool_address % g.pool_size || pool_address < base || pool_address > address + g.arena_size ||
        ntotal > g.arena_size / g.pool_size || nfree > ntotal)
      return false;
    if (base < pool_address) {
      // A carved pool was initialised for this arena and a size class: its arena index is this slot
      // and its maxnextoffset is POOL_SIZE - block size (zeroed memory passes neither for slot > 0,
      // nor the second test for slot 0).
      std::vector<std::byte> header(static_cast<std::size_t>(P.size));
      if (!m.read(base, header)) return false;
      uint32_t szidx = read_u32(header, P.szidx);
      if (read_u32(header, P.arenaindex) != i || szidx >= g.classes() ||
          read_u32(header, P.maxnextoffset) != g.pool_size - uint64_t{szidx + 1} * g.alignment)
        return false;
    }
    ++allocated;
  }
  return allocated > 0;
}

Expected<ArenaVector> scan_for_arenas(PythonProcess& proc, const PymallocTraits& traits) {
  PYX_TRY(obj, interpreter_object(proc));
  auto bss = obj.elf.section(".bss");
  if (!bss || bss->size < 16) return fail(fmt::format("{} has no .bss", obj.elf.path));
  const uint64_t start = bss->addr + obj.bias;
  const std::size_t words = std::min<std::size_t>(bss->size / 8, static_cast<std::size_t>(limits().scan_words));
  PYX_TRY(raw, proc.mem().read_bytes(start, words * 8));
  const std::vector<Geometry> geometries = candidates(traits);
  std::vector<std::pair<uint64_t, uint64_t>> found;  // (vector, slots), distinct
  constexpr std::size_t kNear = 64;
  for (std::size_t i = 0; i < words; ++i) {
    uint64_t p = read_u64(raw, static_cast<int64_t>(i * 8));
    if (!plausible_heap_pointer(p) || (p >= start && p < start + words * 8)) continue;
    // Slot counts the vector can have (16 << k) stored as a uint near the pointer, largest first: a
    // vector read too long runs into foreign memory and fails, one read too short would miss arenas.
    std::vector<uint64_t> sizes;
    std::size_t lo = i * 8 >= kNear ? i * 8 - kNear : 0, hi = std::min(words * 8 - 4, i * 8 + kNear);
    for (std::size_t off = lo; off <= hi; off += 4) {
      uint32_t v = read_u32(raw, static_cast<int64_t>(off));
      if (v >= 16 && v <= (16u << 16) && (v & (v - 1)) == 0) sizes.push_back(v);
    }
    std::sort(sizes.rbegin(), sizes.rend());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    for (uint64_t n : sizes) {
      bool ok = std::any_of(geometries.begin(), geometries.end(),
                            [&](const Geometry& g) { return validate_vector(proc, p, n, g); });
      if (!ok) continue;
      if (std::find(found.begin(), found.end(), std::pair(p, n)) == found.end()) found.emplace_back(p, n);
      break;
    }
  }
  if (found.empty())
    return fail(fmt::format(
        "pymalloc statistics need the interpreter's symbols (not stripped) on CPython <= 3.11: its state is in "
        "static variables of obmalloc.c that only the symbol table names, and no arena vector that validates "
        "was found in the .bss of {} either (does the process use pymalloc at all?)",
        obj.elf.path));
  // usable_arenas/unused_arena_objects may hold the vector's own address too: the same vector is fine
  // (its longest validated reading wins: a shorter one would leave arenas out), two different ones
  // are not.
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
  found.erase(std::unique(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              found.end());
  if (found.size() > 1) {
    std::vector<std::string> listed;
    for (const auto& [addr, n] : found) listed.push_back(fmt::format("0x{:x} ({} slots)", addr, n));
    return fail(
        fmt::format("pymalloc statistics need the interpreter's symbols on CPython <= 3.11: scanning "
                    "the .bss of {} found {} different candidate arena vectors: {}",
                    obj.elf.path, found.size(), fmt::join(listed, ", ")));
  }
  ArenaVector v;
  v.arenas = found[0].first;
  v.maxarenas = found[0].second;
  v.where = fmt::format("arena vector at 0x{:x} found by a validated scan of the .bss of {} (no symbols)", v.arenas,
                        obj.elf.path);
  return v;
}

uint64_t main_interpreter(PythonProcess& proc) {
  const Layout& L = proc.layout();
  if (proc.runtime_addr() && L.runtime_interpreters_main != kAbsent) {
    if (auto m = proc.mem().read_ptr(proc.runtime_addr() + L.runtime_interpreters_main); m && *m) return *m;
  }
  auto all = interpreters(proc);  // newest first: the main interpreter is the last
  return all && !all->empty() ? all->back() : 0;
}

Expected<ArenaVector> locate_arenas(PythonProcess& proc, const PymallocTraits& traits) {
  Memory& m = proc.mem();
  const Layout& L = proc.layout();
  ArenaVector v;
  if (traits.model == ObmallocState::FileStatics) {
    Target& t = proc.target();
    auto arenas = static_symbol(t, "arenas");
    auto maxarenas = static_symbol(t, "maxarenas");
    if (!arenas || !maxarenas) return scan_for_arenas(proc, traits);
    PYX_TRY(arenas_ptr, m.read_ptr(*arenas));
    PYX_TRY(max, m.read<uint32_t>(*maxarenas));
    v.arenas = arenas_ptr;
    v.maxarenas = max;
    auto counter = [&](std::string_view name) -> std::optional<uint64_t> {
      if (auto a = static_symbol(t, name))
        if (auto x = m.read<uint64_t>(*a)) return *x;
      return std::nullopt;
    };
    v.ncurrent = counter("narenas_currently_allocated");
    if (traits.has_arena_counters) {
      v.ntimes = counter("ntimes_arena_allocated");
      v.highwater = counter("narenas_highwater");
    }
    v.where = fmt::format("obmalloc.c statics (arenas at 0x{:x})", *arenas);
    return v;
  }
  if (L.interp_obmalloc == kAbsent || L.obmalloc_mgmt_arenas == kAbsent || L.obmalloc_mgmt_maxarenas == kAbsent)
    return fail(
        fmt::format("no layout for the interpreter's obmalloc state in CPython {} (no debuginfo and no "
                    "built-in table entry for PyInterpreterState.obmalloc)",
                    proc.version().text()));
  uint64_t interp = main_interpreter(proc);
  if (!interp) return fail("the interpreter is not initialised (or is shutting down): no interpreter state");
  uint64_t state = interp + L.interp_obmalloc;
  if (traits.model == ObmallocState::InterpPointer) {
    PYX_TRY(ptr, m.read_ptr(state));
    if (!ptr) return fail("the main interpreter has no obmalloc state yet (interp->obmalloc is NULL)");
    state = ptr;
  }
  PYX_TRY(arenas_ptr, m.read_ptr(state + L.obmalloc_mgmt_arenas));
  PYX_TRY(max, m.read<uint32_t>(state + L.obmalloc_mgmt_maxarenas));
  v.arenas = arenas_ptr;
  v.maxarenas = max;
  auto counter = [&](int64_t off) -> std::optional<uint64_t> {
    if (off == kAbsent) return std::nullopt;
    if (auto x = m.read<uint64_t>(state + off)) return *x;
    return std::nullopt;
  };
  v.ncurrent = counter(L.obmalloc_mgmt_narenas_currently_allocated);
  v.ntimes = counter(L.obmalloc_mgmt_ntimes_arena_allocated);
  v.highwater = counter(L.obmalloc_mgmt_narenas_highwater);
  v.where = fmt::format("main interpreter's obmalloc state at 0x{:x}", state);
  return v;
}

// One pass over every arena and carved pool with a given geometry. `violations` counts pool headers
// that contradict it (size class out of range, more blocks than fit, a maxnextoffset that is not
// POOL_SIZE - block size, an arena index that is not the arena's): the geometry that gives none is
// the build's.
struct WalkResult {
  PymallocStats stats;
  uint64_t violations = 0;
  uint64_t pools_checked = 0;
};

void warn(std::vector<std::string>& w, std::string msg) {
  if (w.size() < kMaxWarnings) w.push_back(std::move(msg));
  else if (w.size() == kMaxWarnings) w.push_back("(more warnings not shown)");
}

WalkResult walk(PythonProcess& proc, const ArenaVector& av, std::span<const std::byte> slots, const Geometry& g,
                uint64_t max_arenas) {
  Memory& m = proc.mem();
  const ArenaObjectLayout A = arena_layout(proc.layout());
  const PoolHeaderLayout P = pool_layout(proc.layout());
  WalkResult r;
  PymallocStats& s = r.stats;
  s.arena_size = g.arena_size;
  s.pool_size = g.pool_size;
  s.alignment = g.alignment;
  s.small_request_threshold = g.threshold;
  s.size_class_count = g.classes();
  s.pool_overhead = (static_cast<uint64_t>(P.size) + g.alignment - 1) / g.alignment * g.alignment;
  s.arena_slots = av.maxarenas;
  const unsigned nclasses = g.classes();
  std::vector<uint64_t> pools(nclasses), blocks(nclasses), avail(nclasses);
  const uint64_t pool_mask = g.pool_size - 1;
  const uint64_t max_pools = g.arena_size / g.pool_size;
  std::vector<std::byte> header(static_cast<std::size_t>(P.size));

  for (uint64_t i = 0; i < av.maxarenas; ++i) {
    // A big heap's pool headers take a while: Ctrl-C ends the pass with the arenas counted so far.
    if (interrupt_requested()) {
      s.interrupted = true;
      warn(s.warnings, fmt::format("{} after {} arenas: the counts are partial", interrupt_phrase(), s.arenas));
      break;
    }
    auto slot = slots.subspan(i * A.size, A.size);
    uint64_t address = read_u64(slot, A.address);
    if (address == 0) continue;  // an arena_object with no arena
    if (s.arenas >= max_arenas) break;
    uint64_t pool_address = read_u64(slot, A.pool_address);
    uint32_t nfreepools = read_u32(slot, A.nfreepools);
    uint32_t ntotalpools = read_u32(slot, A.ntotalpools);
    ++s.arenas;
    s.unused_pools += nfreepools;
    uint64_t base = address;
    if (base & pool_mask) {
      s.bytes_lost_to_arena_alignment += g.pool_size;
      base = (base & ~pool_mask) + g.pool_size;
    }
    if (pool_address < base || pool_address > address + g.arena_size || ntotalpools > max_pools ||
        nfreepools > ntotalpools) {
      ++r.violations;
      warn(s.warnings, fmt::format("arena {} at 0x{:x}: pool_address 0x{:x}, {} of {} pools free: inconsistent; "
                                   "its pools are not counted",
                                   i, address, pool_address, nfreepools, ntotalpools));
      continue;
    }
    for (uint64_t p = base, n = 0; p < pool_address && n < max_pools; p += g.pool_size, ++n) {
      if (!m.read(p, header)) {
        warn(s.warnings, fmt::format("cannot read the pool header at 0x{:x} (arena {})", p, i));
        ++r.violations;
        break;
      }
      uint32_t count = read_u32(header, P.count);
      if (count == 0) continue;  // an empty pool, on its arena's free list
      ++r.pools_checked;
      uint32_t szidx = read_u32(header, P.szidx);
      if (szidx >= nclasses) {
        ++r.violations;
        warn(s.warnings, fmt::format("pool 0x{:x}: size class {} out of range", p, szidx));
        continue;
      }
      uint64_t size = uint64_t{szidx + 1} * g.alignment;
      uint64_t fit = (g.pool_size - s.pool_overhead) / size;
      if (count > fit || read_u32(header, P.maxnextoffset) != g.pool_size - size ||
          read_u32(header, P.arenaindex) != i) {
        ++r.violations;
        warn(s.warnings,
             fmt::format("pool 0x{:x}: header does not match a {}-byte size class in arena {}", p, size, i));
        continue;
      }
      ++pools[szidx];
      blocks[szidx] += count;
      avail[szidx] += fit - count;
    }
  }
  for (unsigned c = 0; c < nclasses; ++c) {
    if (pools[c] == 0) continue;
    uint64_t size = uint64_t{c + 1} * g.alignment;
    s.classes.push_back({c, size, pools[c], blocks[c], avail[c]});
    s.bytes_in_allocated_blocks += blocks[c] * size;
    s.bytes_in_available_blocks += avail[c] * size;
    s.bytes_lost_to_pool_headers += pools[c] * s.pool_overhead;
    s.bytes_lost_to_quantization += pools[c] * ((g.pool_size - s.pool_overhead) % size);
  }
  s.bytes_in_unused_pools = s.unused_pools * g.pool_size;
  s.total = s.bytes_in_allocated_blocks + s.bytes_in_available_blocks + s.bytes_in_unused_pools +
            s.bytes_lost_to_pool_headers + s.bytes_lost_to_quantization + s.bytes_lost_to_arena_alignment;
  return r;
}

// The allocator function pointers of one domain (PyMemAllocatorEx).
struct Domain {
  uint64_t ctx = 0, malloc = 0;
};

std::optional<Domain> read_domain(Memory& m, uint64_t addr, const AllocatorLayout& A) {
  auto ctx = m.read_ptr(addr + A.ctx);
  auto fn = m.read_ptr(addr + A.malloc);
  if (!ctx || !fn) return std::nullopt;
  return Domain{*ctx, *fn};
}

}  // namespace

Expected<ArenaVector> pymalloc_arena_vector(PythonProcess& proc) { return locate_arenas(proc, proc.traits().pymalloc); }

ObjectAllocator object_allocator(PythonProcess& proc) {
  if (!proc.traits().allocator_api) return {"pymalloc", true, true};  // 2.7 has no allocator switch
  Target& t = proc.target();
  Memory& m = proc.mem();
  const Layout& L = proc.layout();
  const AllocatorLayout A = allocator_layout(L);
  // Addresses of the standard raw/mem/obj allocators and of the debug hooks' raw/obj records.
  std::optional<uint64_t> raw, mem, obj, debug_raw, debug_obj;
  if (proc.runtime_addr() && L.runtime_allocators_standard_obj != kAbsent) {  // 3.12+: in _PyRuntime
    uint64_t rt = proc.runtime_addr();
    raw = rt + L.runtime_allocators_standard_raw;
    mem = rt + L.runtime_allocators_standard_mem;
    obj = rt + L.runtime_allocators_standard_obj;
    if (L.runtime_allocators_debug_raw != kAbsent) debug_raw = rt + L.runtime_allocators_debug_raw;
    if (L.runtime_allocators_debug_obj != kAbsent) debug_obj = rt + L.runtime_allocators_debug_obj;
  } else if (proc.traits().allocators_are_statics) {  // statics of obmalloc.c
    raw = static_symbol(t, "_PyMem_Raw");
    mem = static_symbol(t, "_PyMem");
    obj = static_symbol(t, "_PyObject");
    if (auto d = static_symbol(t, "_PyMem_Debug")) {
      debug_raw = *d;
      debug_obj = *d + 2 * A.debug_size;
    }
  }
  // Without them (a stripped <= 3.11 build) the allocator cannot be told; pymalloc is the default.
  if (!raw || !mem || !obj) return {"pymalloc", true, false};
  auto r = read_domain(m, *raw, A);
  auto o = read_domain(m, *obj, A);
  if (!r || !o) return {"pymalloc", true, false};
  auto pyobject_malloc = t.symbol_address("_PyObject_Malloc");
  // Debug hooks: the obj domain's context is the debug record of the obj domain, which holds the
  // allocator underneath.
  if (debug_obj && o->ctx == *debug_obj && debug_raw) {
    auto under = read_domain(m, *debug_obj + A.debug_alloc, A);
    auto under_raw = read_domain(m, *debug_raw + A.debug_alloc, A);
    if (under && under_raw) {
      if (under->malloc == under_raw->malloc) return {"malloc_debug", false, true};
      if (pyobject_malloc && under->malloc == *pyobject_malloc) return {"pymalloc_debug", true, true};
      return {"pymalloc_debug", true, !pyobject_malloc.has_value()};
    }
  }
  if (o->malloc == r->malloc) return {"malloc", false, true};
  if (pyobject_malloc) {
    if (o->malloc == *pyobject_malloc) return {"pymalloc", true, true};
    // A hook (tracemalloc, a profiler) whose context is the allocator it wraps.
    if (o->ctx) {
      if (auto inner = read_domain(m, o->ctx, A)) {
        if (inner->malloc == *pyobject_malloc) return {"pymalloc (behind a hook such as tracemalloc)", true, true};
        if (inner->malloc == r->malloc) return {"malloc (behind a hook such as tracemalloc)", false, true};
      }
    }
    return {"a custom allocator (PyMem_SetAllocator)", true, false};
  }
  // Stripped: _PyObject_Malloc has no name, but an obj allocator other than the raw one is pymalloc
  // unless an extension installed its own.
  return {"pymalloc", true, false};
}

Expected<PymallocStats> read_pymalloc(PythonProcess& proc, uint64_t max_arenas) {
  if (proc.traits().mimalloc_heap) return fail(kMimallocHeapNotWalked);
  ObjectAllocator alloc = object_allocator(proc);
  if (!alloc.uses_pymalloc)
    return fail(
        fmt::format("this process does not use pymalloc for objects (allocator: {}, e.g. "
                    "PYTHONMALLOC={}): every object comes from the C allocator; see the glibc section",
                    alloc.name, alloc.name));
  const PymallocTraits& traits = proc.traits().pymalloc;
  PYX_TRY(av, locate_arenas(proc, traits));
  if (av.maxarenas > static_cast<uint64_t>(limits().pymalloc_arenas))
    return fail(fmt::format("pymalloc's arena vector claims {} slots: the state at {} looks corrupt (if it is not, {})",
                            av.maxarenas, av.where, raise_hint("pymalloc-arenas")));
  if (av.maxarenas && !av.arenas)
    return fail(fmt::format("pymalloc's arena vector is NULL but has {} slots ({})", av.maxarenas, av.where));
  const ArenaObjectLayout A = arena_layout(proc.layout());
  std::vector<std::byte> slots;
  if (av.maxarenas) {
    auto bytes = proc.mem().read_bytes(av.arenas, av.maxarenas * A.size);
    if (!bytes)
      return fail(fmt::format("cannot read pymalloc's {} arena objects at 0x{:x}: {}", av.maxarenas, av.arenas,
                              bytes.error().message));
    slots = std::move(*bytes);
  }
  // The build's geometry is the first candidate whose pool headers all agree with it.
  std::optional<WalkResult> best;
  for (const Geometry& g : candidates(traits)) {
    WalkResult r = walk(proc, av, slots, g, max_arenas);
    bool better = !best || r.violations < best->violations;
    if (better) best = std::move(r);
    if (best->violations == 0 || best->stats.interrupted) break;
  }
  PymallocStats s = std::move(best->stats);
  s.allocator = alloc.known ? alloc.name : alloc.name + " (presumed: no symbols name the allocator functions)";
  s.where = av.where;
  s.arenas_counter = av.ncurrent;
  s.arenas_allocated_total = av.ntimes;
  s.arenas_highwater = av.highwater;
  if (av.ncurrent && *av.ncurrent != s.arenas && s.arenas < max_arenas && !s.interrupted)
    warn(s.warnings,
         fmt::format("CPython counts {} arenas allocated, the arena vector holds {}", *av.ncurrent, s.arenas));
  if (best->violations)
    warn(s.warnings, fmt::format("{} pool or arena header(s) do not match pymalloc's layout for CPython {}: "
                                 "the counts above leave them out",
                                 best->violations, proc.version().text()));
  return s;
}

}  // namespace pyxray
