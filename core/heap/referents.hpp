// The objects an object refers to, decoded from its bytes like its type's tp_traverse would visit
// them: tuple and list items, dict keys and values (combined, split and 3.11+ managed/inline
// instance values), set entries, __slots__ and the instance dict, cell contents. Types whose layout
// the heap code does not model (functions, frames, modules, extension objects) are scanned
// conservatively: every pointer-sized word that is then validated as an object by the caller.
//
// The object's type is never reported (everything refers to its type; nobody wants that edge).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/expected.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {

class PythonProcess;
class TypeCache;
struct TypeInfo;

enum class RefMode {
  Traverse,  // what gc.get_referents() gives, plus dict keys (for deep sizes)
  Heap,      // also what non-GC code objects hold (consts, names, line tables): for finding objects
};

// An array of references outside the object: read it (later, in bulk) and pass it to array_refs.
struct OutOfLine {
  enum class Kind : uint8_t {
    Pointers,     // `count` object pointers: list items, 3.11/3.12 instance values
    DictKeys,     // a 3.x dict keys object; `aux` is the dict's values array (split table) or 0
    SetTable,     // `count` set entries {key, hash}
    Dict27Table,  // `count` 2.7 dict entries {hash, key, value}
    DequeBlocks,  // a deque's `count` items, from its left block at item `aux`
  };
  Kind kind = Kind::Pointers;
  uint64_t owner = 0;  // the object these references belong to
  uint64_t addr = 0;
  uint64_t aux = 0;
  int64_t count = 0;
};

// Reads `len` bytes at `addr`; an empty span when it cannot. The span stays valid until the next call.
using ReadFn = std::function<std::span<const std::byte>(uint64_t addr, std::size_t len)>;
using RefFn = std::function<void(uint64_t ref)>;

class Referents {
 public:
  // Out-of-line arrays are read in pieces of this many bytes.
  static constexpr std::size_t kChunk = std::size_t{1} << 20;

  Referents(PythonProcess& proc, TypeCache& types);

  // How many bytes from the object's address object_refs wants to see: the whole object when its
  // references are inline, else its fixed header.
  uint64_t wanted_bytes(const TypeInfo& t, uint64_t object_size) const;

  // References held in the object's own memory. `alloc` holds the allocation from its start (the
  // GC head and 3.11+ pre-header words, `t.preheader` bytes, then the object), as far as it was
  // read. References in separate arrays are appended to `ool`.
  void object_refs(uint64_t addr, const TypeInfo& t, std::span<const std::byte> alloc, RefMode mode, const RefFn& emit,
                   std::vector<OutOfLine>& ool) const;

  // References in an out-of-line array, reading it (and, for a split dict, its values) with `read`.
  // Returns false when the memory could not be read.
  bool array_refs(const OutOfLine& what, const ReadFn& read, const RefFn& emit) const;

  // All references of one object, reading through the process's page cache. Fails (after emitting
  // what it could read) when the object or one of its out-of-line arrays cannot be read.
  Expected<void> all_refs(uint64_t addr, RefMode mode, const RefFn& emit);

 private:
  void conservative(std::span<const std::byte> body, std::size_t from, const RefFn& emit) const;
  void managed_dict_refs(uint64_t addr, const TypeInfo& t, std::span<const std::byte> alloc, const RefFn& emit,
                         std::vector<OutOfLine>& ool) const;

  PythonProcess& proc_;
  TypeCache& types_;
  const VersionTraits& traits_;
  // The container-items and object-bytes limits when this walk began: longer arrays are taken as
  // corrupt, a bigger object's inline references (a huge tuple's) are read up to there.
  int64_t max_array_;
  uint64_t max_object_bytes_;
};

// Whether a word could be a pointer to an object (aligned, in the user half of the address space).
inline bool plausible_pointer(uint64_t w) { return w >= 0x10000 && w < (uint64_t{1} << 47) && (w & 7) == 0; }
// Whether a word could be a live object's reference count: at least 1, and at most 2^32 - 1, which is
// also 3.12+'s immortal count, once the bits outside `mask` (VersionTraits::refcount_mask: 3.14's
// ob_flags) are dropped. A freed object has 0, or whatever the C allocator put there (a free-list
// link, in glibc mangled with the chunk's address, which is above 2^32 even without its top bits).
inline bool plausible_refcount(uint64_t rc, uint64_t mask) {
  rc &= mask;
  return rc >= 1 && rc <= 0xffffffffu;
}

}  // namespace pyxray
