#include "heap/heap_walk.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "base/interrupt.hpp"
#include "base/limits.hpp"
#include "heap/gc_lists.hpp"
#include "heap/object_size.hpp"
#include "heap/pymalloc.hpp"
#include "heap/referents.hpp"
#include "interp/code.hpp"
#include "interp/frames.hpp"
#include "interp/locals.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "layout/layout.hpp"
#include "layout/version_traits.hpp"
#include "target/memory.hpp"
#include "target/static_symbol.hpp"

namespace pyxray {
namespace {

using Clock = std::chrono::steady_clock;

// Bounds the user does not tune (the walk's own bookkeeping and corrupt-value checks); the others
// are limits (core/base/limits.def): outside-objects, modules, pymalloc-arenas.
constexpr std::size_t kMaxDeferred = std::size_t{1} << 20;  // queued arrays before they are served
constexpr std::size_t kMaxWarnings = 12;
// Arenas whose pool headers confirm pymalloc's geometry before a walk (which then reads every pool).
constexpr uint64_t kGeometryArenas = 16;
constexpr uint64_t kMaxObjectSize = uint64_t{1} << 36;  // larger is a corrupt size field

int64_t or_default(int64_t v, int64_t d) { return v == kAbsent ? d : v; }

struct Arena {
  uint64_t address = 0;     // the arena's memory
  uint64_t first_pool = 0;  // address rounded up to the pool size
  uint64_t end = 0;         // pool_address: pools below it have been carved
};

struct PymallocHeap {
  bool available = false;
  std::string allocator;
  std::string why_not;
  uint64_t arena_size = 0, pool_size = 0, alignment = 0, overhead = 0, nclasses = 0;
  bool debug = false;  // PYTHONMALLOC=pymalloc_debug: 2 words before each object, 1 after
  std::vector<Arena> arenas;
};

// pymalloc's geometry from read_pymalloc (which checks it against the pool headers of the first
// arenas), and the arena vector where read_pymalloc finds it.
PymallocHeap load_pymalloc(PythonProcess& proc) {
  PymallocHeap h;
  ObjectAllocator alloc = object_allocator(proc);
  h.allocator = alloc.name;
  if (!alloc.uses_pymalloc) {
    h.why_not = fmt::format(
        "objects come from {} (PYTHONMALLOC={}?), not pymalloc: only GC-tracked objects and what "
        "they reference are found",
        alloc.name, alloc.name.rfind("malloc", 0) == 0 ? alloc.name : "malloc");
    return h;
  }
  auto stats = read_pymalloc(proc, kGeometryArenas);
  if (!stats) {
    h.why_not = fmt::format(
        "pymalloc's arenas cannot be read ({}): only GC-tracked objects and what they "
        "reference are found",
        stats.error().message);
    return h;
  }
  h.debug = alloc.name == "pymalloc_debug";
  h.arena_size = stats->arena_size;
  h.pool_size = stats->pool_size;
  h.alignment = stats->alignment;
  h.overhead = stats->pool_overhead;
  h.nclasses = stats->size_class_count;
  if (!h.arena_size || !h.pool_size || !h.alignment || h.pool_size > h.arena_size) {
    h.why_not = "pymalloc's geometry is unknown";
    return h;
  }
  Memory& m = proc.mem();
  const Layout& L = proc.layout();
  auto vector = pymalloc_arena_vector(proc);
  if (!vector) {
    h.why_not = fmt::format("pymalloc's arena vector cannot be found ({})", vector.error().message);
    return h;
  }
  const uint64_t arenas = vector->arenas, maxarenas = vector->maxarenas;
  if (maxarenas > static_cast<uint64_t>(limits().pymalloc_arenas) || (maxarenas && !arenas)) {
    h.why_not = fmt::format("pymalloc's arena vector looks corrupt ({} slots at 0x{:x}; if it is not, {})", maxarenas,
                            arenas, raise_hint("pymalloc-arenas"));
    return h;
  }
  const int64_t slot = or_default(L.arena_object_size, 48);
  const int64_t f_address = or_default(L.arena_object_address, 0);
  const int64_t f_pool_address = or_default(L.arena_object_pool_address, 8);
  auto slots = maxarenas ? m.read_bytes(arenas, maxarenas * static_cast<uint64_t>(slot))
                         : Expected<std::vector<std::byte>>(std::vector<std::byte>{});
  if (!slots) {
    h.why_not = fmt::format("cannot read pymalloc's arena vector: {}", slots.error().message);
    return h;
  }
  const uint64_t mask = h.pool_size - 1;
  for (uint64_t i = 0; i < maxarenas; ++i) {
    std::span<const std::byte> s(slots->data() + i * slot, static_cast<std::size_t>(slot));
    Arena a;
    a.address = load_u64(s, f_address);
    if (!a.address) continue;
    a.end = load_u64(s, f_pool_address);
    a.first_pool = (a.address + mask) & ~mask;
    if (a.end < a.first_pool || a.end > a.address + h.arena_size) continue;
    h.arenas.push_back(a);
  }
  std::sort(h.arenas.begin(), h.arenas.end(), [](const Arena& x, const Arena& y) { return x.address < y.address; });
  h.available = true;
  return h;
}

}  // namespace

// --- roots ---

HeapRoots heap_roots(PythonProcess& proc, Objects& objects) {
  HeapRoots roots;
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  if (auto interps = interpreters(proc)) {
    for (uint64_t interp : *interps) {
      uint64_t modules = 0;
      if (L.interp_imports_modules != kAbsent) modules = m.read_ptr(interp + L.interp_imports_modules).value_or(0);
      if (!modules && L.interp_modules != kAbsent) modules = m.read_ptr(interp + L.interp_modules).value_or(0);
      for (int64_t f : {L.interp_sysdict, L.interp_builtins})
        if (f != kAbsent)
          if (uint64_t d = m.read_ptr(interp + f).value_or(0)) roots.others.push_back(d);
      if (!modules) continue;
      roots.others.push_back(modules);
      const int64_t md_dict = or_default(L.module_md_dict, 16);
      uint64_t n = 0;
      auto r = objects.dict_items(modules, [&](uint64_t key, uint64_t module) {
        if (++n > static_cast<uint64_t>(limits().modules)) {
          roots.warnings.push_back(fmt::format("more than {} modules: the others are not roots ({})", limits().modules,
                                               raise_hint("modules")));
          return false;
        }
        auto name = objects.read_text(key, 256);
        uint64_t dict = m.read_ptr(module + md_dict).value_or(0);
        if (name && dict && !roots.module_dicts.contains(dict)) roots.module_dicts.emplace(dict, *name);
        return true;
      });
      if (!r) roots.warnings.push_back(fmt::format("cannot read sys.modules: {}", r.error().message));
    }
  }
  auto threads = thread_states(proc);
  if (!threads) {
    roots.warnings.push_back(fmt::format("no thread states: {}", threads.error().message));
    return roots;
  }
  CodeCache codes(proc, objects);
  for (const ThreadState& ts : threads->threads) {
    PyStack stack = walk_stack(proc, codes, ts, static_cast<int>(limits().frames));
    std::string thread =
        ts.native_id ? fmt::format("thread {}", *ts.native_id) : fmt::format("thread 0x{:x}", ts.thread_id);
    for (const PyFrame& f : stack.frames) {
      // A module or class body's "locals" are that namespace's dict, an object like any other: what it
      // holds is named by the module, not by the frame.
      if (L.code_co_flags != kAbsent && f.code_addr) {
        if (auto fast = has_fast_locals(proc, f.code_addr); fast && !*fast) continue;
      }
      std::string fn = f.code ? f.code->qualname.value_or(f.code->name) : "?";
      auto locals = frame_locals(proc, objects, f);
      if (!locals) continue;
      for (const LocalVar& v : *locals)
        roots.frame_locals.push_back({v.value, fmt::format("{} frame {}: {}", thread, fn, v.name)});
    }
  }
  return roots;
}

// --- the walk ---

struct HeapWalker::Impl {
  PythonProcess& proc;
  Objects& objects;
  TypeCache& types;
  ObjectSizer& sizer;
  Referents& refs;
  const HeapWalkOptions& opt;
  const Layout& L;
  const uint64_t refcount_mask;
  HeapWalkStats st;

  std::unique_ptr<MemoryReader> bulk;
  PymallocHeap heap;
  std::optional<GcLists> gc;
  std::vector<uint32_t> block_offsets;  // where in a block an object may start
  uint32_t debug_prefix = 0, debug_suffix = 0;

  // The arena (or other range) whose bytes are in `buf`.
  uint64_t buf_base = 0;
  std::size_t buf_len = 0;
  std::vector<std::byte> buf;
  std::vector<std::byte> scratch;  // bulk reads outside `buf`
  std::vector<std::byte> objbuf;   // an out-of-arena object's bytes

  std::unordered_set<uint64_t> outside_seen;     // out-of-arena addresses queued (or done)
  std::unordered_set<uint64_t> outside_emitted;  // out-of-arena objects counted
  std::vector<uint64_t> candidates;
  std::unordered_set<uint64_t> gc_seen;
  std::vector<uint64_t> gc_seeds;
  struct Deferred {
    OutOfLine ool;
    const TypeInfo* owner_type = nullptr;
    bool emit = false;     // a dict whose size waits for its keys
    uint64_t gc_next = 0;  // the owner's, for emit
  };
  std::vector<Deferred> deferred;
  std::vector<OutOfLine> ool_tmp;
  std::vector<bool> free_blocks;  // per pool: the blocks on its free list

  Clock::time_point start = Clock::now();
  Clock::time_point last_progress = start;
  bool stop = false;
  std::size_t last_arena = 0;
  uint64_t src = 0;  // the referrer whose references are being reported
  RefFn on_ref;
  ReadFn reader;

  Impl(PythonProcess& p, Objects& o, TypeCache& t, ObjectSizer& s, Referents& r, const HeapWalkOptions& options)
      : proc(p),
        objects(o),
        types(t),
        sizer(s),
        refs(r),
        opt(options),
        L(p.layout()),
        refcount_mask(p.traits().refcount_mask) {
    on_ref = [this](uint64_t dst) { reference(src, dst); };
    reader = [this](uint64_t a, std::size_t n) { return read_any(a, n); };
  }

  void warn(std::string msg) {
    if (st.warnings.size() < kMaxWarnings) st.warnings.push_back(std::move(msg));
  }

  // Once a read has found the process gone (SIGKILL can land at any moment, even while the
  // debugger holds the process stopped), nothing more is counted: what follows would be read from
  // nowhere.
  bool target_gone() {
    if (!st.target_gone && (bulk->process_gone() || proc.mem().reader().process_gone()))
      st.target_gone = st.partial = stop = true;
    return st.target_gone;
  }

  // Ctrl-C ends the walk within one arena's or one batch's work: the caller shows what was counted.
  bool interrupted() {
    if (!st.interrupted && interrupt_requested()) {
      warn(fmt::format("{} after {} objects: the walk is partial", interrupt_phrase(), st.objects));
      st.interrupted = st.partial = stop = true;
    }
    return st.interrupted;
  }

  bool check_bounds() {
    if (stop || target_gone() || interrupted()) return true;
    if (st.objects >= opt.max_objects) {
      warn(fmt::format("stopped after {} objects: the walk is partial ({})", st.objects, raise_hint("heap-objects")));
      st.partial = stop = true;
    } else if (std::chrono::duration<double>(Clock::now() - start).count() > opt.max_seconds) {
      warn(
          fmt::format("stopped after {:.0f} s: the walk is partial ({})", opt.max_seconds, raise_hint("heap-seconds")));
      st.partial = stop = true;
    }
    return stop;
  }

  void progress(std::string_view phase, uint64_t done, uint64_t total) {
    if (!opt.progress) return;
    auto now = Clock::now();
    if (now - last_progress < std::chrono::milliseconds(500)) return;
    last_progress = now;
    opt.progress(total ? fmt::format("pyxray: {} {}/{}, {} objects so far", phase, done, total, st.objects)
                       : fmt::format("pyxray: {}, {} objects so far", phase, st.objects));
  }

  // --- memory ---

  std::span<const std::byte> read_bulk(uint64_t addr, std::size_t len, std::vector<std::byte>& into) {
    into.resize(len);
    ++st.remote_reads;
    std::size_t got = bulk->read(addr, into);
    st.bytes_read += got;
    if (got < len) return {};
    return into;
  }

  std::span<const std::byte> read_any(uint64_t addr, std::size_t len) {
    if (addr >= buf_base && addr + len <= buf_base + buf_len && addr + len >= addr)
      return std::span<const std::byte>(buf.data() + (addr - buf_base), len);
    return read_bulk(addr, len, scratch);
  }

  bool in_buffer(uint64_t addr, std::size_t len) const { return addr >= buf_base && addr + len <= buf_base + buf_len; }

  // Index of the arena holding addr, or -1.
  int64_t arena_of(uint64_t addr) {
    const auto& a = heap.arenas;
    if (a.empty()) return -1;
    if (last_arena < a.size() && addr >= a[last_arena].address && addr < a[last_arena].address + heap.arena_size)
      return static_cast<int64_t>(last_arena);
    auto it = std::upper_bound(a.begin(), a.end(), addr, [](uint64_t v, const Arena& x) { return v < x.address; });
    if (it == a.begin()) return -1;
    --it;
    if (addr >= it->address + heap.arena_size) return -1;
    last_arena = static_cast<std::size_t>(it - a.begin());
    return static_cast<int64_t>(last_arena);
  }
  bool in_arena(uint64_t addr) { return arena_of(addr) >= 0; }

  bool load_arena(const Arena& a) {
    buf_base = a.first_pool;
    buf_len = 0;
    std::size_t len = a.end - a.first_pool;
    buf.resize(len);
    ++st.remote_reads;
    std::size_t got = bulk->read(a.first_pool, buf);
    st.bytes_read += got;
    buf_len = got;
    if (got < len && !target_gone()) {
      warn(fmt::format("arena at 0x{:x}: only {} of {} bytes readable", a.address, got, len));
      st.partial = true;
    }
    return got > 0;
  }

  // --- references and objects ---

  void reference(uint64_t from, uint64_t dst) {
    if (opt.edge_targets && opt.edge_targets->contains(dst)) opt.on_edge(from, dst);
    if (!plausible_pointer(dst) || in_arena(dst)) return;
    if (outside_seen.size() >= opt.max_outside) {
      if (!st.partial)
        warn(fmt::format("more than {} objects outside pymalloc's arenas: the walk is partial ({})",
                         outside_seen.size(), raise_hint("outside-objects")));
      st.partial = true;
      return;
    }
    if (outside_seen.insert(dst).second) candidates.push_back(dst);
  }

  void emit(uint64_t addr, const TypeInfo& t, uint64_t size, HeapObject::Where where, uint64_t gc_next) {
    // Its size may have needed a read that failed because the process had just gone.
    if (target_gone()) return;
    const auto ordinal = static_cast<uint32_t>(st.objects);
    ++st.objects;
    st.bytes += size;
    switch (where) {
      case HeapObject::Where::Arena: ++st.in_arenas; break;
      case HeapObject::Where::GcList: ++st.gc_outside; break;
      case HeapObject::Where::Reference: ++st.by_reference; break;
    }
    if (opt.on_object) opt.on_object(HeapObject{addr, &t, size, where, ordinal, gc_next});
  }

  // The references in queued arrays, and the sizes of dicts that waited for their keys.
  void serve(const Deferred& d) {
    src = d.ool.owner;
    if (d.emit) {
      std::array<std::byte, ObjectSizer::kKeysHeaderBytes> kh{};
      auto k = read_any(d.ool.addr, kh.size());
      uint64_t size = 0;
      if (k.size() == kh.size()) {
        std::memcpy(kh.data(), k.data(), kh.size());
        size = sizer.dict_getsizeof(*d.owner_type, d.ool.aux != 0, kh);
      } else {
        size = static_cast<uint64_t>(d.owner_type->basicsize) + d.owner_type->sizeof_header;
      }
      emit(d.ool.owner, *d.owner_type, size, HeapObject::Where::Arena, d.gc_next);
    }
    refs.array_refs(d.ool, reader, on_ref);
  }

  void flush_deferred() {
    if (deferred.empty()) return;
    std::sort(deferred.begin(), deferred.end(),
              [](const Deferred& a, const Deferred& b) { return a.ool.addr < b.ool.addr; });
    int64_t loaded = -1;
    std::size_t done = 0;
    for (const Deferred& d : deferred) {
      if (target_gone() || interrupted()) break;
      int64_t ai = arena_of(d.ool.addr);
      if (ai >= 0 && ai != loaded) {
        load_arena(heap.arenas[static_cast<std::size_t>(ai)]);
        loaded = ai;
      }
      serve(d);
      if ((++done & 0xfff) == 0) progress("reading lists' and dicts' items", done, deferred.size());
    }
    deferred.clear();
    buf_len = 0;
  }

  // An object found in a pymalloc block; `alloc` is its allocation from the pre-header on.
  void arena_object(uint64_t addr, const TypeInfo& t, std::span<const std::byte> alloc) {
    std::span<const std::byte> head = alloc.subspan(t.preheader);
    uint64_t gc_next = 0;
    if (t.gc && gc && t.preheader >= gc->head_size) {
      auto gh = alloc.subspan(t.preheader - gc->head_size, gc->head_size);
      if (gc->tracked(gh)) {
        gc_next = load_u64(gh, 0);
        // A list neighbour outside the arenas is a GC object the arena scan cannot see.
        for (uint64_t x : {GcLists::next(gh), GcLists::prev(gh)})
          if (x && !in_arena(x)) gc_seeds.push_back(x);
      }
    }
    src = addr;
    ool_tmp.clear();
    if (t.has_refs) refs.object_refs(addr, t, alloc, RefMode::Heap, on_ref, ool_tmp);
    bool emitted_later = false;
    for (const OutOfLine& o : ool_tmp) {
      bool sizing = o.kind == OutOfLine::Kind::DictKeys && o.owner == addr;
      // Served now when it sits in the arena at hand; otherwise queued until its arena is read.
      if (in_buffer(o.addr, 64)) {
        Deferred d{o, &t, sizing, gc_next};
        serve(d);
        src = addr;
      } else {
        deferred.push_back({o, &t, sizing, gc_next});
      }
      emitted_later = emitted_later || sizing;
    }
    if (emitted_later) return;
    uint64_t keys = sizer.needs_keys(t, head);
    if (keys) {  // a dict that no OutOfLine covered (not scanned for references)
      auto k = read_any(keys, ObjectSizer::kKeysHeaderBytes);
      emit(addr, t, sizer.getsizeof(t, addr, head, k), HeapObject::Where::Arena, gc_next);
      return;
    }
    emit(addr, t, sizer.getsizeof(t, addr, head), HeapObject::Where::Arena, gc_next);
  }

  void scan_pool(uint64_t pool, std::span<const std::byte> p) {
    const int64_t f_count = or_default(L.pool_header_count, 0);
    const int64_t f_szidx = or_default(L.pool_header_szidx, 36);
    uint32_t count = load_u32(p, f_count);
    if (count == 0) return;  // an empty pool on its arena's free list: nothing live, stale contents
    uint32_t szidx = load_u32(p, f_szidx);
    uint32_t nextoffset = load_u32(p, 40);
    if (szidx >= heap.nclasses || nextoffset > heap.pool_size) {
      warn(fmt::format("pool 0x{:x}: header looks corrupt (size class {}, nextoffset {}): skipped", pool, szidx,
                       nextoffset));
      st.partial = true;
      return;
    }
    const uint64_t bsize = (uint64_t{szidx} + 1) * heap.alignment;
    const uint64_t nblocks = (nextoffset > heap.overhead ? nextoffset - heap.overhead : 0) / bsize;
    // Blocks on the free list: freed, whatever their bytes still say.
    std::vector<bool>& is_free = free_blocks;
    is_free.assign(static_cast<std::size_t>(nblocks), false);
    uint64_t fb = load_u64(p, 8);
    for (uint64_t steps = 0; fb && steps <= nblocks; ++steps) {
      if (fb < pool + heap.overhead || fb >= pool + nextoffset || (fb - pool - heap.overhead) % bsize) {
        warn(fmt::format("pool 0x{:x}: free list points outside the pool (0x{:x})", pool, fb));
        break;
      }
      is_free[static_cast<std::size_t>((fb - pool - heap.overhead) / bsize)] = true;
      fb = load_u64(p, static_cast<int64_t>(fb - pool));
    }
    for (uint64_t i = 0; i < nblocks; ++i) {
      if (is_free[static_cast<std::size_t>(i)]) continue;
      const uint64_t off = heap.overhead + i * bsize;
      std::span<const std::byte> block = p.subspan(static_cast<std::size_t>(off), static_cast<std::size_t>(bsize));
      scan_block(pool + off, block, bsize);
    }
  }

  // A tracked GC object's previous list node, when it lies outside the arenas, links back to it. A
  // block can hold what looks like an object at the GC offset without being one (3.14+ keeps freed
  // ints on a free list, and an int's digit can equal a class's address): its "links" are another
  // object's words. Neighbours inside the arenas are not read: the arena scan validates those.
  bool links_back(uint64_t gc_head, std::span<const std::byte> gh) {
    if (!gc->tracked(gh) || !gc->prev_is_link(gh)) return true;
    const uint64_t prev = GcLists::prev(gh);
    if (!prev || in_arena(prev)) return true;
    std::array<std::byte, 8> next{};
    if (!proc.mem().read(prev, next)) return false;
    return GcLists::next(next) == gc_head;
  }

  void scan_block(uint64_t block, std::span<const std::byte> b, uint64_t bsize) {
    for (uint32_t o : block_offsets) {
      if (o + 16 > bsize) return;
      uint64_t rc = load_u64(b, o);
      if (!plausible_refcount(rc, refcount_mask)) continue;
      uint64_t type = load_u64(b, o + 8);
      if (!plausible_pointer(type)) continue;
      const TypeInfo* t = types.get(type);
      if (!t || t->preheader + debug_prefix != o) continue;
      if (t->gc && gc && o >= gc->head_size && !links_back(block + o - gc->head_size, b.subspan(o - gc->head_size)))
        continue;
      std::span<const std::byte> alloc = b.subspan(debug_prefix);
      uint64_t need = sizer.min_allocation(*t, alloc.subspan(t->preheader)) + debug_prefix + debug_suffix;
      if (need > bsize) continue;
      if (sizer.exact_allocation(*t) && need + heap.alignment <= bsize) continue;
      // The debug hooks store the requested size big-endian in the block's first word.
      if (heap.debug && __builtin_bswap64(load_u64(b, 0)) + debug_prefix + debug_suffix != need &&
          sizer.exact_allocation(*t))
        continue;
      arena_object(block + o, *t, alloc);
      return;
    }
  }

  void scan_arenas() {
    const std::size_t n = heap.arenas.size();
    for (std::size_t i = 0; i < n && !check_bounds(); ++i) {
      const Arena& a = heap.arenas[i];
      if (!load_arena(a)) continue;
      std::span<const std::byte> all(buf.data(), buf_len);
      for (uint64_t pool = a.first_pool; pool + heap.pool_size <= a.first_pool + buf_len; pool += heap.pool_size)
        scan_pool(pool,
                  all.subspan(static_cast<std::size_t>(pool - a.first_pool), static_cast<std::size_t>(heap.pool_size)));
      buf_len = 0;
      if (deferred.size() >= kMaxDeferred) flush_deferred();
      progress("scanning pymalloc arenas", i + 1, n);
    }
  }

  // What a pointer found by reference outside the arenas must also show to count as a live object
  // (nothing vouches for it the way a pymalloc block or a GC list does): a size whose end is
  // readable, and for a GC-tracked type, list links that lead back to it.
  // `gc_next` gets the object's _gc_next when it is tracked.
  bool plausible_outside(uint64_t addr, const TypeInfo& t, uint64_t objsize, uint64_t& gc_next) {
    if (objsize > kMaxObjectSize) return false;
    if (objsize > 4096) {
      std::array<std::byte, 8> last{};
      auto w = read_any(addr + objsize - 8, 8);
      if (w.size() < 8 && !proc.mem().read(addr + objsize - 8, last)) return false;
    }
    if (!t.gc || !gc || t.preheader < gc->head_size) return true;
    const uint64_t head = addr - gc->head_size;
    std::array<std::byte, 32> hb{};
    if (!proc.mem().read(head, std::span(hb.data(), gc->head_size))) return false;
    std::span<const std::byte> h(hb.data(), gc->head_size);
    if (!gc->tracked(h)) return true;
    uint64_t next = GcLists::next(h), prev = GcLists::prev(h);
    if (!next || !prev) return false;
    std::array<std::byte, 16> nb{}, pb{};
    if (!proc.mem().read(next, nb) || !proc.mem().read(prev, pb)) return false;
    if (GcLists::prev(nb) != head || GcLists::next(pb) != head) return false;
    gc_next = load_u64(h, 0);
    return true;
  }

  // An object outside the arenas: read what its size and references need, then emit it.
  // `gc_next`: its _gc_next when it was found on a GC list (a Reference's is read here).
  void outside_object(uint64_t addr, const TypeInfo& t, HeapObject::Where where, uint64_t gc_next) {
    Memory& m = proc.mem();
    std::array<std::byte, ObjectSizer::kHeaderBytes> hb{};
    std::size_t hn = hb.size();
    if (auto w = read_any(addr, hn); w.size() == hn) {
      std::memcpy(hb.data(), w.data(), hn);
    } else {  // near the end of readable memory: as much as there is
      while (hn >= 16 && !m.read(addr, std::span(hb.data(), hn))) hn /= 2;
      if (hn < 16) return;
    }
    std::span<const std::byte> head(hb.data(), hn);
    uint64_t objsize = sizer.min_allocation(t, head) - t.preheader;
    if (where == HeapObject::Where::Reference && !plausible_outside(addr, t, objsize, gc_next)) return;
    uint64_t want = t.preheader + refs.wanted_bytes(t, objsize);
    std::span<const std::byte> alloc;
    if (in_buffer(addr - t.preheader, static_cast<std::size_t>(want)))
      alloc = std::span<const std::byte>(buf.data() + (addr - t.preheader - buf_base), static_cast<std::size_t>(want));
    else alloc = read_bulk(addr - t.preheader, static_cast<std::size_t>(want), objbuf);
    if (alloc.empty() && t.preheader == 0) {
      objbuf.assign(head.begin(), head.end());
      alloc = objbuf;
    }
    uint64_t size = 0;
    if (uint64_t keys = sizer.needs_keys(t, head)) {
      std::array<std::byte, ObjectSizer::kKeysHeaderBytes> kh{};
      if (auto k = read_any(keys, kh.size()); k.size() == kh.size()) size = sizer.getsizeof(t, addr, head, k);
      else size = sizer.getsizeof(t, addr, head);
    } else {
      size = sizer.getsizeof(t, addr, head);
    }
    emit(addr, t, size, where, gc_next);
    if (!t.has_refs || alloc.empty()) return;
    src = addr;
    std::vector<OutOfLine> ool;
    // `alloc` is in buf or objbuf, which the reader below leaves alone (it reads into scratch).
    refs.object_refs(addr, t, alloc, RefMode::Heap, on_ref, ool);
    for (const OutOfLine& o : ool) {
      src = o.owner;
      refs.array_refs(o, reader, on_ref);
    }
  }

  // GC list nodes outside the arenas, from the generation heads and the arena objects' neighbours.
  void walk_gc_outside() {
    if (!gc) return;
    Memory& m = proc.mem();
    std::vector<uint64_t> stack = std::move(gc_seeds);
    for (uint64_t h : gc->heads) {
      std::array<std::byte, 16> hh{};
      if (!m.read(h, hh)) continue;
      stack.push_back(GcLists::next(hh));
      stack.push_back(GcLists::prev(hh));
    }
    uint64_t bad = 0, first_bad = 0;
    std::vector<std::byte> node(gc->head_size + 16);
    while (!stack.empty() && !check_bounds()) {
      uint64_t h = stack.back();
      stack.pop_back();
      if (!h || gc->is_head(h) || in_arena(h)) continue;
      if (gc_seen.size() >= opt.max_outside) {
        warn(fmt::format("more than {} GC objects outside pymalloc's arenas: the walk is partial ({})", gc_seen.size(),
                         raise_hint("outside-objects")));
        st.partial = true;
        break;
      }
      if (!gc_seen.insert(h).second) continue;
      if (!m.read(h, node)) {
        if (!bad++) first_bad = h;
        continue;
      }
      std::span<const std::byte> nb(node);
      uint64_t obj = h + gc->head_size;
      uint64_t rc = load_u64(nb, static_cast<int64_t>(gc->head_size));
      const TypeInfo* t = plausible_refcount(rc, refcount_mask)
                              ? types.get(load_u64(nb, static_cast<int64_t>(gc->head_size) + 8))
                              : nullptr;
      if (!t || !t->gc) {
        if (!bad++) first_bad = h;
        continue;
      }
      stack.push_back(GcLists::next(nb));
      stack.push_back(GcLists::prev(nb));
      outside_seen.insert(obj);
      if (outside_emitted.insert(obj).second)
        outside_object(obj, *t, HeapObject::Where::GcList, gc->tracked(nb) ? load_u64(nb, 0) : 0);
      if ((gc_seen.size() & 0xfff) == 0) progress("following GC lists outside the arenas", 0, 0);
    }
    if (bad && !target_gone()) {
      warn(
          fmt::format("{} GC list link(s) lead to memory that is not a GC object, the first to 0x{:x} (a "
                      "collection in progress, or a damaged list)",
                      bad, first_bad));
    }
  }

  // A candidate outside the arenas: counted when it validates as an object.
  void candidate(uint64_t c) {
    std::span<const std::byte> hb = read_any(c, 16);
    std::array<std::byte, 16> local{};
    if (hb.size() < 16) {
      if (!proc.mem().read(c, local)) return;
      hb = local;
    }
    if (!plausible_refcount(load_u64(hb, 0), refcount_mask)) return;
    uint64_t type = load_u64(hb, 8);
    if (!plausible_pointer(type)) return;
    const TypeInfo* t = types.get(type);
    if (!t || !outside_emitted.insert(c).second) return;
    outside_object(c, *t, HeapObject::Where::Reference, 0);
  }

  void drain() {
    // Arrays, then out-of-arena candidates (whose references may queue more), until nothing is left.
    // Candidates are read in address order, a window of neighbours per remote read.
    constexpr uint64_t kGap = 16 << 10, kWindow = 1 << 20, kTail = 256;
    while (!stop && (!deferred.empty() || !candidates.empty())) {
      flush_deferred();
      std::vector<uint64_t> batch;
      batch.swap(candidates);
      std::sort(batch.begin(), batch.end());
      std::size_t i = 0;
      while (i < batch.size() && !check_bounds()) {
        std::size_t j = i + 1;
        while (j < batch.size() && batch[j] - batch[j - 1] < kGap && batch[j] + kTail - batch[i] <= kWindow) ++j;
        const uint64_t start = batch[i], len = batch[j - 1] + kTail - start;
        buf.resize(len);
        ++st.remote_reads;
        buf_base = start;
        buf_len = bulk->read(start, buf);
        st.bytes_read += buf_len;
        for (std::size_t k = i; k < j && !stop; ++k) {
          candidate(batch[k]);
          if ((st.by_reference & 0xfff) == 0) progress("reading objects outside the arenas", 0, 0);
        }
        buf_len = 0;
        i = j;
      }
    }
  }

  Expected<HeapWalkStats> run() {
    if (proc.traits().mimalloc_heap) return fail(kMimallocHeapNotWalked);
    uint64_t probe = proc.runtime_addr() ? proc.runtime_addr() : proc.interp_head_addr();
    bulk = choose_reader(proc.target(), probe);
    heap = load_pymalloc(proc);
    st.allocator = heap.available ? (heap.debug ? "pymalloc (debug hooks)" : "pymalloc") : heap.allocator;
    st.pymalloc = heap.available;
    st.arenas = heap.arenas.size();
    if (!heap.available) warn(heap.why_not);
    if (auto g = gc_lists(proc)) {
      gc = std::move(*g);
    } else {
      warn(
          fmt::format("the GC lists cannot be found ({}): GC objects outside pymalloc's arenas are only found "
                      "by reference",
                      g.error().message));
    }
    if (target_gone()) return fail(process_gone_message(proc.target().pid()));
    if (!heap.available && !gc) return fail(fmt::format("nothing to walk: {}", heap.why_not));
    const uint32_t gch = gc ? static_cast<uint32_t>(gc->head_size)
                            : static_cast<uint32_t>(or_default(L.gc_head_size, proc.traits().default_gc_head_size));
    if (heap.debug) {
      debug_prefix = 16;
      debug_suffix = 8;
    }
    block_offsets = {debug_prefix, debug_prefix + gch};
    if (proc.traits().managed_preheader) block_offsets.push_back(debug_prefix + gch + 16);

    if (heap.available) scan_arenas();
    if (!stop) flush_deferred();
    if (!stop) walk_gc_outside();
    if (!stop) {
      HeapRoots roots = heap_roots(proc, objects);
      if (!target_gone())
        for (const auto& w : roots.warnings) warn(w);
      src = 0;
      for (const auto& l : roots.frame_locals) reference(0, l.value);
      for (uint64_t o : roots.others) reference(0, o);
      for (const auto& [dict, name] : roots.module_dicts) reference(0, dict);
    }
    drain();
    st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (target_gone() && st.objects == 0) return fail(process_gone_message(proc.target().pid()));
    return st;
  }
};

HeapWalker::HeapWalker(PythonProcess& proc, Objects& objects, TypeCache& types, ObjectSizer& sizer, Referents& refs)
    : proc_(proc), objects_(objects), types_(types), sizer_(sizer), refs_(refs) {}
HeapWalker::~HeapWalker() = default;

Expected<HeapWalkStats> HeapWalker::run(const HeapWalkOptions& options) {
  Impl impl(proc_, objects_, types_, sizer_, refs_, options);
  return impl.run();
}

}  // namespace pyxray
