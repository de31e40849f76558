// The GC generation of every tracked object, told from outside: an object's generation is the list
// it is on, and a list is a ring through its head. Chasing each ring in the target would cost one
// remote read per object, so the walk hands over every tracked object's PyGC_Head address and
// _gc_next as it reads them, and the rings are followed here, in the debugger's memory, afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "heap/heap_walk.hpp"

namespace pyxray {

class PythonProcess;
struct GcLists;
struct VersionTraits;

// An object's generation, as a code: 0 not tracked by the collector (or not a GC type), 1-3 the
// version's three lists (gen0-gen2; 3.14.0-3.14.4: young, the visited and the pending old space),
// 4 the permanent generation (gc.freeze()), 5 tracked but on no list that could be followed.
enum GcGeneration : uint8_t {
  kGenUntracked = 0,
  kGenList0 = 1,
  kGenPermanent = 4,
  kGenUnknown = 5,
};
inline constexpr int kGenCodes = 6;
using GenCounts = std::array<uint64_t, kGenCodes>;

// The names of the codes for a version: "untracked", its gc_list_names, "unknown".
std::array<std::string, kGenCodes> generation_names(const VersionTraits& vt);

struct GcListHead {
  uint64_t addr = 0;      // the list head's PyGC_Head
  uint64_t next = 0;      // its _gc_next as read
  uint8_t code = 0;       // the generation of the objects on it (1-4)
  int8_t space_bit = -1;  // 3.14.0-3.14.4 old spaces: the old-space bit its objects carry, else -1
};

struct GenerationResult {
  std::vector<uint8_t> gen_by_ordinal;  // every walked object's code, by its ordinal in the walk
  std::vector<GenCounts> by_type;       // tracked objects' codes counted by TypeInfo::id
  GenCounts total{};                    // the same over all types (untracked: not counted here)
  std::vector<std::string> warnings;
};

class GenerationLabeler {
 public:
  // A tracked object: its ordinal in the walk, its type's id, its PyGC_Head and that head's _gc_next.
  void add(uint32_t ordinal, uint32_t type_id, uint64_t gc_head, uint64_t gc_next) {
    recs_.push_back({gc_head, gc_next, ordinal, type_id});
  }
  std::size_t size() const { return recs_.size(); }

  // Reads the _gc_next of a list node the walk did not count, from the target; nullopt when it cannot.
  using ReadNext = std::function<std::optional<uint64_t>(uint64_t node)>;

  // Follows every ring from its head. `objects` is how many objects the walk emitted; `old_space_bit`
  // the bit of _gc_next that holds an old space (-1: none). A ring that reaches a node the walk did
  // not count goes on through it with `read_next` (when given), at most kMaxForeignNodes times in
  // all. Consumes what was added.
  GenerationResult label(std::span<const GcListHead> heads, uint64_t objects, int old_space_bit,
                         const ReadNext& read_next = {});
  static constexpr uint64_t kMaxForeignNodes = 100'000;

 private:
  struct Rec {
    uint64_t head, next;
    uint32_t ordinal, type_id;
  };
  std::vector<Rec> recs_;
};

// The heads of `gc` with their _gc_next read from the target, for label().
Expected<std::vector<GcListHead>> read_list_heads(PythonProcess& proc, const GcLists& gc);

// Generations around one heap walk: add() every object the walk emits, finish() after it.
class GenerationCensus {
 public:
  explicit GenerationCensus(PythonProcess& proc) : proc_(proc) {}
  void add(const HeapObject& o);
  // Before the walk: where the lists are, and how big a PyGC_Head is. An error: no generations.
  Expected<void> start();
  GenerationResult finish(uint64_t objects);

 private:
  PythonProcess& proc_;
  std::vector<std::string> warnings_;
  std::vector<GcListHead> heads_;
  uint64_t head_size_ = 16;
  GenerationLabeler labeler_;
};

}  // namespace pyxray
