#include "heap/object_size.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/layout.hpp"
#include "layout/version_traits.hpp"
#include "target/memory.hpp"

namespace pyxray {
namespace {

// Type flags with the same bit in 2.7 and every 3.x.
constexpr uint64_t kTpHeapType = uint64_t{1} << 9;
constexpr uint64_t kTpReady = uint64_t{1} << 12;
constexpr uint64_t kTpHaveGc = uint64_t{1} << 14;
constexpr int kTObjectEx = 16;  // T_OBJECT_EX / Py_T_OBJECT_EX: what __slots__ members are
constexpr int kMaxBaseChain = 64;
constexpr int kMaxMembers = 4096;
constexpr int kMaxMetaclassDepth = 4;
constexpr int64_t kMaxBasicSize = int64_t{1} << 24;
constexpr int64_t kMaxItemSize = int64_t{1} << 16;

struct BuiltinRow {
  BaseKind kind;
  const char* symbol3;
  const char* symbol2;
};

constexpr BuiltinRow kBuiltins[] = {
    {BaseKind::Object, "PyBaseObject_Type", "PyBaseObject_Type"},
    {BaseKind::Int, "PyLong_Type", ""},
    {BaseKind::Long27, "", "PyLong_Type"},
    {BaseKind::Int27, "", "PyInt_Type"},
    {BaseKind::Float, "PyFloat_Type", "PyFloat_Type"},
    {BaseKind::Complex, "PyComplex_Type", "PyComplex_Type"},
    {BaseKind::Str, "PyUnicode_Type", ""},
    {BaseKind::Unicode27, "", "PyUnicode_Type"},
    {BaseKind::Str27, "", "PyString_Type"},
    {BaseKind::Bytes, "PyBytes_Type", ""},
    {BaseKind::ByteArray, "PyByteArray_Type", "PyByteArray_Type"},
    {BaseKind::Tuple, "PyTuple_Type", "PyTuple_Type"},
    {BaseKind::List, "PyList_Type", "PyList_Type"},
    {BaseKind::Dict, "PyDict_Type", "PyDict_Type"},
    {BaseKind::Set, "PySet_Type", "PySet_Type"},
    {BaseKind::FrozenSet, "PyFrozenSet_Type", "PyFrozenSet_Type"},
    {BaseKind::Type, "PyType_Type", "PyType_Type"},
    {BaseKind::Module, "PyModule_Type", "PyModule_Type"},
    {BaseKind::Function, "PyFunction_Type", "PyFunction_Type"},
    {BaseKind::Code, "PyCode_Type", "PyCode_Type"},
    {BaseKind::Frame, "PyFrame_Type", "PyFrame_Type"},
    {BaseKind::Cell, "PyCell_Type", "PyCell_Type"},
    {BaseKind::Gen, "PyGen_Type", "PyGen_Type"},
    {BaseKind::Gen, "PyCoro_Type", ""},
    {BaseKind::Gen, "PyAsyncGen_Type", ""},
};

// collections.deque has no exported symbol (and is a heap type from 3.13): known by its name.
constexpr std::string_view kDequeName = "collections.deque";

int64_t or_default(int64_t v, int64_t d) { return v == kAbsent ? d : v; }

bool printable_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) != 0x7f;
  });
}

uint64_t usable_fraction(uint64_t n) { return (n << 1) / 3; }

}  // namespace

// --- TypeCache ---

TypeCache::TypeCache(PythonProcess& proc, Objects& objects) : proc_(proc), objects_(objects), L_(proc.layout()) {
  const bool str_is_bytes = proc.traits().str_is_bytes;  // the 2.x names of the builtin types
  for (const BuiltinRow& b : kBuiltins) {
    const char* sym = str_is_bytes ? b.symbol2 : b.symbol3;
    if (!*sym) continue;
    if (uint64_t a = proc.type_addr(sym)) builtins_.emplace_back(a, b.kind);
  }
  type_type_ = builtin(BaseKind::Type);
  if (auto d = proc.target().symbol_address("_PySet_Dummy")) set_dummy_ = proc.mem().read_ptr(*d).value_or(0);
}

TypeCache::~TypeCache() = default;

uint64_t TypeCache::builtin(BaseKind k) const {
  for (const auto& [a, kind] : builtins_)
    if (kind == k) return a;
  return 0;
}

bool TypeCache::is_type_object(uint64_t type) {
  Memory& m = proc_.mem();
  uint64_t t = type;
  for (int i = 0; i < kMaxMetaclassDepth; ++i) {
    auto meta = m.read_ptr(t + L_.object_ob_type);
    if (!meta || *meta == 0 || *meta % 8 != 0) return false;
    if (type_type_ && *meta == type_type_) return true;
    if (!type_type_ && *meta == t) {
      // `type` is the one type whose type is itself: learn it from the first chain that ends there.
      auto name = objects_.type_name_of_type(t);
      if (name && *name == "type") {
        type_type_ = t;
        return true;
      }
      return false;
    }
    t = *meta;
  }
  return false;
}

const TypeInfo* TypeCache::get(uint64_t type) {
  if (last_ && last_->addr == type) return last_;
  if (auto it = cache_.find(type); it != cache_.end()) {
    if (it->second && it->second->valid) last_ = it->second.get();
    return it->second && it->second->valid ? it->second.get() : nullptr;
  }
  auto info = load(type);
  const TypeInfo* out = nullptr;
  if (info && info->valid) {
    info->id = static_cast<uint32_t>(by_id_.size());
    out = info.get();
    by_id_.push_back(out);
    last_ = out;
  }
  if (cache_.size() < kMaxCachedTypes || out) cache_[type] = std::move(info);
  return out;
}

std::unique_ptr<TypeInfo> TypeCache::load(uint64_t type) {
  auto t = std::make_unique<TypeInfo>();
  t->addr = type;
  if (type == 0 || type % 8 != 0) return t;
  Memory& m = proc_.mem();
  if (!is_type_object(type)) return t;
  auto flags = m.read<uint64_t>(type + L_.type_tp_flags);
  auto basic = m.read<int64_t>(type + L_.type_tp_basicsize);
  auto item = m.read<int64_t>(type + L_.type_tp_itemsize);
  auto name = objects_.type_name_of_type(type);
  if (!flags || !basic || !item || !name) return t;
  if (!(*flags & kTpReady) || *basic < 8 || *basic > kMaxBasicSize || *item < 0 || *item > kMaxItemSize ||
      !printable_name(*name))
    return t;
  t->tp_name = *name;
  t->flags = *flags;
  t->basicsize = *basic;
  t->itemsize = *item;
  t->gc = *flags & kTpHaveGc;
  t->heap = *flags & kTpHeapType;
  t->dictoffset = L_.type_tp_dictoffset != kAbsent ? m.read<int64_t>(type + L_.type_tp_dictoffset).value_or(0) : 0;
  const VersionTraits& vt = proc_.traits();
  uint32_t managed_words = 0;
  if (vt.managed_preheader) {
    t->managed_dict = vt.tpflags_managed_dict && (*flags & vt.tpflags_managed_dict);
    t->inline_values = vt.tpflags_inline_values && (*flags & vt.tpflags_inline_values);
    bool weak = vt.tpflags_managed_weakref && (*flags & vt.tpflags_managed_weakref);
    if (t->managed_dict || weak) managed_words = 16;
  }
  const uint32_t gc_head = vt.gc_head ? static_cast<uint32_t>(or_default(L_.gc_head_size, vt.default_gc_head_size)) : 0;
  // sys.getsizeof counts the PyGC_Head and, with a managed preheader, its two words.
  t->preheader = (t->gc ? gc_head : 0) + managed_words;
  t->sizeof_header = t->preheader;

  // The layout: the nearest builtin along tp_base (bool is an int, OrderedDict a dict). A class
  // deriving only from `object` is a plain instance; a static type no rule knows, and every class
  // deriving from it, stays Other.
  uint64_t cur = type;
  bool unknown_static = false;
  for (int i = 0; i < kMaxBaseChain && cur; ++i) {
    auto hit = std::find_if(builtins_.begin(), builtins_.end(), [&](const auto& p) { return p.first == cur; });
    BaseKind found = hit != builtins_.end() ? hit->second : BaseKind::Other;
    if (found == BaseKind::Other && vt.deque_blocks_of_64 && objects_.type_name_of_type(cur).value_or("") == kDequeName)
      found = BaseKind::Deque;
    if (found != BaseKind::Other) {
      t->kind = found == BaseKind::Object && unknown_static ? BaseKind::Other : found;
      t->exact = cur == type;
      t->base_basicsize = cur == type ? *basic : m.read<int64_t>(cur + L_.type_tp_basicsize).value_or(0);
      break;
    }
    auto cflags = cur == type ? flags : m.read<uint64_t>(cur + L_.type_tp_flags);
    if (!cflags) break;
    if (!(*cflags & kTpHeapType)) unknown_static = true;
    if (L_.type_tp_base == kAbsent) break;
    cur = m.read_ptr(cur + L_.type_tp_base).value_or(0);
  }
  if (t->kind == BaseKind::Other) t->base_basicsize = *basic;

  // __slots__ of the class and of every class between it and its builtin base.
  if (t->heap) {
    const int64_t msize = or_default(L_.memberdef_size, 40);
    const int64_t mtype = or_default(L_.memberdef_type, 8);
    const int64_t moff = or_default(L_.memberdef_offset, 16);
    std::vector<std::pair<int64_t, uint64_t>> members_found;  // offset, name
    uint64_t c = type;
    for (int i = 0; i < kMaxBaseChain && c; ++i) {
      auto cf = m.read<uint64_t>(c + L_.type_tp_flags);
      if (!cf || !(*cf & kTpHeapType)) break;
      auto meta = m.read_ptr(c + L_.object_ob_type);
      auto meta_basic = meta ? m.read<int64_t>(*meta + L_.type_tp_basicsize) : Expected<int64_t>(fail("no type"));
      if (!meta_basic) break;
      uint64_t members = c + static_cast<uint64_t>(*meta_basic);
      for (int k = 0; k < kMaxMembers; ++k) {
        uint64_t md = members + static_cast<uint64_t>(k * msize);
        auto nm = m.read_ptr(md);
        if (!nm || *nm == 0) break;
        auto ty = m.read<int32_t>(md + mtype);
        auto off = m.read<int64_t>(md + moff);
        if (!ty || !off) break;
        if (*ty == kTObjectEx && *off >= 16 && *off + 8 <= *basic &&
            std::none_of(members_found.begin(), members_found.end(), [&](const auto& f) { return f.first == *off; }))
          members_found.emplace_back(*off, *nm);
      }
      if (L_.type_tp_base == kAbsent) break;
      c = m.read_ptr(c + L_.type_tp_base).value_or(0);
    }
    std::sort(members_found.begin(), members_found.end());
    for (const auto& [off, name] : members_found) {
      t->slots.push_back(off);
      t->slot_names.push_back(name);
    }
    if (vt.instance_dict_model != InstanceDictModel::DictOffset && L_.heaptype_ht_cached_keys != kAbsent) {
      t->cached_keys = m.read_ptr(type + L_.heaptype_ht_cached_keys).value_or(0);
      if (t->cached_keys) t->cached_nentries = m.read<int64_t>(t->cached_keys + L_.dictkeys_dk_nentries).value_or(0);
      if (t->cached_nentries < 0 || t->cached_nentries > (1 << 16)) t->cached_nentries = 0;
    }
  }
  t->has_refs = t->gc || t->kind == BaseKind::Code;
  t->name = qualified_name(type, *t);
  t->valid = true;
  return t;
}

std::string TypeCache::qualified_name(uint64_t type, TypeInfo& t) {
  // Builtins and extension types: tp_name is "name" or "module.name".
  const auto dot = t.tp_name.rfind('.');
  t.module = dot == std::string::npos ? "builtins" : t.tp_name.substr(0, dot);
  t.qualname = dot == std::string::npos ? t.tp_name : t.tp_name.substr(dot + 1);
  if (!t.heap) return t.tp_name;
  Memory& m = proc_.mem();
  std::string qual = t.tp_name;
  int64_t name_field = proc_.traits().has_qualname ? L_.heaptype_ht_qualname : L_.heaptype_ht_name;
  if (name_field != kAbsent) {
    if (auto obj = m.read_ptr(type + name_field); obj && *obj) {
      if (auto text = objects_.read_text(*obj, 400); text && printable_name(*text)) qual = *text;
    }
  }
  t.qualname = qual;
  if (L_.type_tp_dict == kAbsent) return qual;
  auto dict = m.read_ptr(type + L_.type_tp_dict);
  if (!dict || !*dict) return qual;
  auto module = objects_.dict_get_str(*dict, "__module__");
  if (!module || !*module) return qual;
  auto text = objects_.read_text(**module, 400);
  if (!text || text->empty() || *text == "builtins" || *text == "__builtin__") {
    t.module = "builtins";
    return qual;
  }
  t.module = *text;
  return *text + "." + qual;
}

// --- ObjectSizer ---

ObjectSizer::ObjectSizer(PythonProcess& proc, TypeCache& types)
    : proc_(proc), types_(types), L_(proc.layout()), traits_(proc.traits()) {}

uint64_t ObjectSizer::min_allocation(const TypeInfo& t, std::span<const std::byte> head) const {
  uint64_t base = t.preheader;
  switch (t.kind) {
    case BaseKind::Str: {
      if (!t.exact) break;
      uint32_t state = load_u32(head, L_.ascii_state);
      int64_t len = load_i64(head, L_.ascii_length);
      const auto [kind, compact, ascii] = str_state(state, proc_.traits().unicode_kind_shift);
      if (len < 0 || !compact) break;
      const uint64_t n = static_cast<uint64_t>(len);  // unsigned: a corrupt length must not overflow
      if (ascii) return base + static_cast<uint64_t>(L_.ascii_size) + n + 1;
      return base + static_cast<uint64_t>(L_.compact_unicode_size) + (n + 1) * static_cast<uint64_t>(kind);
    }
    case BaseKind::Int:
      if (L_.long_lv_tag != kAbsent) {  // 3.12+: the digit count is in lv_tag, there is no ob_size
        uint64_t ndigits = load_u64(head, L_.long_lv_tag) >> 3;
        return base + static_cast<uint64_t>(t.basicsize) + ndigits * static_cast<uint64_t>(t.itemsize);
      }
      break;
    default: break;
  }
  uint64_t size = base + static_cast<uint64_t>(t.basicsize);
  if (t.itemsize && !no_ob_size(t)) {
    size += magnitude(load_i64(head, L_.varobject_ob_size)) * static_cast<uint64_t>(t.itemsize);
  }
  return size;
}

bool ObjectSizer::no_ob_size(const TypeInfo& t) const {
  switch (t.kind) {
    case BaseKind::Gen:
    case BaseKind::Frame: return traits_.frames_sized_by_code;
    case BaseKind::Int: return traits_.int_size_in_lv_tag;
    default: return false;
  }
}

bool ObjectSizer::exact_allocation(const TypeInfo& t) const {
  if (t.itemsize || t.inline_values) return false;
  switch (t.kind) {
    case BaseKind::Str:
    case BaseKind::Int: return false;
    default: return true;
  }
}

uint64_t ObjectSizer::needs_keys(const TypeInfo& t, std::span<const std::byte> head) const {
  if (t.kind != BaseKind::Dict || traits_.dict_model == DictModel::Table27) return 0;
  return load_u64(head, L_.dict_ma_keys);
}

uint64_t ObjectSizer::keys_size(std::span<const std::byte> k) const {
  const int64_t header = L_.dictkeys_dk_indices;
  if (L_.dictkeys_dk_log2_size != kAbsent) {  // 3.11+
    uint8_t log2_size = load_u8(k, L_.dictkeys_dk_log2_size);
    uint8_t log2_index = load_u8(k, L_.dictkeys_dk_log2_index_bytes);
    uint8_t kind = load_u8(k, L_.dictkeys_dk_kind);
    if (log2_size > 40 || log2_index > 44) return 0;
    uint64_t es = kind == 0 ? static_cast<uint64_t>(L_.dictkeyentry_size) : 16;
    return static_cast<uint64_t>(header) + (uint64_t{1} << log2_index) + usable_fraction(uint64_t{1} << log2_size) * es;
  }
  int64_t size = load_i64(k, L_.dictkeys_dk_size);
  if (size <= 0 || size > (int64_t{1} << 40)) return 0;
  uint64_t ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffLL ? 4 : 8;
  return static_cast<uint64_t>(header) + ix * static_cast<uint64_t>(size) +
         usable_fraction(static_cast<uint64_t>(size)) * static_cast<uint64_t>(L_.dictkeyentry_size);
}

uint64_t ObjectSizer::str_sizeof(uint64_t addr, std::span<const std::byte> head) const {
  // unicode___sizeof__: the struct, the characters, a separate wchar_t copy (<= 3.11) and a UTF-8 cache.
  uint32_t state = load_u32(head, L_.ascii_state);
  // Unsigned arithmetic throughout: the lengths come from the target and may hold anything.
  const uint64_t len = static_cast<uint64_t>(std::max<int64_t>(load_i64(head, L_.ascii_length), 0));
  const StrState st = str_state(state, proc_.traits().unicode_kind_shift);
  const uint64_t kind = static_cast<uint64_t>(st.kind);
  const bool compact = st.compact, ascii = st.ascii;
  bool ready = !traits_.unicode_ready_bit || ((state >> 7) & 1);
  uint64_t size = 0;
  uint64_t data = 0;
  if (compact && ascii) {
    size = static_cast<uint64_t>(L_.ascii_size) + len + 1;
    data = addr + static_cast<uint64_t>(L_.ascii_size);
  } else if (compact) {
    size = static_cast<uint64_t>(L_.compact_unicode_size) + (len + 1) * kind;
    data = addr + static_cast<uint64_t>(L_.compact_unicode_size);
  } else {
    size = static_cast<uint64_t>(or_default(L_.unicode_object_size, 80));
    if (L_.unicode_data != kAbsent) data = load_u64(head, L_.unicode_data);
    if (data) size += (len + 1) * kind;
  }
  // _PyUnicode_HAS_WSTR_MEMORY (3.3-3.11): a wchar_t copy that is not the data itself.
  if (L_.ascii_wstr != kAbsent) {
    uint64_t wstr = load_u64(head, L_.ascii_wstr);
    if (wstr && (!ready || wstr != data)) {
      uint64_t wlen = compact && ascii
                          ? len
                          : static_cast<uint64_t>(std::max<int64_t>(load_i64(head, L_.compact_unicode_wstr_length), 0));
      size += (wlen + 1) * 4;
    }
  }
  // _PyUnicode_HAS_UTF8_MEMORY: a cached UTF-8 copy (never for compact ASCII, whose data is UTF-8).
  if (!(compact && ascii) && L_.compact_unicode_utf8 != kAbsent) {
    uint64_t utf8 = load_u64(head, L_.compact_unicode_utf8);
    if (utf8 && utf8 != data)
      size += static_cast<uint64_t>(std::max<int64_t>(load_i64(head, L_.compact_unicode_utf8_length), 0)) + 1;
  }
  return size;
}

uint64_t ObjectSizer::frame_slots(uint64_t code) const {
  // _PyFrame_NumSlotsForCodeObject (3.11+): the code's locals, cells, free variables and stack.
  if (!code || L_.code_co_nlocalsplus == kAbsent || L_.code_co_stacksize == kAbsent) return 0;
  Memory& m = proc_.mem();
  int64_t n = m.read<int32_t>(code + L_.code_co_nlocalsplus).value_or(0);
  int64_t s = m.read<int32_t>(code + L_.code_co_stacksize).value_or(0);
  return n >= 0 && s >= 0 ? static_cast<uint64_t>(n + s) : 0;
}

uint64_t ObjectSizer::frame_code(uint64_t iframe) const {
  int64_t f = L_.iframe_f_code != kAbsent ? L_.iframe_f_code : L_.iframe_f_executable;
  if (!iframe || f == kAbsent) return 0;
  return proc_.mem().read_ptr(iframe + f).value_or(0) & ~uint64_t{7};  // 3.14 tags f_executable
}

uint64_t ObjectSizer::gen_sizeof(const TypeInfo& t, uint64_t addr, std::span<const std::byte> head) {
  // gen_sizeof (3.11+): the generator with its embedded frame.
  uint64_t code = 0;
  if (L_.gen_gi_code != kAbsent) code = load_u64(head, L_.gen_gi_code);
  else if (L_.gen_gi_iframe != kAbsent) code = frame_code(addr + static_cast<uint64_t>(L_.gen_gi_iframe));
  return static_cast<uint64_t>(t.basicsize) + frame_slots(code) * 8;
}

uint64_t ObjectSizer::dict_size(const TypeInfo& t, bool split, std::span<const std::byte> keys_head) const {
  // _PyDict_SizeOf: the dict, a split table's values array, and the keys unless they are shared.
  uint64_t size = static_cast<uint64_t>(t.basicsize);
  if (keys_head.empty()) return size;
  if (split) {
    uint64_t usable = 0;
    if (L_.dictkeys_dk_log2_size != kAbsent) {
      usable = load_u64(keys_head, L_.dictkeys_dk_nentries) + load_u64(keys_head, L_.dictkeys_dk_usable);
    } else {
      usable = usable_fraction(load_u64(keys_head, L_.dictkeys_dk_size));
    }
    size += usable * 8;
  }
  int64_t refcnt = L_.dictkeys_dk_refcnt != kAbsent ? load_i64(keys_head, L_.dictkeys_dk_refcnt) : 0;
  if (refcnt == 1) size += keys_size(keys_head);
  return size;
}

uint64_t ObjectSizer::type_sizeof(uint64_t addr, const TypeInfo& t) {
  Memory& m = proc_.mem();
  uint64_t flags = m.read<uint64_t>(addr + L_.type_tp_flags).value_or(0);
  if (!(flags & kTpHeapType)) {
    if (L_.type_size != kAbsent) return static_cast<uint64_t>(L_.type_size);
    return static_cast<uint64_t>(t.basicsize);
  }
  uint64_t size = static_cast<uint64_t>(L_.heaptype_size != kAbsent ? L_.heaptype_size : t.base_basicsize);
  if (L_.heaptype_ht_cached_keys != kAbsent) {
    uint64_t keys = m.read_ptr(addr + L_.heaptype_ht_cached_keys).value_or(0);
    if (keys) {
      if (auto k = m.read_bytes(keys, kKeysHeaderBytes)) size += keys_size(*k);
    }
  }
  return size;
}

uint64_t ObjectSizer::dunder_sizeof(const TypeInfo& t, uint64_t addr, std::span<const std::byte> head,
                                    std::span<const std::byte> keys_head) {
  const uint64_t basic = static_cast<uint64_t>(t.basicsize);
  auto var_default = [&]() -> uint64_t {
    uint64_t size = basic;
    if (t.itemsize) {
      size += magnitude(load_i64(head, L_.varobject_ob_size)) * static_cast<uint64_t>(t.itemsize);
    }
    return size;
  };
  const uint64_t digit = static_cast<uint64_t>(or_default(L_.digit_size, 4));
  switch (t.kind) {
    case BaseKind::Int: {
      if (L_.long_lv_tag != kAbsent) {
        uint64_t n = load_u64(head, L_.long_lv_tag) >> 3;
        return static_cast<uint64_t>(L_.long_value_ob_digit) + std::max<uint64_t>(n, 1) * digit;
      }
      uint64_t nd = magnitude(load_i64(head, L_.varobject_ob_size));
      if (traits_.int_sizeof_min_one_digit) nd = std::max<uint64_t>(nd, 1);  // 3.11 counts one digit even for 0
      return static_cast<uint64_t>(L_.long_ob_digit) + nd * digit;
    }
    case BaseKind::Long27: {
      return basic + magnitude(load_i64(head, L_.varobject_ob_size)) * digit;
    }
    case BaseKind::Str: return str_sizeof(addr, head);
    case BaseKind::Unicode27: {
      uint64_t len = static_cast<uint64_t>(std::max<int64_t>(load_i64(head, L_.unicode27_length), 0));
      return static_cast<uint64_t>(or_default(L_.unicode_object_size, basic)) +
             (len + 1) * static_cast<uint64_t>(or_default(L_.py_unicode_size, 4));
    }
    case BaseKind::ByteArray: {
      uint64_t size = basic + load_u64(head, L_.bytearray_ob_alloc);
      // 3.15+ keeps the buffer in a bytes object, whose header bytearray.__sizeof__ counts too.
      if (L_.bytearray_ob_bytes_object != kAbsent && load_u64(head, L_.bytearray_ob_bytes_object) != 0)
        size += static_cast<uint64_t>(L_.bytes_ob_sval) + 1;
      return size;
    }
    case BaseKind::List: return basic + load_u64(head, L_.list_allocated) * 8;
    case BaseKind::Set:
    case BaseKind::FrozenSet: {
      uint64_t table = load_u64(head, L_.set_table);
      int64_t mask = load_i64(head, L_.set_mask);
      if (L_.set_smalltable != kAbsent && table != addr + static_cast<uint64_t>(L_.set_smalltable) && mask > 0)
        return basic + (static_cast<uint64_t>(mask) + 1) * static_cast<uint64_t>(or_default(L_.setentry_size, 16));
      return basic;
    }
    case BaseKind::Dict: {
      if (traits_.dict_model == DictModel::Table27) {
        uint64_t table = load_u64(head, L_.dict27_ma_table);
        int64_t mask = load_i64(head, L_.dict27_ma_mask);
        if (L_.dict27_ma_smalltable != kAbsent && table != addr + static_cast<uint64_t>(L_.dict27_ma_smalltable))
          return basic + (static_cast<uint64_t>(mask) + 1) * static_cast<uint64_t>(or_default(L_.dictentry27_size, 24));
        return basic;
      }
      return dict_size(t, load_u64(head, L_.dict_ma_values) != 0, keys_head);
    }
    case BaseKind::Type:
      // 2.7 has no type.__sizeof__: object's counts the metatype's tp_basicsize (and any slots).
      return traits_.has_type_sizeof ? type_sizeof(addr, t) : var_default();
    case BaseKind::Code: {
      // 3.11+: _PyObject_VAR_SIZE, rounded up to a pointer (a code object's co_extra is not counted).
      uint64_t size = var_default();
      return traits_.code_sizeof_rounded ? (size + 7) & ~uint64_t{7} : size;
    }
    case BaseKind::Gen: return traits_.frames_sized_by_code ? gen_sizeof(t, addr, head) : basic;
    case BaseKind::Deque: {
      // deque_sizeof: the object and its 64-item blocks.
      uint64_t len = static_cast<uint64_t>(std::max<int64_t>(load_i64(head, L_.varobject_ob_size), 0));
      int64_t left = L_.deque_leftindex != kAbsent ? load_i64(head, L_.deque_leftindex) : 0;
      uint64_t blocks = (static_cast<uint64_t>(std::max<int64_t>(left, 0)) + len + 63) / 64;
      return basic + blocks * (8 + 64 * 8 + 8);
    }
    case BaseKind::Frame: {
      // 3.11+: frame_sizeof adds the slots of the frame's code.
      if (traits_.frames_sized_by_code) {
        uint64_t iframe = L_.frame_f_frame != kAbsent ? load_u64(head, L_.frame_f_frame) : 0;
        return basic + frame_slots(frame_code(iframe)) * 8;
      }
      // frame_sizeof (<= 3.10): sizeof(PyFrameObject) includes one of the ob_size extra slots.
      int64_t n = load_i64(head, L_.varobject_ob_size);
      uint64_t fsize = static_cast<uint64_t>(or_default(L_.frame_object_size, t.basicsize + 8));
      return fsize + (n > 1 ? static_cast<uint64_t>(n) - 1 : 0) * 8;
    }
    default: return var_default();
  }
}

uint64_t ObjectSizer::getsizeof(const TypeInfo& t, uint64_t addr, std::span<const std::byte> head,
                                std::span<const std::byte> keys_head) {
  uint64_t size = dunder_sizeof(t, addr, head, keys_head);
  uint64_t header = t.sizeof_header;
  // A static type has no GC head: sys.getsizeof adds none for it up to 3.10 (type's tp_is_gc) and
  // from 3.13 (when its type is `type` itself); 3.11 and 3.12 add the header all the same.
  const StaticTypeGcHeader rule = traits_.static_type_gc_header;
  if (t.kind == BaseKind::Type && t.gc &&
      (rule == StaticTypeGcHeader::NotCounted || (rule == StaticTypeGcHeader::CountedUnlessExact && t.exact))) {
    uint64_t flags = proc_.mem().read<uint64_t>(addr + L_.type_tp_flags).value_or(0);
    if (!(flags & kTpHeapType)) header = 0;
  }
  return size + header;
}

Expected<uint64_t> ObjectSizer::getsizeof(uint64_t addr) {
  Memory& m = proc_.mem();
  PYX_TRY(type, m.read_ptr(addr + L_.object_ob_type));
  const TypeInfo* t = types_.get(type);
  if (!t) return fail(fmt::format("0x{:x} is not a Python object (its type 0x{:x} is not a type)", addr, type));
  std::vector<std::byte> head(kHeaderBytes);
  // Read what is there up to kHeaderBytes: a small object may end right before unreadable memory.
  std::size_t n = kHeaderBytes;
  while (n >= 16 && !m.read(addr, std::span(head.data(), n))) n /= 2;
  if (n < 16) return fail(fmt::format("cannot read the object at 0x{:x}", addr));
  head.resize(n);
  std::vector<std::byte> keys;
  if (uint64_t k = needs_keys(*t, head)) {
    auto kb = m.read_bytes(k, kKeysHeaderBytes);
    if (!kb) return fail(fmt::format("cannot read the keys of the dict at 0x{:x}: {}", addr, kb.error().message));
    keys = std::move(*kb);
  }
  return getsizeof(*t, addr, head, keys);
}

}  // namespace pyxray
