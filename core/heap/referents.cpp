#include "heap/referents.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "heap/object_size.hpp"
#include "interp/python_process.hpp"
#include "layout/layout.hpp"
#include "target/memory.hpp"

namespace pyxray {
namespace {

int64_t or_default(int64_t v, int64_t d) { return v == kAbsent ? d : v; }

// A deque block: {leftlink, data[64], rightlink} (BLOCKLEN 64 in 3.x).
constexpr int64_t kDequeBlock = 64;
constexpr std::size_t kDequeBlockBytes = 8 + kDequeBlock * 8 + 8;

}  // namespace

Referents::Referents(PythonProcess& proc, TypeCache& types)
    : proc_(proc),
      types_(types),
      traits_(proc.traits()),
      max_array_(limits().container_items),
      max_object_bytes_(static_cast<uint64_t>(limits().object_bytes)) {}

uint64_t Referents::wanted_bytes(const TypeInfo& t, uint64_t object_size) const {
  uint64_t want = ObjectSizer::kHeaderBytes;
  if (t.has_refs || t.kind == BaseKind::Tuple) want = object_size;
  if (t.inline_values) want = std::max<uint64_t>(want, static_cast<uint64_t>(t.basicsize) + 8 + 8 * t.cached_nentries);
  if (t.kind == BaseKind::Set || t.kind == BaseKind::FrozenSet ||
      (t.kind == BaseKind::Dict && traits_.dict_model == DictModel::Table27))
    want = std::max<uint64_t>(want, static_cast<uint64_t>(t.basicsize));  // the small table is inline
  return std::min(std::max(want, object_size < 16 ? object_size : uint64_t{16}), max_object_bytes_);
}

void Referents::conservative(std::span<const std::byte> body, std::size_t from, const RefFn& emit) const {
  for (std::size_t off = from; off + 8 <= body.size(); off += 8) {
    uint64_t w = load_u64(body, static_cast<int64_t>(off));
    if (plausible_pointer(w)) emit(w);
  }
}

void Referents::managed_dict_refs(uint64_t addr, const TypeInfo& t, std::span<const std::byte> alloc, const RefFn& emit,
                                  std::vector<OutOfLine>& ool) const {
  const Layout& L = proc_.layout();
  const int64_t obj = t.preheader;  // the object's offset in `alloc`
  const int64_t values_off = L.dictvalues_values == kAbsent ? 0 : L.dictvalues_values;
  if (traits_.instance_dict_model ==
      InstanceDictModel::ManagedSplit311) {  // values at obj[-4], a materialised dict at obj[-3]
    uint64_t values = load_u64(alloc, obj - 32);
    uint64_t dict = load_u64(alloc, obj - 24);
    if (values && t.cached_nentries > 0)
      ool.push_back({OutOfLine::Kind::Pointers, addr, values + values_off, 0, t.cached_nentries});
    if (dict) emit(dict);
  } else if (traits_.instance_dict_model ==
             InstanceDictModel::DictOrValues312) {  // obj[-3]: a dict, or values tagged with the low bit
    uint64_t dorv = load_u64(alloc, obj - 24);
    if (dorv & 1) {
      if (t.cached_nentries > 0)
        ool.push_back({OutOfLine::Kind::Pointers, addr, dorv + 1 + values_off, 0, t.cached_nentries});
    } else if (dorv) {
      emit(dorv);
    }
  } else {  // 3.13+: values inline after tp_basicsize while valid, else the dict at obj[-3]
    uint64_t dict = load_u64(alloc, obj - 24);
    if (t.inline_values) {
      const int64_t values = obj + t.basicsize;
      if (load_u8(alloc, values + 3)) {  // PyDictValues.valid
        for (int64_t i = 0; i < t.cached_nentries; ++i) {
          uint64_t v = load_u64(alloc, values + values_off + 8 * i);
          if (v) emit(v);
        }
        return;
      }
    }
    if (dict) emit(dict);
  }
}

void Referents::object_refs(uint64_t addr, const TypeInfo& t, std::span<const std::byte> alloc, RefMode mode,
                            const RefFn& emit, std::vector<OutOfLine>& ool) const {
  const Layout& L = proc_.layout();
  std::span<const std::byte> body =
      alloc.size() > t.preheader ? alloc.subspan(t.preheader) : std::span<const std::byte>{};
  auto word = [&](int64_t off) { return load_u64(body, off); };
  auto emit_nz = [&](uint64_t w) {
    if (w) emit(w);
  };
  bool conservative_scan = false;
  switch (t.kind) {
    case BaseKind::Tuple: {
      const uint64_t n = std::min<uint64_t>(magnitude(load_i64(body, L.varobject_ob_size)), max_array_);
      for (int64_t i = 0; static_cast<uint64_t>(i) < n; ++i) {
        int64_t off = L.tuple_ob_item + 8 * i;
        if (static_cast<std::size_t>(off) + 8 > body.size()) break;
        emit_nz(word(off));
      }
      break;
    }
    case BaseKind::List: {
      uint64_t items = word(L.list_ob_item);
      int64_t n = load_i64(body, L.varobject_ob_size);
      if (items && n > 0 && n < max_array_) ool.push_back({OutOfLine::Kind::Pointers, addr, items, 0, n});
      break;
    }
    case BaseKind::Dict: {
      if (traits_.dict_model == DictModel::Table27) {
        uint64_t table = word(L.dict27_ma_table);
        int64_t mask = load_i64(body, L.dict27_ma_mask);
        if (!table || mask < 0 || mask >= max_array_) break;
        const int64_t es = or_default(L.dictentry27_size, 24);
        if (L.dict27_ma_smalltable != kAbsent && table == addr + L.dict27_ma_smalltable) {
          for (int64_t i = 0; i <= mask; ++i) {
            int64_t e = L.dict27_ma_smalltable + i * es;
            if (word(e + 16)) {
              emit_nz(word(e + 8));
              emit(word(e + 16));
            }
          }
        } else {
          ool.push_back({OutOfLine::Kind::Dict27Table, addr, table, 0, mask + 1});
        }
        break;
      }
      uint64_t keys = word(L.dict_ma_keys);
      if (keys) ool.push_back({OutOfLine::Kind::DictKeys, addr, keys, word(L.dict_ma_values), 0});
      break;
    }
    case BaseKind::Set:
    case BaseKind::FrozenSet: {
      uint64_t table = word(L.set_table);
      int64_t mask = load_i64(body, L.set_mask);
      if (!table || mask < 0 || mask >= max_array_) break;
      const int64_t es = or_default(L.setentry_size, 16);
      const int64_t key = or_default(L.setentry_key, 0);
      if (L.set_smalltable != kAbsent && table == addr + L.set_smalltable) {
        for (int64_t i = 0; i <= mask; ++i) {
          uint64_t k = word(L.set_smalltable + i * es + key);
          if (k && k != types_.set_dummy()) emit(k);
        }
      } else {
        ool.push_back({OutOfLine::Kind::SetTable, addr, table, 0, mask + 1});
      }
      break;
    }
    case BaseKind::Cell:
      if (L.cell_ob_ref != kAbsent) emit_nz(word(L.cell_ob_ref));
      break;
    case BaseKind::Deque: {
      uint64_t left = L.deque_leftblock != kAbsent ? word(L.deque_leftblock) : 0;
      int64_t index = L.deque_leftindex != kAbsent ? load_i64(body, L.deque_leftindex) : 0;
      int64_t n = load_i64(body, L.varobject_ob_size);
      if (left && n > 0 && n < max_array_ && index >= 0 && index < kDequeBlock)
        ool.push_back({OutOfLine::Kind::DequeBlocks, addr, left, static_cast<uint64_t>(index), n});
      break;
    }
    case BaseKind::Code: conservative_scan = mode == RefMode::Heap; break;
    case BaseKind::Object: break;
    case BaseKind::Int:
    case BaseKind::Float:
    case BaseKind::Complex:
    case BaseKind::Str:
    case BaseKind::Bytes:
    case BaseKind::ByteArray:
    case BaseKind::Int27:
    case BaseKind::Str27:
    case BaseKind::Unicode27:
    case BaseKind::Long27: break;
    default:  // Other, Type, Module, Function, Frame: no model of their fields
      conservative_scan = t.gc;
      break;
  }
  if (conservative_scan) {
    conservative(body, 16, emit);
  } else if (t.heap) {
    for (int64_t off : t.slots) emit_nz(word(off));
    if (!t.managed_dict && t.dictoffset) {
      int64_t off = t.dictoffset;
      if (off < 0) {  // counted from the end of a variable-size object (unsigned: ob_size may hold anything)
        uint64_t end = static_cast<uint64_t>(t.basicsize) +
                       magnitude(load_i64(body, L.varobject_ob_size)) * static_cast<uint64_t>(t.itemsize);
        off = static_cast<int64_t>(static_cast<uint64_t>(off) + ((end + 7) & ~uint64_t{7}));
      }
      if (off >= 16) emit_nz(word(off));
    }
  }
  if (t.managed_dict && t.heap) managed_dict_refs(addr, t, alloc, emit, ool);
}

bool Referents::array_refs(const OutOfLine& what, const ReadFn& read, const RefFn& emit) const {
  const Layout& L = proc_.layout();
  // A fixed-stride array read in chunks: fn(entry bytes) for each of `count` entries of `stride` bytes.
  auto each_entry = [&](uint64_t addr, int64_t count, int64_t stride, const auto& fn) -> bool {
    if (count <= 0) return true;
    if (count > max_array_) return false;
    const int64_t per_chunk = std::max<int64_t>(1, static_cast<int64_t>(kChunk) / stride);
    for (int64_t i = 0; i < count; i += per_chunk) {
      int64_t n = std::min(per_chunk, count - i);
      auto bytes = read(addr + static_cast<uint64_t>(i * stride), static_cast<std::size_t>(n * stride));
      if (bytes.size() < static_cast<std::size_t>(n * stride)) return false;
      for (int64_t k = 0; k < n; ++k)
        fn(bytes.subspan(static_cast<std::size_t>(k * stride), static_cast<std::size_t>(stride)));
    }
    return true;
  };
  switch (what.kind) {
    case OutOfLine::Kind::Pointers:
      return each_entry(what.addr, what.count, 8, [&](std::span<const std::byte> e) {
        uint64_t p = load_u64(e, 0);
        if (p) emit(p);
      });
    case OutOfLine::Kind::SetTable: {
      const int64_t es = or_default(L.setentry_size, 16);
      const int64_t key = or_default(L.setentry_key, 0);
      const uint64_t dummy = types_.set_dummy();
      return each_entry(what.addr, what.count, es, [&](std::span<const std::byte> e) {
        uint64_t k = load_u64(e, key);
        if (k && k != dummy) emit(k);
      });
    }
    case OutOfLine::Kind::Dict27Table:
      return each_entry(what.addr, what.count, or_default(L.dictentry27_size, 24), [&](std::span<const std::byte> e) {
        uint64_t v = load_u64(e, 16);
        if (v) {
          if (uint64_t k = load_u64(e, 8)) emit(k);
          emit(v);
        }
      });
    case OutOfLine::Kind::DequeBlocks: {
      uint64_t block = what.addr;
      int64_t index = static_cast<int64_t>(what.aux), left = what.count;
      for (int64_t blocks = 0; left > 0 && block && blocks <= what.count / kDequeBlock + 1; ++blocks) {
        auto b = read(block, kDequeBlockBytes);
        if (b.size() < kDequeBlockBytes) return false;
        for (; index < kDequeBlock && left > 0; ++index, --left)
          if (uint64_t p = load_u64(b, 8 + index * 8)) emit(p);
        block = load_u64(b, static_cast<int64_t>(kDequeBlockBytes) - 8);
        index = 0;
      }
      return left == 0;
    }
    case OutOfLine::Kind::DictKeys: {
      auto head = read(what.addr, ObjectSizer::kKeysHeaderBytes);
      if (head.size() < ObjectSizer::kKeysHeaderBytes) return false;
      int64_t size = 0, index_bytes = 0, es = L.dictkeyentry_size, key_slot = 8, value_slot = 16;
      if (L.dictkeys_dk_log2_size != kAbsent) {  // 3.11+
        uint8_t log2_size = load_u8(head, L.dictkeys_dk_log2_size);
        uint8_t log2_index = load_u8(head, L.dictkeys_dk_log2_index_bytes);
        if (log2_size > 40 || log2_index > 44) return false;
        size = int64_t{1} << log2_size;
        index_bytes = int64_t{1} << log2_index;
        if (load_u8(head, L.dictkeys_dk_kind) != 0) {  // PyDictUnicodeEntry {key, value}
          es = 16;
          key_slot = 0;
          value_slot = 8;
        }
      } else {
        size = load_i64(head, L.dictkeys_dk_size);
        if (size <= 0 || size > max_array_) return false;  // before size * width can overflow
        int width = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffLL ? 4 : 8;
        index_bytes = size * width;
      }
      int64_t nentries = load_i64(head, L.dictkeys_dk_nentries);
      if (size <= 0 || size > max_array_ || nentries < 0 || nentries > size) return false;
      const uint64_t entries = what.addr + static_cast<uint64_t>(L.dictkeys_dk_indices + index_bytes);
      if (what.aux) {  // a split table: keys from the shared keys, values from the dict's own array
        const int64_t values_off = L.dictvalues_values == kAbsent ? 0 : L.dictvalues_values;
        auto vb = read(what.aux + static_cast<uint64_t>(values_off), static_cast<std::size_t>(nentries * 8));
        if (vb.size() < static_cast<std::size_t>(nentries * 8)) return false;
        std::vector<uint64_t> values(static_cast<std::size_t>(nentries));
        if (nentries) std::memcpy(values.data(), vb.data(), static_cast<std::size_t>(nentries * 8));
        int64_t i = 0;
        return each_entry(entries, nentries, es, [&](std::span<const std::byte> e) {
          uint64_t v = values[static_cast<std::size_t>(i++)];
          if (!v) return;
          if (uint64_t k = load_u64(e, key_slot)) emit(k);
          emit(v);
        });
      }
      return each_entry(entries, nentries, es, [&](std::span<const std::byte> e) {
        uint64_t v = load_u64(e, value_slot);
        if (!v) return;
        if (uint64_t k = load_u64(e, key_slot)) emit(k);
        emit(v);
      });
    }
  }
  return false;
}

Expected<void> Referents::all_refs(uint64_t addr, RefMode mode, const RefFn& emit) {
  const Layout& L = proc_.layout();
  Memory& m = proc_.mem();
  PYX_TRY(type, m.read_ptr(addr + L.object_ob_type));
  const TypeInfo* t = types_.get(type);
  if (!t) return fail(fmt::format("0x{:x} is not a Python object", addr));
  uint64_t size = static_cast<uint64_t>(t->basicsize);
  if (t->itemsize) {
    PYX_TRY(n, m.read<int64_t>(addr + L.varobject_ob_size));
    if (t->kind == BaseKind::Int && L.long_lv_tag != kAbsent) n = static_cast<int64_t>(static_cast<uint64_t>(n) >> 3);
    size += static_cast<uint64_t>(std::abs(n)) * static_cast<uint64_t>(t->itemsize);
  }
  uint64_t want = wanted_bytes(*t, size);
  std::vector<std::byte> alloc(t->preheader + want);
  if (!m.read(addr - t->preheader, alloc)) {
    // The pre-header may sit right after unreadable memory only if it is not there at all.
    return fail(fmt::format("cannot read the object at 0x{:x}", addr));
  }
  std::vector<OutOfLine> ool;
  object_refs(addr, *t, alloc, mode, emit, ool);
  std::vector<std::byte> buf;
  ReadFn read = [&](uint64_t a, std::size_t n) -> std::span<const std::byte> {
    buf.resize(n);
    if (!m.read(a, buf)) return {};
    return buf;
  };
  for (const auto& o : ool) {
    if (!array_refs(o, read, emit)) return fail(fmt::format("cannot read the references it keeps at 0x{:x}", o.addr));
  }
  return {};
}

}  // namespace pyxray
