#include "interp/objects.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "base/utf8.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

constexpr std::size_t kMaxTypeName = 200;
// Dict entries read per remote read.
constexpr int64_t kDictChunk = 4096;

// Code units of `width` bytes (1, 2 or 4) to UTF-8.
std::string decode_code_units(const std::vector<std::byte>& raw, int width) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i + width <= raw.size(); i += width) {
    uint32_t cp = 0;
    std::memcpy(&cp, raw.data() + i, width);  // little-endian targets only (x86-64, arm64)
    append_utf8(out, cp);
  }
  return out;
}

// A dict larger than the `dict-entries` limit is not walked: it is more often a corrupt size than a
// real table, and its size times the index width must not overflow.
Expected<void> within_dict_limit(uint64_t addr, int64_t slots) {
  if (slots > limits().dict_entries)
    return fail(fmt::format("dict at 0x{:x} has {} slots, more than pyxray reads ({}), or is corrupt", addr, slots,
                            raise_hint("dict-entries")));
  return {};
}

}  // namespace

Objects::Objects(PythonProcess& proc) : proc_(proc) {}

Expected<uint64_t> Objects::type_of(uint64_t obj) {
  if (obj == 0 || obj % 8 != 0) return fail(fmt::format("0x{:x} is not a valid object pointer", obj));
  auto t = proc_.mem().read_ptr(obj + proc_.layout().object_ob_type);
  if (!t) return t;
  if (*t == 0 || *t % 8 != 0) return fail(fmt::format("object at 0x{:x} has no valid type", obj));
  return t;
}

Expected<std::string> Objects::type_name_of_type(uint64_t type) {
  if (auto it = type_names_.find(type); it != type_names_.end()) return it->second;
  PYX_TRY(name_ptr, proc_.mem().read_ptr(type + proc_.layout().type_tp_name));
  PYX_TRY(name, proc_.mem().read_cstring(name_ptr, kMaxTypeName));
  type_names_[type] = name;
  return name;
}

Expected<std::string> Objects::type_name(uint64_t obj) {
  PYX_TRY(type, type_of(obj));
  return type_name_of_type(type);
}

Expected<std::string> Objects::read_text(uint64_t obj, std::size_t max_chars) {
  PYX_TRY(name, type_name(obj));
  const Layout& L = proc_.layout();
  if (proc_.traits().str_is_bytes) {
    if (name == "str") return read_bytes_text(obj, L.string27_ob_sval, max_chars);
    if (name == "unicode") return read_unicode27(obj, max_chars);
  } else {
    if (name == "str") return read_unicode(obj, max_chars);
    if (name == "bytes") return read_bytes_text(obj, L.bytes_ob_sval, max_chars);
  }
  return fail(fmt::format("object at 0x{:x} is a {}, not a str", obj, name));
}

Expected<std::vector<std::byte>> Objects::read_bytes_value(uint64_t obj, std::size_t max_len) {
  PYX_TRY(name, type_name(obj));
  const bool str_is_bytes = proc_.traits().str_is_bytes;
  bool is_bytes = str_is_bytes ? name == "str" : name == "bytes";
  if (!is_bytes) return fail(fmt::format("object at 0x{:x} is a {}, not bytes", obj, name));
  PYX_TRY(size, proc_.mem().read<int64_t>(obj + proc_.layout().varobject_ob_size));
  if (size < 0) return fail(fmt::format("bytes at 0x{:x} has negative size", obj));
  int64_t sval = str_is_bytes ? proc_.layout().string27_ob_sval : proc_.layout().bytes_ob_sval;
  return proc_.mem().read_bytes(obj + sval, std::min<std::size_t>(static_cast<std::size_t>(size), max_len));
}

Expected<std::string> Objects::read_bytes_text(uint64_t obj, int64_t sval_offset, std::size_t max_chars) {
  PYX_TRY(size, proc_.mem().read<int64_t>(obj + proc_.layout().varobject_ob_size));
  if (size < 0) return fail(fmt::format("string at 0x{:x} has negative size", obj));
  std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(size), max_chars);
  PYX_TRY(raw, proc_.mem().read_bytes(obj + sval_offset, n));
  return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

Expected<int64_t> read_refcount(Memory& m, const Layout& L, uint64_t obj) {
  if (L.object_ob_ref_local != kAbsent && L.object_ob_ref_shared != kAbsent) {
    PYX_TRY(local, m.read<uint32_t>(obj + L.object_ob_ref_local));
    if (local == 0xffffffffu) return kImmortalRefcount;
    PYX_TRY(shared, m.read<int64_t>(obj + L.object_ob_ref_shared));
    return int64_t{local} + (shared >> 2);  // arithmetic shift: shared may be negative while merging
  }
  return m.read<int64_t>(obj + (L.object_ob_refcnt == kAbsent ? 0 : L.object_ob_refcnt));
}

Expected<std::string> Objects::read_unicode(uint64_t obj, std::size_t max_chars) {
  const Layout& L = proc_.layout();
  PYX_TRY(length, proc_.mem().read<int64_t>(obj + L.ascii_length));
  PYX_TRY(state, proc_.mem().read<uint32_t>(obj + L.ascii_state));
  if (length < 0) return fail(fmt::format("str at 0x{:x} has negative length", obj));
  const auto [kind, compact, ascii] = str_state(state, proc_.traits().unicode_kind_shift);
  if (kind != 1 && kind != 2 && kind != 4) return fail(fmt::format("str at 0x{:x} has invalid kind {}", obj, kind));
  uint64_t data = 0;
  if (compact) {
    data = obj + (ascii ? L.ascii_size : L.compact_unicode_size);
  } else {
    PYX_TRY(ptr, proc_.mem().read_ptr(obj + L.unicode_data));
    data = ptr;
  }
  std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(length), max_chars);
  PYX_TRY(raw, proc_.mem().read_bytes(data, n * kind));
  return decode_code_units(raw, kind);
}

Expected<std::string> Objects::read_unicode27(uint64_t obj, std::size_t max_chars) {
  const Layout& L = proc_.layout();
  PYX_TRY(length, proc_.mem().read<int64_t>(obj + L.unicode27_length));
  PYX_TRY(str, proc_.mem().read_ptr(obj + L.unicode27_str));
  if (length < 0) return fail(fmt::format("unicode at 0x{:x} has negative length", obj));
  int width = L.py_unicode_size == 2 ? 2 : 4;
  std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(length), max_chars);
  PYX_TRY(raw, proc_.mem().read_bytes(str, n * width));
  return decode_code_units(raw, width);
}

Expected<int64_t> Objects::read_int(uint64_t obj) {
  PYX_TRY(name, type_name(obj));
  if (proc_.traits().int_is_machine_word && name == "int") {
    return proc_.mem().read<int64_t>(obj + proc_.layout().int27_ob_ival);
  }
  if (name == "int" || name == "long" || name == "bool") return read_long(obj);
  return fail(fmt::format("object at 0x{:x} is a {}, not an int", obj, name));
}

Expected<int64_t> Objects::read_long(uint64_t obj) {
  const Layout& L = proc_.layout();
  uint64_t ndigits = 0;
  int sign = 1;
  uint64_t digits = 0;
  if (L.long_lv_tag != kAbsent) {  // 3.12+: lv_tag = ndigits << 3 | sign bits (0 +, 1 zero, 2 -)
    PYX_TRY(tag, proc_.mem().read<uint64_t>(obj + L.long_lv_tag));
    ndigits = tag >> 3;
    sign = 1 - static_cast<int>(tag & 3);
    digits = obj + L.long_value_ob_digit;
  } else {
    PYX_TRY(size, proc_.mem().read<int64_t>(obj + L.varobject_ob_size));
    ndigits = size < 0 ? 0 - static_cast<uint64_t>(size) : static_cast<uint64_t>(size);
    sign = size < 0 ? -1 : 1;
    digits = obj + L.long_ob_digit;
  }
  int shift = L.digit_size == 2 ? 15 : 30;
  int width = L.digit_size == 2 ? 2 : 4;
  // ndigits * shift > 64 + shift, without the overflow
  if (ndigits > static_cast<uint64_t>((64 + shift) / shift))
    return fail(fmt::format("int at 0x{:x} does not fit in 64 bits", obj));
  PYX_TRY(raw, proc_.mem().read_bytes(digits, static_cast<std::size_t>(ndigits) * width));
  unsigned __int128 value = 0;
  for (int64_t i = static_cast<int64_t>(ndigits) - 1; i >= 0; --i) {
    uint32_t d = 0;
    std::memcpy(&d, raw.data() + i * width, width);
    value = (value << shift) | d;
  }
  if (value > static_cast<unsigned __int128>(UINT64_MAX))
    return fail(fmt::format("int at 0x{:x} does not fit in 64 bits", obj));
  // Thread idents are unsigned 64-bit values; keep the bit pattern.
  return static_cast<int64_t>(sign < 0 ? -static_cast<uint64_t>(value) : static_cast<uint64_t>(value));
}

Expected<void> Objects::dict_items(uint64_t dict, const ItemFn& fn) {
  if (proc_.traits().dict_model == DictModel::Table27) return dict27_items(dict, fn);
  const Layout& L = proc_.layout();
  PYX_TRY(keys, proc_.mem().read_ptr(dict + L.dict_ma_keys));
  PYX_TRY(values, proc_.mem().read_ptr(dict + L.dict_ma_values));
  if (keys == 0) return fail(fmt::format("dict at 0x{:x} has no keys", dict));
  if (values != 0 && L.dictkeys_dk_log2_size != kAbsent) {
    PYX_TRY(used, proc_.mem().read<int64_t>(dict + L.dict_ma_used));
    return split_items(dict, keys, values, used, fn);
  }
  return keys_items(keys, values, fn);
}

Expected<void> Objects::split_items(uint64_t dict, uint64_t keys, uint64_t values, int64_t used, const ItemFn& fn) {
  // 3.11+ split dicts (instance __dict__s sharing their class's keys) iterate in the instance's own
  // insertion order, a byte array kept beside the values, not in the shared keys' entry order.
  const Layout& L = proc_.layout();
  Memory& m = proc_.mem();
  PYX_TRY(log2_size, m.read<uint8_t>(keys + L.dictkeys_dk_log2_size));
  PYX_TRY(log2_index_bytes, m.read<uint8_t>(keys + L.dictkeys_dk_log2_index_bytes));
  PYX_TRY(kind, m.read<uint8_t>(keys + L.dictkeys_dk_kind));
  if (used < 0 || used > 255 || log2_size > 16 || log2_index_bytes > 20)
    return fail(fmt::format("split dict at 0x{:x} is corrupt", dict));
  const auto n = static_cast<std::size_t>(used);
  std::vector<std::byte> order;
  const uint64_t values_array = values + L.dictvalues_values;
  if (L.dictvalues_values > 0) {
    // 3.13+: PyDictValues {capacity, size, embedded, valid, values[capacity]}, then the order bytes.
    PYX_TRY(capacity, m.read<uint8_t>(values));
    PYX_TRY(o, m.read_bytes(values_array + capacity * 8, n));
    order = std::move(o);
  } else if (n > 0) {
    // 3.11-3.12: before values[0]: [-1] prefix size, [-2] count, then order[i] at [-3 - i].
    PYX_TRY(o, m.read_bytes(values - 2 - n, n));
    order.assign(o.rbegin(), o.rend());
  }
  const uint64_t entry_size = kind != 0 ? 16 : static_cast<uint64_t>(L.dictkeyentry_size);
  const uint64_t key_slot = kind != 0 ? 0 : 8;
  const uint64_t entries = keys + L.dictkeys_dk_indices + (uint64_t{1} << log2_index_bytes);
  const uint64_t usable = (uint64_t{1} << log2_size) * 2 / 3;  // USABLE_FRACTION bounds an entry index
  for (std::size_t i = 0; i < n; ++i) {
    const auto index = static_cast<uint8_t>(order[i]);
    if (index >= usable) return fail(fmt::format("split dict at 0x{:x} has a bad order entry", dict));
    PYX_TRY(key, m.read_ptr(entries + index * entry_size + key_slot));
    PYX_TRY(value, m.read_ptr(values_array + index * 8));
    if (key == 0 || value == 0) continue;
    if (!fn(key, value)) break;
  }
  return {};
}

Expected<void> Objects::keys_items(uint64_t keys, uint64_t values, const ItemFn& fn) {
  const Layout& L = proc_.layout();
  Memory& m = proc_.mem();
  int64_t size = 0;
  int64_t index_bytes = 0;
  int64_t entry_size = L.dictkeyentry_size;
  int64_t value_slot = 2;  // PyDictKeyEntry {hash, key, value}
  int64_t key_slot = 1;
  if (L.dictkeys_dk_log2_size != kAbsent) {  // 3.11+
    PYX_TRY(log2_size, m.read<uint8_t>(keys + L.dictkeys_dk_log2_size));
    PYX_TRY(log2_index_bytes, m.read<uint8_t>(keys + L.dictkeys_dk_log2_index_bytes));
    PYX_TRY(kind, m.read<uint8_t>(keys + L.dictkeys_dk_kind));
    if (log2_size > 40 || log2_index_bytes > 44) return fail(fmt::format("dict keys at 0x{:x} are corrupt", keys));
    size = int64_t{1} << log2_size;
    index_bytes = int64_t{1} << log2_index_bytes;
    if (kind != 0) {  // unicode-only keys: PyDictUnicodeEntry {key, value}
      entry_size = 16;
      key_slot = 0;
      value_slot = 1;
    }
  } else {
    PYX_TRY(dk_size, m.read<int64_t>(keys + L.dictkeys_dk_size));
    if (dk_size <= 0) return fail(fmt::format("dict keys at 0x{:x} are corrupt (size {})", keys, dk_size));
    if (auto r = within_dict_limit(keys, dk_size); !r) return Unexpected<Error>{r.error()};
    size = dk_size;
    int width = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffLL ? 4 : 8;
    index_bytes = size * width;
  }
  PYX_TRY(nentries, m.read<int64_t>(keys + L.dictkeys_dk_nentries));
  if (auto r = within_dict_limit(keys, size); !r) return Unexpected<Error>{r.error()};
  if (size <= 0 || nentries < 0 || nentries > size)
    return fail(fmt::format("dict keys at 0x{:x} are corrupt (size {}, entries {})", keys, size, nentries));
  uint64_t entries = keys + L.dictkeys_dk_indices + index_bytes;
  // In chunks, so that the first items of a huge (or corrupt) table cost no more than a few reads
  // and a caller that stops early never has the whole table read.
  uint64_t values_array = values + (L.dictvalues_values == kAbsent ? 0 : L.dictvalues_values);
  for (int64_t first = 0; first < nentries; first += kDictChunk) {
    const int64_t count = std::min(kDictChunk, nentries - first);
    PYX_TRY(raw, m.read_bytes(entries + first * entry_size, static_cast<std::size_t>(count * entry_size)));
    std::vector<std::byte> vals;
    if (values) {
      PYX_TRY(v, m.read_bytes(values_array + first * 8, static_cast<std::size_t>(count * 8)));
      vals = std::move(v);
    }
    for (int64_t i = 0; i < count; ++i) {
      uint64_t key = 0, value = 0;
      std::memcpy(&key, raw.data() + i * entry_size + key_slot * 8, 8);
      if (values) {
        std::memcpy(&value, vals.data() + i * 8, 8);
      } else {
        std::memcpy(&value, raw.data() + i * entry_size + value_slot * 8, 8);
      }
      if (key == 0 || value == 0) continue;  // deleted entry
      if (!fn(key, value)) return {};
    }
  }
  return {};
}

Expected<void> Objects::dict27_items(uint64_t dict, const ItemFn& fn) {
  const Layout& L = proc_.layout();
  PYX_TRY(mask, proc_.mem().read<int64_t>(dict + L.dict27_ma_mask));
  PYX_TRY(table, proc_.mem().read_ptr(dict + L.dict27_ma_table));
  if (mask < 0) return fail(fmt::format("dict at 0x{:x} is corrupt", dict));
  if (auto r = within_dict_limit(dict, mask + 1); !r) return Unexpected<Error>{r.error()};
  for (int64_t first = 0; first <= mask; first += kDictChunk) {
    const int64_t count = std::min(kDictChunk, mask + 1 - first);
    PYX_TRY(raw, proc_.mem().read_bytes(table + first * 24, static_cast<std::size_t>(count * 24)));
    for (int64_t i = 0; i < count; ++i) {
      uint64_t key = 0, value = 0;
      std::memcpy(&key, raw.data() + i * 24 + 8, 8);
      std::memcpy(&value, raw.data() + i * 24 + 16, 8);
      if (key == 0 || value == 0) continue;  // empty or dummy slot
      if (!fn(key, value)) return {};
    }
  }
  return {};
}

Expected<bool> Objects::is_str_equal(uint64_t obj, std::string_view s) {
  auto text = read_text(obj, s.size() + 1);
  if (!text) return false;  // a non-str key simply does not match
  return *text == s;
}

Expected<std::optional<uint64_t>> Objects::dict_get_str(uint64_t dict, std::string_view key) {
  std::optional<uint64_t> found;
  auto r = dict_items(dict, [&](uint64_t k, uint64_t v) {
    if (is_str_equal(k, key).value_or(false)) {
      found = v;
      return false;
    }
    return true;
  });
  if (!r) return Unexpected<Error>{r.error()};
  return found;
}

Expected<std::optional<uint64_t>> Objects::cached_keys_lookup(uint64_t type, uint64_t values, std::string_view name) {
  PYX_TRY(keys, proc_.mem().read_ptr(type + proc_.layout().heaptype_ht_cached_keys));
  if (keys == 0) return std::optional<uint64_t>{};
  std::optional<uint64_t> found;
  auto r = keys_items(keys, values, [&](uint64_t k, uint64_t v) {
    if (is_str_equal(k, name).value_or(false)) {
      found = v;
      return false;
    }
    return true;
  });
  if (!r) return Unexpected<Error>{r.error()};
  return found;
}

Expected<uint64_t> Objects::dict_at_offset(uint64_t obj, uint64_t type) {
  const Layout& L = proc_.layout();
  Memory& m = proc_.mem();
  PYX_TRY(off, m.read<int64_t>(type + L.type_tp_dictoffset));
  if (off == 0) return uint64_t{0};
  if (off < 0) {  // counted from the end of a variable-size object
    PYX_TRY(basic, m.read<int64_t>(type + L.type_tp_basicsize));
    PYX_TRY(item, m.read<int64_t>(type + L.type_tp_itemsize));
    PYX_TRY(size, m.read<int64_t>(obj + L.varobject_ob_size));
    // Unsigned: the values come from the target, and a wrapped address just fails to read.
    uint64_t items = size < 0 ? 0 - static_cast<uint64_t>(size) : static_cast<uint64_t>(size);
    uint64_t end = static_cast<uint64_t>(basic) + items * static_cast<uint64_t>(item);
    return m.read_ptr(obj + static_cast<uint64_t>(off) + ((end + 7) & ~uint64_t{7}));
  }
  return m.read_ptr(obj + static_cast<uint64_t>(off));
}

Expected<std::optional<uint64_t>> Objects::dict_lookup_or_none(Expected<uint64_t> dict, std::string_view name) {
  if (!dict) return Unexpected<Error>{dict.error()};
  if (*dict == 0) return std::optional<uint64_t>{};
  return dict_get_str(*dict, name);
}

Expected<InstanceDict> Objects::instance_dict(uint64_t obj) {
  const Layout& L = proc_.layout();
  const VersionTraits& t = proc_.traits();
  Memory& m = proc_.mem();
  PYX_TRY(type, type_of(obj));
  PYX_TRY(flags, m.read<uint64_t>(type + L.type_tp_flags));
  InstanceDict d;
  auto values_with_cached_keys = [&](uint64_t values) -> Expected<InstanceDict> {
    PYX_TRY(keys, m.read_ptr(type + L.heaptype_ht_cached_keys));
    if (keys) {
      d.values = values;
      d.keys = keys;
    }
    return d;
  };
  switch (t.instance_dict_model) {
    case InstanceDictModel::DictOffset: {
      PYX_TRY(dict, dict_at_offset(obj, type));
      d.dict = dict;
      return d;
    }
    case InstanceDictModel::ManagedSplit311: {
      if (!(flags & t.tpflags_managed_dict)) break;
      PYX_TRY(dict, m.read_ptr(obj + t.managed_dict_offset));
      if (dict == 0) {
        PYX_TRY(values, m.read_ptr(obj + t.managed_values_offset));
        if (values == 0) return d;
        return values_with_cached_keys(values);
      }
      d.dict = dict;
      return d;
    }
    case InstanceDictModel::DictOrValues312: {
      if (!(flags & t.tpflags_managed_dict)) break;
      PYX_TRY(dorv, m.read_ptr(obj + t.managed_dict_offset));
      if (dorv & 1) return values_with_cached_keys(dorv + 1);  // tagged values pointer
      d.dict = dorv;
      return d;
    }
    case InstanceDictModel::InlineValues313: {
      if (!(flags & (t.tpflags_managed_dict | t.tpflags_inline_values))) break;
      PYX_TRY(dict, m.read_ptr(obj + t.managed_dict_offset));
      if (dict == 0 && (flags & t.tpflags_inline_values)) {
        PYX_TRY(basic, m.read<int64_t>(type + L.type_tp_basicsize));
        uint64_t values = obj + static_cast<uint64_t>(basic);
        PYX_TRY(valid, m.read<uint8_t>(values + 3));  // PyDictValues.valid
        if (!valid) return d;
        return values_with_cached_keys(values);
      }
      d.dict = dict;
      return d;
    }
  }
  // 3.11+ classes without a managed dict (a subclass of a builtin with tp_dictoffset) keep it at the offset.
  PYX_TRY(dict, dict_at_offset(obj, type));
  d.dict = dict;
  return d;
}

Expected<std::vector<uint64_t>> Objects::sequence_items(uint64_t obj, std::size_t max_items) {
  const Layout& L = proc_.layout();
  PYX_TRY(type, type_name(obj));
  int64_t items_field = kAbsent;
  bool indirect = false;
  if (type == "tuple") {
    items_field = L.tuple_ob_item;
  } else if (type == "list") {
    items_field = L.list_ob_item;
    indirect = true;  // a list points at its item array
  }
  if (items_field == kAbsent) return fail(fmt::format("0x{:x} is a {}, not a tuple or list", obj, type));
  PYX_TRY(size, proc_.mem().read<int64_t>(obj + L.varobject_ob_size));
  if (size < 0 || size > limits().container_items)
    return fail(fmt::format("{} at 0x{:x} has a bad size ({})", type, obj, size));
  uint64_t items = obj + static_cast<uint64_t>(items_field);
  if (indirect) {
    PYX_TRY(array, proc_.mem().read_ptr(items));
    items = array;
  }
  const auto n = std::min(static_cast<std::size_t>(size), max_items);
  std::vector<uint64_t> out(n);
  if (n == 0) return out;
  PYX_TRY(raw, proc_.mem().read_bytes(items, n * 8));
  std::memcpy(out.data(), raw.data(), n * 8);
  return out;
}

Expected<std::vector<uint64_t>> Objects::set_keys(uint64_t set, std::size_t max_items) {
  const Layout& L = proc_.layout();
  if (L.set_mask == kAbsent || L.set_table == kAbsent || L.setentry_key == kAbsent)
    return fail("the layout has no set fields");
  PYX_TRY(mask, proc_.mem().read<int64_t>(set + L.set_mask));
  PYX_TRY(table, proc_.mem().read_ptr(set + L.set_table));
  if (mask < 0 || mask + 1 > limits().set_slots) return fail(fmt::format("set at 0x{:x} has a bad mask", set));
  const int64_t entry = L.setentry_size == kAbsent ? 16 : L.setentry_size;
  const auto slots = static_cast<std::size_t>(mask + 1);
  PYX_TRY(raw, proc_.mem().read_bytes(table, slots * static_cast<std::size_t>(entry)));
  // A deleted slot holds the dummy key: a live key is an object, which the caller checks by its type.
  const uint64_t dummy_symbol = proc_.type_addr("_PySet_Dummy");  // a pointer to the dummy (3.x)
  const uint64_t dummy = dummy_symbol ? proc_.mem().read_ptr(dummy_symbol).value_or(0) : 0;
  std::vector<uint64_t> out;
  for (std::size_t i = 0; i < slots && out.size() < max_items; ++i) {
    uint64_t key = 0;
    std::memcpy(&key, raw.data() + i * static_cast<std::size_t>(entry) + L.setentry_key, 8);
    if (key != 0 && key != dummy) out.push_back(key);
  }
  return out;
}

Expected<std::optional<uint64_t>> Objects::instance_attr(uint64_t obj, std::string_view name) {
  PYX_TRY(d, instance_dict(obj));
  if (d.values) {
    PYX_TRY(type, type_of(obj));
    return cached_keys_lookup(type, d.values, name);
  }
  if (d.dict == 0) return std::optional<uint64_t>{};
  return dict_get_str(d.dict, name);
}

Expected<void> Objects::instance_items(uint64_t obj, const ItemFn& fn) {
  PYX_TRY(d, instance_dict(obj));
  if (d.values) {
    // Values kept without a dict iterate in the instance's own insertion order, as its split dict
    // would: the count is PyDictValues.size on 3.13+, the byte before the order bytes on 3.11-3.12.
    const Layout& L = proc_.layout();
    const uint64_t used_at = L.dictvalues_values > 0 ? d.values + 1 : d.values - 2;
    PYX_TRY(used, proc_.mem().read<uint8_t>(used_at));
    return split_items(d.values, d.keys, d.values, used, fn);
  }
  if (d.dict == 0) return {};
  return dict_items(d.dict, fn);
}

}  // namespace pyxray
