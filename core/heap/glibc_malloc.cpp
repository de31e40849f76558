#include "heap/glibc_malloc.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <sys/stat.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/limits.hpp"
#include "target/memory.hpp"
#include "target/target.hpp"

namespace pyxray {
namespace {

constexpr uint64_t kSizeBits = 7;                      // PREV_INUSE | IS_MMAPPED | NON_MAIN_ARENA
constexpr uint64_t kChunkAlign = 16;                   // MALLOC_ALIGNMENT on 64-bit
constexpr uint64_t kMinChunk = 32;                     // MINSIZE on 64-bit
constexpr uint64_t kAddressSpace = uint64_t{1} << 47;  // x86-64 user space: no byte count can exceed it
constexpr std::size_t kMaxWarnings = 8;

struct Offsets {
  int64_t state_size = 0, top = 0, bins = 0, binmap = 0, next = 0, system_mem = 0, max_system_mem = 0;
  std::optional<int64_t> fastbins;  // fastbinsY
  int64_t chunk_size = 0, chunk_fd = 0, chunk_bk = 0;
  int64_t mp_n_mmaps = 0, mp_max_n_mmaps = 0, mp_mmapped_mem = 0, mp_max_mmapped_mem = 0;
  std::optional<int64_t> mp_trim_threshold, mp_mmap_threshold;
  // fastbinsY[NFASTBINS] comes right before top; bins[NBINS * 2 - 2] right before binmap.
  int nfastbins() const { return fastbins ? static_cast<int>((top - *fastbins) / 8) : 0; }
  int nbins() const { return static_cast<int>((binmap - bins) / 16) + 1; }
};

// Every field pyxray reads, and what its absence means. The differences between glibc versions are
// rows here, not branches in the code: 2.26 renamed malloc_chunk.size to mchunk_size; 2.43 removed
// the fastbins (no malloc_state.fastbinsY: their count is then 0, as mallinfo2 says). A required
// field that is missing means a layout pyxray does not know.
struct FieldRule {
  const char* type;
  const char* name;        // "" for the size of the type
  const char* older_name;  // the field's name in older glibc, or nullptr
  int64_t Offsets::*required;
  std::optional<int64_t> Offsets::*optional;
};

constexpr const char* S = "struct malloc_state";
constexpr const char* C = "struct malloc_chunk";
constexpr const char* P = "struct malloc_par";

const FieldRule kFields[] = {
    {S, "top", nullptr, &Offsets::top, nullptr},
    {S, "fastbinsY", nullptr, nullptr, &Offsets::fastbins},  // glibc <= 2.42
    {S, "bins", nullptr, &Offsets::bins, nullptr},
    {S, "binmap", nullptr, &Offsets::binmap, nullptr},
    {S, "next", nullptr, &Offsets::next, nullptr},
    {S, "system_mem", nullptr, &Offsets::system_mem, nullptr},
    {S, "max_system_mem", nullptr, &Offsets::max_system_mem, nullptr},
    {C, "mchunk_size", "size", &Offsets::chunk_size, nullptr},  // "size" before 2.26
    {C, "fd", nullptr, &Offsets::chunk_fd, nullptr},
    {C, "bk", nullptr, &Offsets::chunk_bk, nullptr},
    {P, "n_mmaps", nullptr, &Offsets::mp_n_mmaps, nullptr},
    {P, "max_n_mmaps", nullptr, &Offsets::mp_max_n_mmaps, nullptr},
    {P, "mmapped_mem", nullptr, &Offsets::mp_mmapped_mem, nullptr},
    {P, "max_mmapped_mem", nullptr, &Offsets::mp_max_mmapped_mem, nullptr},
    {P, "trim_threshold", nullptr, nullptr, &Offsets::mp_trim_threshold},
    {P, "mmap_threshold", nullptr, nullptr, &Offsets::mp_mmap_threshold},
};

const char* kNeedDebugInfo = "glibc statistics need libc's debug symbols (Debian: libc6-dbg)";

Expected<Offsets> offsets(Target& t) {
  Offsets o{};
  if (auto size = t.type_offset(S, "")) o.state_size = *size;
  else return fail(fmt::format("{}: the debugger knows no {}", kNeedDebugInfo, S));
  std::vector<std::string> missing;
  for (const auto& rule : kFields) {
    std::optional<int64_t> at = t.type_offset(rule.type, rule.name);
    if (!at && rule.older_name) at = t.type_offset(rule.type, rule.older_name);
    if (rule.optional) o.*rule.optional = at;
    else if (at) o.*rule.required = *at;
    else missing.push_back(fmt::format("{}.{}", rule.type, rule.name));
  }
  if (!missing.empty())
    return fail(
        fmt::format("this glibc's malloc structures are not a layout pyxray knows (no {})", fmt::join(missing, ", ")));
  const bool fastbins_fit = !o.fastbins || (o.nfastbins() > 0 && o.nfastbins() <= 64);
  if (!fastbins_fit || o.nbins() <= 1 || o.nbins() > 1024 || o.top < 0 || o.binmap >= o.state_size ||
      o.system_mem + 8 > o.state_size || o.max_system_mem + 8 > o.state_size || o.next + 8 > o.state_size)
    return fail(
        fmt::format("this glibc's struct malloc_state is not a layout pyxray knows ({} fastbins, {} bins "
                    "in {} bytes)",
                    o.nfastbins(), o.nbins(), o.state_size));
  return o;
}

void warn(std::vector<std::string>& w, std::string msg) {
  if (w.size() < kMaxWarnings) w.push_back(std::move(msg));
  else if (w.size() == kMaxWarnings) w.push_back("(more warnings not shown)");
}

uint64_t field(const std::vector<std::byte>& buf, int64_t off) {
  uint64_t v = 0;
  std::memcpy(&v, buf.data() + off, sizeof v);
  return v;
}

// Why an arena, as read, cannot be one of this process: its numbers or links contradict each other
// or the target's mappings. nullopt when it is plausible. This is what keeps symbols of another
// libc build (or a damaged arena) from turning into absurd numbers.
std::optional<std::string> implausible_arena(const std::vector<std::byte>& s, uint64_t addr, const Offsets& o,
                                             const AddressSpace& space) {
  const uint64_t system = field(s, o.system_mem), max_system = field(s, o.max_system_mem);
  const uint64_t top = field(s, o.top), next = field(s, o.next);
  const uint64_t mapped = space.complete ? space.mapped_bytes() : kAddressSpace;
  // The messages name no number read here: such a number may be absurd, and is never printed.
  if (system > mapped)
    return space.complete ? fmt::format("its system_mem is more than all the process has mapped ({} bytes)", mapped)
                          : std::string("its system_mem is more than a 47-bit address space holds");
  if (max_system < system) return std::string("its max_system_mem is below its system_mem");
  if (next == 0 || next % 8 || !space.holds(next, static_cast<uint64_t>(o.state_size)))
    return fmt::format("its next arena 0x{:x} is not in mapped memory", next);
  // An arena's bins are initialised on first use to point at themselves; a non-empty one links to
  // chunks, which are aligned and mapped.
  int linked = 0;
  for (int i = 1; i < o.nbins(); ++i) {
    const uint64_t bin = addr + o.bins + 16 * static_cast<uint64_t>(i - 1) - o.chunk_fd;
    const uint64_t fd = field(s, o.bins + 16 * (i - 1)), bk = field(s, o.bins + 16 * (i - 1) + 8);
    if (fd == bin && bk == bin) continue;
    if (fd == 0 && bk == 0 && system == 0) continue;  // the main arena before the first malloc
    for (uint64_t link : {fd, bk})
      if (link == 0 || link % kChunkAlign || link == bin || !space.holds(link, static_cast<uint64_t>(o.chunk_bk) + 8))
        return fmt::format("bin {} links to 0x{:x}, which is not a chunk in mapped memory", i, link);
    ++linked;
  }
  const uint64_t unsorted = addr + o.bins - o.chunk_fd;  // the initial top, before the first malloc
  if (system == 0) {
    if (top != 0 && top != unsorted) return fmt::format("it holds no memory but its top chunk is at 0x{:x}", top);
    if (linked) return fmt::format("it holds no memory but {} bins are not empty", linked);
    return std::nullopt;
  }
  if (top % kChunkAlign || !space.holds(top, static_cast<uint64_t>(o.chunk_size) + 8))
    return fmt::format("its top chunk 0x{:x} is not in mapped memory", top);
  return std::nullopt;
}

class Walker {
 public:
  Walker(Memory& m, const Offsets& o, const AddressSpace& space, GlibcStats& out)
      : m_(m), o_(o), space_(space), out_(out) {}

  std::optional<uint64_t> chunk_size(uint64_t chunk) {
    auto s = m_.read<uint64_t>(chunk + o_.chunk_size);
    if (!s) return std::nullopt;
    return *s & ~kSizeBits;
  }

  // A free chunk as it must be: aligned, at least MINSIZE, no larger than its arena, inside mapped
  // memory from its header to its end.
  std::optional<uint64_t> free_chunk(uint64_t p, uint64_t arena_system) {
    if (!p || p % kChunkAlign) return std::nullopt;
    auto sz = chunk_size(p);
    if (!sz || *sz < kMinChunk || *sz % kChunkAlign || *sz > arena_system || !space_.holds(p, *sz)) return std::nullopt;
    return sz;
  }

  // One fastbin chain; nullopt if it does not look like a chain of `size`-byte chunks under this
  // link encoding. Safe-linking (glibc 2.32+) stores next ^ (address of the link >> 12).
  struct Chain {
    uint64_t chunks = 0, bytes = 0;
  };
  std::optional<Chain> fastbin(uint64_t head, uint64_t size, uint64_t arena_system, bool mangled, uint64_t budget) {
    Chain c;
    std::unordered_set<uint64_t> seen;
    for (uint64_t p = head; p;) {
      if (c.chunks >= budget || !seen.insert(p).second) return std::nullopt;
      auto sz = free_chunk(p, arena_system);
      if (!sz || *sz != size) return std::nullopt;
      ++c.chunks;
      c.bytes += *sz;
      auto link = m_.read<uint64_t>(p + o_.chunk_fd);
      if (!link) return std::nullopt;
      p = mangled ? ((p + o_.chunk_fd) >> 12) ^ *link : *link;
    }
    return c;
  }

  // Reads and checks the arena at addr. An error says why it is not an arena of this process.
  Expected<GlibcArena> arena(uint64_t addr, bool is_main) {
    GlibcArena a;
    a.address = addr;
    a.main = is_main;
    auto state = m_.read_bytes(addr, static_cast<std::size_t>(o_.state_size));
    if (!state || !space_.holds(addr, static_cast<uint64_t>(o_.state_size)))
      return fail("it is not in readable memory");
    const auto& s = *state;
    if (auto why = implausible_arena(s, addr, o_, space_)) return fail(*why);
    a.system_bytes = field(s, o_.system_mem);
    a.max_system_bytes = field(s, o_.max_system_mem);
    if (a.system_bytes == 0) return a;  // never used: nothing to walk
    const uint64_t top = field(s, o_.top);
    if (auto sz = chunk_size(top); sz && *sz <= a.system_bytes && space_.holds(top, *sz)) a.top_bytes = *sz;
    else return fail(fmt::format("its top chunk at 0x{:x} is unreadable or larger than the arena", top));
    // glibc allows 8 arenas per core by default; the malloc-arenas and malloc-chunks limits bound
    // the walk of each.
    const auto max_chunks = static_cast<uint64_t>(limits().malloc_chunks);
    uint64_t budget = max_chunks;

    for (int i = 0; i < o_.nfastbins(); ++i) {
      uint64_t head = field(s, *o_.fastbins + 8 * i);
      if (!head) continue;
      uint64_t size = static_cast<uint64_t>(i + 2) * kChunkAlign;  // fastbin_index(sz) = (sz >> 4) - 2
      std::optional<Chain> c;
      if (!mangling_known_) {
        // The first non-empty fastbin tells which encoding this glibc uses.
        for (bool mangled : {true, false}) {
          if ((c = fastbin(head, size, a.system_bytes, mangled, budget))) {
            out_.safe_linking = mangled;
            mangling_known_ = true;
            break;
          }
        }
      } else {
        c = fastbin(head, size, a.system_bytes, out_.safe_linking, budget);
      }
      if (!c) {
        warn(out_.warnings,
             fmt::format("arena 0x{:x}: fastbin {} ({}-byte chunks) is not a valid chain; not counted", addr, i, size));
        continue;
      }
      a.fastbin_chunks += c->chunks;
      a.fastbin_bytes += c->bytes;
      budget -= c->chunks;
    }

    // bin_at(av, i) is a fake chunk whose fd/bk are bins[2(i-1)], bins[2(i-1)+1]; walk back by bk.
    for (int i = 1; i < o_.nbins(); ++i) {
      uint64_t bin = addr + o_.bins + 16 * static_cast<uint64_t>(i - 1) - o_.chunk_fd;
      uint64_t p = field(s, o_.bins + 16 * (i - 1) + 8);
      bool ok = true;
      while (p != bin) {
        auto sz = budget ? free_chunk(p, a.system_bytes) : std::nullopt;
        if (!sz) {
          ok = false;
          break;
        }
        auto bk = m_.read<uint64_t>(p + o_.chunk_bk);
        if (!bk) {
          ok = false;
          break;
        }
        ++a.bin_chunks;
        a.bin_bytes += *sz;
        --budget;
        p = *bk;
      }
      if (!ok)
        warn(out_.warnings, fmt::format("arena 0x{:x}: bin {} is cut short at 0x{:x} (not a free chunk in mapped "
                                        "memory, or longer than {} chunks: {}); counted up to there",
                                        addr, i, p, max_chunks, raise_hint("malloc-chunks")));
    }
    if (a.free_bytes() > a.system_bytes) return fail("its free chunks add up to more than the memory it holds");
    return a;
  }

 private:
  Memory& m_;
  const Offsets& o_;
  const AddressSpace& space_;
  GlibcStats& out_;
  bool mangling_known_ = false;
};

bool is_libc(std::string_view base) {
  return base.rfind("libc.so", 0) == 0 ||
         (base.rfind("libc-", 0) == 0 && base.size() > 3 && base.substr(base.size() - 3) == ".so");
}

bool same_root_as_ours(int pid) {
  struct stat theirs {
  }, ours{};
  if (::stat(fmt::format("/proc/{}/root/", pid).c_str(), &theirs) != 0 || ::stat("/", &ours) != 0) return true;
  return theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
}

// When the debugger's libc is not the build the target maps (a target in a chroot or container
// whose libc the debugger took from the host), its main_arena and layouts describe another program:
// say so, with the way out. nullopt when they match or cannot be compared (no build id readable).
std::optional<std::string> libc_build_mismatch(Target& t, Memory& mem, const AddressSpace& space) {
  const MappedRange* image = space.image(is_libc);
  if (!image) return std::nullopt;
  auto mapped = elf_build_id_at(mem, image->start);
  if (!mapped) return std::nullopt;
  const std::string_view name = base_name(image->path);
  std::optional<std::string> ours;
  for (const auto& obj : t.loaded_objects()) {
    if (!obj.build_id || base_name(obj.path) != name) continue;
    ours = normalize_build_id(*obj.build_id);
    if (obj.path == image->path) break;  // the same path beats the same name
  }
  if (!ours || ours->empty() || *ours == *mapped) return std::nullopt;
  std::string hint;
  if (t.is_live_local() && t.pid() > 0 && !same_root_as_ours(t.pid()))
    hint = fmt::format("in gdb: set sysroot /proc/{}/root", t.pid());
  else
    hint = fmt::format(
        "give the debugger the target's own {} and its debug symbols (gdb: set sysroot, set "
        "debug-file-directory)",
        name);
  return fmt::format(
      "the debugger's symbols for {} are of another build (build id {}; the target maps {} with "
      "build id {}); {}",
      name, *ours, image->path, *mapped, hint);
}

}  // namespace

uint64_t GlibcStats::system_bytes() const {
  uint64_t n = 0;
  for (const auto& a : arenas) n += a.system_bytes;
  return n;
}
uint64_t GlibcStats::free_bytes() const {
  uint64_t n = 0;
  for (const auto& a : arenas) n += a.free_bytes();
  return n;
}
uint64_t GlibcStats::in_use_bytes() const {
  uint64_t n = 0;
  for (const auto& a : arenas) n += a.in_use_bytes();
  return n;
}
uint64_t GlibcStats::top_bytes() const {
  uint64_t n = 0;
  for (const auto& a : arenas) n += a.top_bytes;
  return n;
}

Expected<GlibcStats> read_glibc_malloc(Target& target, Memory& mem) {
  return read_glibc_malloc(target, mem, address_space(target));
}

Expected<GlibcStats> read_glibc_malloc(Target& target, Memory& mem, const AddressSpace& space) {
  auto main_arena = target.symbol_address("main_arena");
  auto mp = target.symbol_address("mp_");
  if (!main_arena || !mp)
    return fail(fmt::format("{}: the debugger finds no {} (is this process using glibc's malloc?)", kNeedDebugInfo,
                            !main_arena ? "main_arena" : "mp_"));
  if (auto mismatch = libc_build_mismatch(target, mem, space)) return fail(*mismatch);
  PYX_TRY(o, offsets(target));
  GlibcStats out;
  out.fastbins = o.fastbins.has_value();
  const char* other_build = "the debugger's libc symbols are probably of another build than the libc the process runs";
  auto n_mmaps = mem.read<int32_t>(*mp + o.mp_n_mmaps);
  auto max_n_mmaps = mem.read<int32_t>(*mp + o.mp_max_n_mmaps);
  auto mmapped = mem.read<uint64_t>(*mp + o.mp_mmapped_mem);
  auto max_mmapped = mem.read<uint64_t>(*mp + o.mp_max_mmapped_mem);
  if (!n_mmaps || !max_n_mmaps || !mmapped || !max_mmapped)
    return fail(fmt::format("cannot read glibc's malloc parameters (mp_ at 0x{:x})", *mp));
  const uint64_t mapped = space.complete ? space.mapped_bytes() : kAddressSpace;
  if (*n_mmaps < 0 || *max_n_mmaps < *n_mmaps || *mmapped > *max_mmapped || *mmapped > mapped ||
      (*n_mmaps == 0) != (*mmapped == 0))
    return fail(
        fmt::format("glibc's malloc parameters (mp_ at 0x{:x}) do not hold together (mmapped chunks and "
                    "bytes against their peaks and the mapped memory): {}",
                    *mp, other_build));
  out.mmapped_regions = static_cast<uint64_t>(*n_mmaps);
  out.max_mmapped_regions = static_cast<uint64_t>(*max_n_mmaps);
  out.mmapped_bytes = *mmapped;
  out.max_mmapped_bytes = *max_mmapped;
  if (o.mp_trim_threshold)
    if (auto v = mem.read<uint64_t>(*mp + *o.mp_trim_threshold); v && *v < kAddressSpace) out.trim_threshold = *v;
  if (o.mp_mmap_threshold)
    if (auto v = mem.read<uint64_t>(*mp + *o.mp_mmap_threshold); v && *v < kAddressSpace) out.mmap_threshold = *v;

  Walker walker(mem, o, space, out);
  std::unordered_set<uint64_t> seen;
  uint64_t a = *main_arena;
  const int64_t max_arenas = limits().malloc_arenas;
  for (int64_t n = 0;; ++n) {
    if (n == max_arenas) {
      warn(out.warnings, fmt::format("the arena ring has more than {} arenas; the others are not counted ({})",
                                     max_arenas, raise_hint("malloc-arenas")));
      break;
    }
    if (!seen.insert(a).second) {
      warn(out.warnings, fmt::format("the arena ring loops back to 0x{:x}, not to main_arena", a));
      break;
    }
    auto arena = walker.arena(a, a == *main_arena);
    if (!arena) {
      if (a == *main_arena)
        return fail(
            fmt::format("main_arena, where the debugger's symbols place it (0x{:x}), is not a malloc arena "
                        "of this process ({}): {}",
                        a, arena.error().message, other_build));
      warn(out.warnings, fmt::format("the arena at 0x{:x} is not a malloc arena ({}); it and the arenas after it "
                                     "in the ring are not counted",
                                     a, arena.error().message));
      break;
    }
    out.arenas.push_back(*arena);
    auto next = mem.read<uint64_t>(a + o.next);
    if (!next || !*next) {
      warn(out.warnings, fmt::format("the arena ring is broken after 0x{:x}", a));
      break;
    }
    a = *next;
    if (a == *main_arena) break;
  }
  if (out.arenas.empty()) return fail(fmt::format("cannot read glibc's main_arena at 0x{:x}", *main_arena));
  return out;
}

}  // namespace pyxray
