// Decoding Python objects from target memory: type names, strings, ints, dicts and instance
// attributes, for every supported version's layout. All reads are bounded; a pointer that is not a
// valid object produces an error, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;
class Memory;
struct Layout;

// An object's reference count. With the GIL: ob_refcnt. Free-threaded builds count with biased
// reference counting: ob_ref_local (the owning thread's, a uint32_t; UINT32_MAX marks an immortal
// object) plus ob_ref_shared (everyone else's, shifted left by 2 over two state bits). An immortal
// object gives kImmortalRefcount.
inline constexpr int64_t kImmortalRefcount = 0xffffffff;

// PyASCIIObject.state: {interned:2, kind:3, compact:1, ascii:1, ...} in every GIL build since 3.3;
// free-threaded builds make `interned` a whole byte (VersionTraits::unicode_kind_shift).
struct StrState {
  int kind = 0;  // 1, 2 or 4 bytes per code point when valid
  bool compact = false;
  bool ascii = false;
};
inline StrState str_state(uint32_t state, int kind_shift) {
  return {static_cast<int>((state >> kind_shift) & 7), ((state >> (kind_shift + 3)) & 1) != 0,
          ((state >> (kind_shift + 4)) & 1) != 0};
}
Expected<int64_t> read_refcount(Memory& m, const Layout& L, uint64_t obj);

// Where an instance keeps its attributes: a dict, or (3.11+) values beside its class's shared keys
// with no dict made yet; all zero when it has none.
struct InstanceDict {
  uint64_t dict = 0;
  uint64_t values = 0;  // the PyDictValues (3.11-3.12: values[0], after its prefix bytes)
  uint64_t keys = 0;    // the class's ht_cached_keys, with `values`
};

class Objects {
 public:
  explicit Objects(PythonProcess& proc);

  Expected<uint64_t> type_of(uint64_t obj);
  // tp_name of a type object (cached by address).
  Expected<std::string> type_name_of_type(uint64_t type);
  Expected<std::string> type_name(uint64_t obj);

  // Text of a str (3.x), or str/unicode (2.7), as UTF-8; cut at max_chars code points.
  Expected<std::string> read_text(uint64_t obj, std::size_t max_chars = 4096);
  // Raw contents of a bytes object (2.7: str), cut at max_len bytes.
  Expected<std::vector<std::byte>> read_bytes_value(uint64_t obj, std::size_t max_len);
  // Value of an int (or 2.7 int/long) that fits in 64 bits.
  Expected<int64_t> read_int(uint64_t obj);

  using ItemFn = std::function<bool(uint64_t key, uint64_t value)>;  // return false to stop
  Expected<void> dict_items(uint64_t dict, const ItemFn& fn);
  // Value for a str key, nullopt when absent.
  Expected<std::optional<uint64_t>> dict_get_str(uint64_t dict, std::string_view key);
  // Attribute stored in an instance's __dict__ (whatever the version keeps it as).
  Expected<std::optional<uint64_t>> instance_attr(uint64_t obj, std::string_view name);
  // Where the instance's __dict__ is (whatever the version keeps it as).
  Expected<InstanceDict> instance_dict(uint64_t obj);
  // Every attribute in the instance's __dict__, in the order vars(obj) lists them.
  Expected<void> instance_items(uint64_t obj, const ItemFn& fn);
  // The items of a tuple or list (by its type's name), at most max_items of them.
  Expected<std::vector<uint64_t>> sequence_items(uint64_t obj, std::size_t max_items);
  // Every key of a set or frozenset, at most max_items of them (the `set-slots` limit bounds the scan).
  Expected<std::vector<uint64_t>> set_keys(uint64_t set, std::size_t max_items);

 private:
  Expected<std::string> read_unicode(uint64_t obj, std::size_t max_chars);
  Expected<std::string> read_unicode27(uint64_t obj, std::size_t max_chars);
  Expected<std::string> read_bytes_text(uint64_t obj, int64_t sval_offset, std::size_t max_chars);
  Expected<int64_t> read_long(uint64_t obj);
  Expected<void> keys_items(uint64_t keys, uint64_t values, const ItemFn& fn);
  Expected<void> split_items(uint64_t dict, uint64_t keys, uint64_t values, int64_t used, const ItemFn& fn);
  Expected<void> dict27_items(uint64_t dict, const ItemFn& fn);
  Expected<std::optional<uint64_t>> cached_keys_lookup(uint64_t type, uint64_t values, std::string_view name);
  Expected<uint64_t> dict_at_offset(uint64_t obj, uint64_t type);
  Expected<std::optional<uint64_t>> dict_lookup_or_none(Expected<uint64_t> dict, std::string_view name);
  Expected<bool> is_str_equal(uint64_t obj, std::string_view s);

  PythonProcess& proc_;
  std::unordered_map<uint64_t, std::string> type_names_;
};

}  // namespace pyxray
