#include "heap/gc_generations.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "heap/gc_lists.hpp"
#include "heap/object_size.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"
#include "target/memory.hpp"

namespace pyxray {
namespace {

// _gc_next's flag bits (3.8+: bit 0 unreachable during a collection, 3.14.0-4 the old space; list
// nodes are 8-aligned, so the low three bits are never address).
constexpr uint64_t kLinkMask = ~uint64_t{7};
constexpr uint32_t kNone = UINT32_MAX;

}  // namespace

std::array<std::string, kGenCodes> generation_names(const VersionTraits& vt) {
  return {"untracked", vt.gc_list_names[0], vt.gc_list_names[1], vt.gc_list_names[2], vt.gc_list_names[3], "unknown"};
}

GenerationResult GenerationLabeler::label(std::span<const GcListHead> heads, uint64_t objects, int old_space_bit,
                                          const ReadNext& read_next) {
  GenerationResult r;
  std::sort(recs_.begin(), recs_.end(), [](const Rec& a, const Rec& b) { return a.head < b.head; });
  // The heads alone, contiguous: a ring step is one binary search over them.
  std::vector<uint64_t> addrs(recs_.size());
  for (std::size_t i = 0; i < recs_.size(); ++i) addrs[i] = recs_[i].head;
  auto find = [&](uint64_t a) -> uint32_t {
    auto it = std::lower_bound(addrs.begin(), addrs.end(), a);
    return it != addrs.end() && *it == a ? static_cast<uint32_t>(it - addrs.begin()) : kNone;
  };
  std::vector<uint8_t> code(recs_.size(), kGenUntracked);
  uint64_t broken = 0, wrong_space = 0, foreign = 0;
  uint64_t first_break = 0, first_foreign = 0;
  for (const GcListHead& h : heads) {
    uint64_t cur = h.next & kLinkMask;
    // Each tracked object is on one ring: more steps than objects is a loop that misses its head.
    for (std::size_t steps = 0; cur != h.addr && steps <= recs_.size() + kMaxForeignNodes; ++steps) {
      uint32_t i = find(cur);
      if (i == kNone && read_next && foreign < kMaxForeignNodes) {
        // A node the walk did not count (it failed to validate, or the walk stopped early): one
        // missed object must not leave the rest of its generation unlabelled.
        if (auto n = read_next(cur)) {
          if (!foreign++) first_foreign = cur;
          cur = *n & kLinkMask;
          continue;
        }
      }
      if (i == kNone || code[i] != kGenUntracked) {
        if (!broken++) first_break = cur;
        break;
      }
      code[i] = h.code;
      if (h.space_bit >= 0 && old_space_bit >= 0 &&
          static_cast<int>((recs_[i].next >> old_space_bit) & 1) != h.space_bit)
        ++wrong_space;
      cur = recs_[i].next & kLinkMask;
    }
  }
  r.gen_by_ordinal.assign(static_cast<std::size_t>(objects), kGenUntracked);
  uint64_t unknown = 0;
  for (std::size_t i = 0; i < recs_.size(); ++i) {
    const uint8_t c = code[i] == kGenUntracked ? uint8_t{kGenUnknown} : code[i];
    unknown += c == kGenUnknown;
    const Rec& rec = recs_[i];
    if (rec.ordinal < r.gen_by_ordinal.size()) r.gen_by_ordinal[rec.ordinal] = c;
    if (rec.type_id >= r.by_type.size()) r.by_type.resize(rec.type_id + 1);
    ++r.by_type[rec.type_id][c];
    ++r.total[c];
  }
  if (broken)
    r.warnings.push_back(fmt::format(
        "{} generation list(s) lead, the first at 0x{:x}, to a node that is not a walked object: a partial walk, "
        "a collection in progress or a damaged list",
        broken, first_break));
  if (unknown)
    r.warnings.push_back(
        fmt::format("{} tracked object(s) are on no generation list that could be followed (generation \"unknown\"): a "
                    "collection in progress keeps objects on its own lists",
                    unknown));
  if (foreign)
    r.warnings.push_back(
        fmt::format("{} node(s) on the generation lists, the first at 0x{:x}, are not objects the walk counted",
                    foreign, first_foreign));
  if (wrong_space)
    r.warnings.push_back(
        fmt::format("{} object(s) on an old-space list carry the other space's bit in _gc_next", wrong_space));
  recs_.clear();
  recs_.shrink_to_fit();
  return r;
}

Expected<std::vector<GcListHead>> read_list_heads(PythonProcess& proc, const GcLists& gc) {
  const VersionTraits& vt = proc.traits();
  std::vector<GcListHead> heads;
  for (std::size_t i = 0; i < gc.heads.size(); ++i) {
    PYX_TRY(next, proc.mem().read_ptr(gc.heads[i]));
    GcListHead h{gc.heads[i], next, static_cast<uint8_t>(kGenList0 + gc.head_generation[i]), -1};
    // The old spaces' bit is the list's place in old[2] (old[0]: 0, old[1]: 1), whatever their names.
    // A version with old spaces (3.14.0-4) has a permanent generation: its heads come in blocks of
    // four per interpreter, young, old[0], old[1], permanent.
    const std::size_t slot = i % 4;
    if (vt.gc_old_space_bit >= 0 && (slot == 1 || slot == 2)) h.space_bit = static_cast<int8_t>(slot - 1);
    heads.push_back(h);
  }
  return heads;
}

Expected<void> GenerationCensus::start() {
  PYX_TRY(gc, gc_lists(proc_));
  head_size_ = gc.head_size;
  PYX_TRY(heads, read_list_heads(proc_, gc));
  heads_ = std::move(heads);
  warnings_ = std::move(gc.warnings);
  return {};
}

void GenerationCensus::add(const HeapObject& o) {
  if (o.gc_next) labeler_.add(o.ordinal, o.type->id, o.addr - head_size_, o.gc_next);
}

GenerationResult GenerationCensus::finish(uint64_t objects) {
  Memory& m = proc_.mem();
  auto read_next = [&m](uint64_t node) -> std::optional<uint64_t> {
    auto v = m.read_ptr(node);
    if (!v || !*v) return std::nullopt;
    return *v;
  };
  GenerationResult r = labeler_.label(heads_, objects, proc_.traits().gc_old_space_bit, read_next);
  r.warnings.insert(r.warnings.begin(), warnings_.begin(), warnings_.end());
  return r;
}

}  // namespace pyxray
