// What the heap commands need to know about a type (validated once per type address), and the size of
// an object as sys.getsizeof() reports it inside the target: the type's __sizeof__ (per builtin and
// version: list capacity, dict keys tables, set tables, str data and its UTF-8 cache, ...) plus the
// GC header and, from 3.11, the pre-header words of managed dicts and weakrefs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
class Memory;
struct Layout;

// The builtin whose instance layout (and __sizeof__) an object has: the type itself or the nearest
// builtin along tp_base.
enum class BaseKind : uint8_t {
  Other,   // a static type of an extension or of the core that the heap code has no rules for
  Object,  // `object` itself, or a class deriving from it only (plain instances)
  Int,
  Float,
  Complex,
  Str,
  Bytes,
  ByteArray,
  Tuple,
  List,
  Dict,
  Set,
  FrozenSet,
  Type,
  Module,
  Function,
  Code,
  Frame,
  Cell,
  Gen,    // generators, coroutines and async generators
  Deque,  // collections.deque (3.x)
  Int27,
  Str27,
  Unicode27,
  Long27,  // 2.7's int, str, unicode and long
};

struct TypeInfo {
  uint64_t addr = 0;
  bool valid = false;
  uint32_t id = 0;   // dense index (0, 1, 2, ...) among the valid types, for per-type tables
  std::string name;  // like repr and guppy: "dict", "__main__.Leaky", "collections.OrderedDict"
  std::string tp_name;
  // The name split as heap snapshots match types: "builtins" + "dict", "app" + "Outer.Inner",
  // "collections" + "OrderedDict" (a static type's tp_name before and after its last dot).
  std::string module, qualname;
  BaseKind kind = BaseKind::Other;
  bool exact = false;  // the builtin type itself, not a subclass
  int64_t basicsize = 0, itemsize = 0;
  int64_t base_basicsize = 0;  // tp_basicsize of the builtin `kind` names (the layout shared with it)
  uint64_t flags = 0;
  bool gc = false, heap = false;
  bool managed_dict = false;   // 3.11+: the instance dict (or its values) lives before the object
  bool inline_values = false;  // 3.13+: the values live after tp_basicsize
  uint32_t preheader = 0;      // bytes of the allocation before the object (GC head + managed words)
  uint32_t sizeof_header = 0;  // what sys.getsizeof adds to __sizeof__
  int64_t dictoffset = 0;
  std::vector<int64_t> slots;        // offsets of __slots__ members (T_OBJECT_EX) of heap types and their bases
  std::vector<uint64_t> slot_names;  // the address of each one's name (a C string), beside `slots`
  uint64_t cached_keys = 0;          // heap types, 3.11+: ht_cached_keys (the shared keys of instance values)
  int64_t cached_nentries = 0;       // its dk_nentries
  bool has_refs = false;             // worth scanning for references (GC types and code objects)
};

// Type validation and the per-type facts, cached by address for one command.
class TypeCache {
 public:
  // A corrupt heap could name any number of distinct bogus "types"; past this they are not cached.
  static constexpr std::size_t kMaxCachedTypes = 1 << 20;

  TypeCache(PythonProcess& proc, Objects& objects);
  ~TypeCache();
  TypeCache(const TypeCache&) = delete;
  TypeCache& operator=(const TypeCache&) = delete;

  // The facts about the type at `type`, or nullptr when it is not a type (cached either way).
  const TypeInfo* get(uint64_t type);
  // Valid types met so far, indexed by TypeInfo::id.
  const std::vector<const TypeInfo*>& types() const { return by_id_; }
  uint64_t type_type() const { return type_type_; }
  uint64_t set_dummy() const { return set_dummy_; }
  // Builtin type address of a kind (0 when unknown): used to name things and to classify.
  uint64_t builtin(BaseKind k) const;

 private:
  std::unique_ptr<TypeInfo> load(uint64_t type);
  std::string qualified_name(uint64_t type, TypeInfo& t);  // also sets t.module, t.qualname
  bool is_type_object(uint64_t type);

  PythonProcess& proc_;
  Objects& objects_;
  const Layout& L_;
  std::unordered_map<uint64_t, std::unique_ptr<TypeInfo>> cache_;
  std::vector<const TypeInfo*> by_id_;
  std::vector<std::pair<uint64_t, BaseKind>> builtins_;
  uint64_t type_type_ = 0;
  uint64_t set_dummy_ = 0;
  const TypeInfo* last_ = nullptr;
};

// sys.getsizeof semantics, computed from an object's bytes.
class ObjectSizer {
 public:
  // Bytes of an object's own memory the size rules look at (fixed headers of the builtins).
  static constexpr std::size_t kHeaderBytes = 128;

  ObjectSizer(PythonProcess& proc, TypeCache& types);

  // Bytes the allocation of this object takes at least (what PyObject_Malloc was asked for, minus
  // what realloc or over-allocation may add): used to check an object against its pymalloc block.
  // `head` holds at least the object's first kHeaderBytes (or all of it, if shorter).
  uint64_t min_allocation(const TypeInfo& t, std::span<const std::byte> head) const;
  // Whether the allocation has exactly that size (fixed-size layouts), so that the block's size
  // class must match it.
  bool exact_allocation(const TypeInfo& t) const;

  // Where sys.getsizeof needs memory outside the object (a dict's keys object; 0 when nothing).
  uint64_t needs_keys(const TypeInfo& t, std::span<const std::byte> head) const;
  // sys.getsizeof(obj); `keys_head` holds the first bytes of the keys object needs_keys named (empty
  // when none).
  uint64_t getsizeof(const TypeInfo& t, uint64_t addr, std::span<const std::byte> head,
                     std::span<const std::byte> keys_head = {});
  // The same, reading whatever it needs from the target.
  Expected<uint64_t> getsizeof(uint64_t addr);
  // Size of a dict keys object as _PyDict_KeysSize counts it (3.x), from its first bytes.
  uint64_t keys_size(std::span<const std::byte> keys_head) const;
  // __sizeof__ of a dict (3.x) whose table is split or not, from its keys object's first bytes.
  uint64_t dict_size(const TypeInfo& t, bool split, std::span<const std::byte> keys_head) const;
  // sys.getsizeof of the same.
  uint64_t dict_getsizeof(const TypeInfo& t, bool split, std::span<const std::byte> keys_head) const {
    return dict_size(t, split, keys_head) + t.sizeof_header;
  }
  // Bytes of a keys object's header the size rules read.
  static constexpr std::size_t kKeysHeaderBytes = 48;

 private:
  uint64_t dunder_sizeof(const TypeInfo& t, uint64_t addr, std::span<const std::byte> head,
                         std::span<const std::byte> keys_head);
  uint64_t str_sizeof(uint64_t addr, std::span<const std::byte> head) const;
  uint64_t type_sizeof(uint64_t addr, const TypeInfo& t);
  uint64_t gen_sizeof(const TypeInfo& t, uint64_t addr, std::span<const std::byte> head);
  uint64_t frame_slots(uint64_t code) const;
  uint64_t frame_code(uint64_t iframe) const;
  // The object has tp_itemsize but no ob_size (3.11+ generators and frames, 3.12+ ints).
  bool no_ob_size(const TypeInfo& t) const;

  PythonProcess& proc_;
  TypeCache& types_;
  const Layout& L_;
  const VersionTraits& traits_;
};

// Little-endian loads from a byte span; 0 past its end.
inline uint64_t load_u64(std::span<const std::byte> b, int64_t off) {
  uint64_t v = 0;
  if (off >= 0 && static_cast<std::size_t>(off) + 8 <= b.size()) __builtin_memcpy(&v, b.data() + off, 8);
  return v;
}
inline int64_t load_i64(std::span<const std::byte> b, int64_t off) { return static_cast<int64_t>(load_u64(b, off)); }
inline uint32_t load_u32(std::span<const std::byte> b, int64_t off) {
  uint32_t v = 0;
  if (off >= 0 && static_cast<std::size_t>(off) + 4 <= b.size()) __builtin_memcpy(&v, b.data() + off, 4);
  return v;
}
// |v| without overflow (INT64_MIN included): target sizes are signed and may hold anything.
inline uint64_t magnitude(int64_t v) { return v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v); }
inline uint8_t load_u8(std::span<const std::byte> b, int64_t off) {
  return off >= 0 && static_cast<std::size_t>(off) < b.size() ? static_cast<uint8_t>(b[off]) : 0;
}

}  // namespace pyxray
