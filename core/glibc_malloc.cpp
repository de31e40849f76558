#include "glibc_malloc.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "limits.hpp"
#include "memory.hpp"
#include "target.hpp"

namespace pyxray {
namespace {

constexpr uint64_t kSizeBits = 7;  // PREV_INUSE | IS_MMAPPED | NON_MAIN_ARENA
constexpr uint64_t kChunkAlign = 16;  // MALLOC_ALIGNMENT on 64-bit
constexpr std::size_t kMaxWarnings = 8;

struct Offsets {
  int64_t state_size, top, fastbins, bins, binmap, next, system_mem, max_system_mem;
  int64_t chunk_size, chunk_fd, chunk_bk;
  int64_t mp_n_mmaps, mp_max_n_mmaps, mp_mmapped_mem, mp_max_mmapped_mem;
  std::optional<int64_t> mp_trim_threshold, mp_mmap_threshold;
  int nfastbins() const { return static_cast<int>((top - fastbins) / 8); }
  int nbins() const { return static_cast<int>((binmap - bins) / 16) + 1; }  // bins[NBINS * 2 - 2]
};

const char* kNeedDebugInfo = "glibc statistics need libc's debug symbols (Debian: libc6-dbg)";

Expected<Offsets> offsets(Target& t) {
  std::vector<std::string> missing;
  auto need = [&](std::string_view type, std::string_view field) -> int64_t {
    if (auto o = t.type_offset(type, field)) return *o;
    missing.push_back(field.empty() ? std::string(type) : fmt::format("{}.{}", type, field));
    return 0;
  };
  auto either = [&](std::string_view type, std::string_view a, std::string_view b) -> int64_t {
    if (auto o = t.type_offset(type, a)) return *o;
    return need(type, b);
  };
  const char* S = "struct malloc_state";
  const char* C = "struct malloc_chunk";
  const char* P = "struct malloc_par";
  Offsets o{};
  o.state_size = need(S, "");
  if (!missing.empty()) return fail(fmt::format("{}: gdb knows no {}", kNeedDebugInfo, S));
  o.top = need(S, "top");
  o.fastbins = need(S, "fastbinsY");
  o.bins = need(S, "bins");
  o.binmap = need(S, "binmap");
  o.next = need(S, "next");
  o.system_mem = need(S, "system_mem");
  o.max_system_mem = need(S, "max_system_mem");
  o.chunk_size = either(C, "mchunk_size", "size");
  o.chunk_fd = need(C, "fd");
  o.chunk_bk = need(C, "bk");
  o.mp_n_mmaps = need(P, "n_mmaps");
  o.mp_max_n_mmaps = need(P, "max_n_mmaps");
  o.mp_mmapped_mem = need(P, "mmapped_mem");
  o.mp_max_mmapped_mem = need(P, "max_mmapped_mem");
  o.mp_trim_threshold = t.type_offset(P, "trim_threshold");
  o.mp_mmap_threshold = t.type_offset(P, "mmap_threshold");
  if (!missing.empty())
    return fail(fmt::format("this glibc's malloc structures are not the ones pyxray knows (no {})",
                            fmt::join(missing, ", ")));
  if (o.nfastbins() <= 0 || o.nfastbins() > 64 || o.nbins() <= 1 || o.nbins() > 1024)
    return fail(fmt::format("unexpected struct malloc_state layout ({} fastbins, {} bins)", o.nfastbins(), o.nbins()));
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

class Walker {
 public:
  Walker(Memory& m, const Offsets& o, GlibcStats& out) : m_(m), o_(o), out_(out) {}

  std::optional<uint64_t> chunk_size(uint64_t chunk) {
    auto s = m_.read<uint64_t>(chunk + o_.chunk_size);
    if (!s) return std::nullopt;
    return *s & ~kSizeBits;
  }

  // One fastbin chain; nullopt if it does not look like a chain of `size`-byte chunks under this
  // link encoding. Safe-linking (glibc 2.32+) stores next ^ (address of the link >> 12).
  struct Chain {
    uint64_t chunks = 0, bytes = 0;
  };
  std::optional<Chain> fastbin(uint64_t head, uint64_t size, bool mangled, uint64_t budget) {
    Chain c;
    std::unordered_set<uint64_t> seen;
    for (uint64_t p = head; p; ) {
      if (p % kChunkAlign || c.chunks >= budget || !seen.insert(p).second) return std::nullopt;
      auto sz = chunk_size(p);
      if (!sz || *sz != size) return std::nullopt;
      ++c.chunks;
      c.bytes += *sz;
      auto link = m_.read<uint64_t>(p + o_.chunk_fd);
      if (!link) return std::nullopt;
      p = mangled ? ((p + o_.chunk_fd) >> 12) ^ *link : *link;
    }
    return c;
  }

  void arena(uint64_t addr, bool is_main) {
    GlibcArena a;
    a.address = addr;
    a.main = is_main;
    auto state = m_.read_bytes(addr, static_cast<std::size_t>(o_.state_size));
    if (!state) {
      warn(out_.warnings, fmt::format("cannot read the arena at 0x{:x}", addr));
      return;
    }
    const auto& s = *state;
    a.system_bytes = field(s, o_.system_mem);
    a.max_system_bytes = field(s, o_.max_system_mem);
    uint64_t top = field(s, o_.top);
    if (auto sz = chunk_size(top)) a.top_bytes = *sz;
    else warn(out_.warnings, fmt::format("arena 0x{:x}: cannot read its top chunk at 0x{:x}", addr, top));
    // glibc allows 8 arenas per core by default; the malloc-arenas and malloc-chunks limits bound
    // the walk of each.
    const auto max_chunks = static_cast<uint64_t>(limits().malloc_chunks);
    uint64_t budget = max_chunks;

    for (int i = 0; i < o_.nfastbins(); ++i) {
      uint64_t head = field(s, o_.fastbins + 8 * i);
      if (!head) continue;
      uint64_t size = static_cast<uint64_t>(i + 2) * kChunkAlign;  // fastbin_index(sz) = (sz >> 4) - 2
      std::optional<Chain> c;
      if (!mangling_known_) {
        // The first non-empty fastbin tells which encoding this glibc uses.
        for (bool mangled : {true, false}) {
          if ((c = fastbin(head, size, mangled, budget))) {
            out_.safe_linking = mangled;
            mangling_known_ = true;
            break;
          }
        }
      } else {
        c = fastbin(head, size, out_.safe_linking, budget);
      }
      if (!c) {
        warn(out_.warnings, fmt::format("arena 0x{:x}: fastbin {} ({}-byte chunks) is not a valid chain; not counted",
                                        addr, i, size));
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
        if (!p || p % kChunkAlign || budget == 0) {
          ok = false;
          break;
        }
        auto sz = chunk_size(p);
        auto bk = m_.read<uint64_t>(p + o_.chunk_bk);
        if (!sz || !bk) {
          ok = false;
          break;
        }
        ++a.bin_chunks;
        a.bin_bytes += *sz;
        --budget;
        p = *bk;
      }
      if (!ok)
        warn(out_.warnings, fmt::format("arena 0x{:x}: bin {} is cut short at 0x{:x} (unreadable, misaligned or "
                                        "longer than {} chunks: {}); counted up to there", addr, i, p, max_chunks,
                                        raise_hint("malloc-chunks")));
    }
    if (a.free_bytes() > a.system_bytes)
      warn(out_.warnings, fmt::format("arena 0x{:x}: {} free bytes in {} bytes from the system: its lists changed "
                                      "while being read?", addr, a.free_bytes(), a.system_bytes));
    out_.arenas.push_back(a);
  }

 private:
  Memory& m_;
  const Offsets& o_;
  GlibcStats& out_;
  bool mangling_known_ = false;
};

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
  auto main_arena = target.symbol_address("main_arena");
  auto mp = target.symbol_address("mp_");
  if (!main_arena || !mp)
    return fail(fmt::format("{}: gdb finds no {} (is this process using glibc's malloc?)", kNeedDebugInfo,
                            !main_arena ? "main_arena" : "mp_"));
  PYX_TRY(o, offsets(target));
  GlibcStats out;
  auto n_mmaps = mem.read<int32_t>(*mp + o.mp_n_mmaps);
  auto max_n_mmaps = mem.read<int32_t>(*mp + o.mp_max_n_mmaps);
  auto mmapped = mem.read<uint64_t>(*mp + o.mp_mmapped_mem);
  auto max_mmapped = mem.read<uint64_t>(*mp + o.mp_max_mmapped_mem);
  if (!n_mmaps || !max_n_mmaps || !mmapped || !max_mmapped)
    return fail(fmt::format("cannot read glibc's malloc parameters (mp_ at 0x{:x})", *mp));
  out.mmapped_regions = static_cast<uint64_t>(std::max(0, *n_mmaps));
  out.max_mmapped_regions = static_cast<uint64_t>(std::max(0, *max_n_mmaps));
  out.mmapped_bytes = *mmapped;
  out.max_mmapped_bytes = *max_mmapped;
  if (o.mp_trim_threshold)
    if (auto v = mem.read<uint64_t>(*mp + *o.mp_trim_threshold)) out.trim_threshold = *v;
  if (o.mp_mmap_threshold)
    if (auto v = mem.read<uint64_t>(*mp + *o.mp_mmap_threshold)) out.mmap_threshold = *v;

  Walker walker(mem, o, out);
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
    walker.arena(a, a == *main_arena);
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
