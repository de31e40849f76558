// safe_repr: validation, type identification, the depth/cycle/size bounds, and the containers.
// Scalars, text and named objects are in repr_number.cpp, repr_text.cpp and repr_named.cpp.
#include "repr/repr.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "repr/repr_impl.hpp"

namespace pyxray {
namespace repr_detail {
namespace {

constexpr uint64_t kTpFlagsHeapType = uint64_t{1} << 9;  // the same bits in 2.7 and every 3.x
constexpr uint64_t kTpFlagsReady = uint64_t{1} << 12;
// No type's instances are larger than this before their items (a sanity bound, not a CPython limit).
constexpr int64_t kMaxBasicSize = int64_t{1} << 20;
// Set table entries read per remote read while looking for live keys.
constexpr std::size_t kSetChunk = 256;

// One row per builtin the repr knows: the exported type symbol and the static type's tp_name, for
// each dialect ("" where the version has no such type).
struct Builtin {
  Kind kind;
  const char* symbol3;
  const char* name3;
  const char* symbol2;
  const char* name2;
};

constexpr Builtin kBuiltins[] = {
    {Kind::Int, "PyLong_Type", "int", "", ""},
    {Kind::Int27, "", "", "PyInt_Type", "int"},
    {Kind::Long27, "", "", "PyLong_Type", "long"},
    {Kind::Bool, "PyBool_Type", "bool", "PyBool_Type", "bool"},
    {Kind::Float, "PyFloat_Type", "float", "PyFloat_Type", "float"},
    {Kind::Str, "PyUnicode_Type", "str", "", ""},
    {Kind::Str27, "", "", "PyString_Type", "str"},
    {Kind::Unicode27, "", "", "PyUnicode_Type", "unicode"},
    {Kind::Bytes, "PyBytes_Type", "bytes", "", ""},
    {Kind::ByteArray, "PyByteArray_Type", "bytearray", "PyByteArray_Type", "bytearray"},
    {Kind::Tuple, "PyTuple_Type", "tuple", "PyTuple_Type", "tuple"},
    {Kind::List, "PyList_Type", "list", "PyList_Type", "list"},
    {Kind::Dict, "PyDict_Type", "dict", "PyDict_Type", "dict"},
    {Kind::Set, "PySet_Type", "set", "PySet_Type", "set"},
    {Kind::FrozenSet, "PyFrozenSet_Type", "frozenset", "PyFrozenSet_Type", "frozenset"},
    {Kind::Type, "PyType_Type", "type", "PyType_Type", "type"},
    {Kind::Module, "PyModule_Type", "module", "PyModule_Type", "module"},
    {Kind::Function, "PyFunction_Type", "function", "PyFunction_Type", "function"},
    {Kind::Code, "PyCode_Type", "code", "PyCode_Type", "code"},
    {Kind::Method, "PyMethod_Type", "method", "PyMethod_Type", "instancemethod"},
    {Kind::BuiltinFunction, "PyCFunction_Type", "builtin_function_or_method", "PyCFunction_Type",
     "builtin_function_or_method"},
    {Kind::Object, "PyBaseObject_Type", "object", "PyBaseObject_Type", "object"},
    {Kind::None, "_PyNone_Type", "NoneType", "", "NoneType"},
    {Kind::NotImplemented, "_PyNotImplemented_Type", "NotImplementedType", "", "NotImplementedType"},
    {Kind::Ellipsis, "PyEllipsis_Type", "ellipsis", "PyEllipsis_Type", "ellipsis"},
    {Kind::Class27, "", "", "PyClass_Type", "classobj"},
    {Kind::Instance27, "", "", "PyInstance_Type", "instance"},
};

// Kinds whose repr a subclass inherits unchanged when it does not define __repr__ itself.
bool inheritable(Kind k) {
  switch (k) {
    case Kind::Int:
    case Kind::Int27:
    case Kind::Long27:
    case Kind::Float:
    case Kind::Str:
    case Kind::Str27:
    case Kind::Unicode27:
    case Kind::Bytes:
    case Kind::ByteArray:
    case Kind::Tuple:
    case Kind::List:
    case Kind::Dict:
    case Kind::Set:
    case Kind::FrozenSet:
    case Kind::Type:
    case Kind::Module:
    case Kind::Object: return true;
    default: return false;
  }
}

}  // namespace

Engine::Engine(PythonProcess& proc, Objects& objects, const ReprLimits& limits)
    : proc_(proc), objects_(objects), mem_(proc.mem()), L_(proc.layout()), limits_(limits), dialect_(proc.traits()) {
  limits_.max_items = std::max(limits_.max_items, 0);
  build_type_tables();
}

void Engine::build_type_tables() {
  for (const Builtin& b : kBuiltins) {
    const char* symbol = dialect_.str_is_bytes ? b.symbol2 : b.symbol3;
    if (!*symbol) continue;
    uint64_t type = proc_.type_addr(symbol);
    if (!type) continue;
    exact_types_.emplace_back(type, b.kind);
    if (b.kind == Kind::Type) type_type_ = type;
    if (!inheritable(b.kind) || L_.type_tp_repr == kAbsent) continue;
    uint64_t fn = mem_.read_ptr(type + L_.type_tp_repr).value_or(0);
    // set and frozenset share set_repr: the first row wins, and emit_set tells them apart.
    bool known = std::any_of(repr_funcs_.begin(), repr_funcs_.end(), [&](const auto& p) { return p.first == fn; });
    if (fn && !known) repr_funcs_.emplace_back(fn, b.kind);
  }
}

bool Engine::is_heap_type(uint64_t type) {
  return mem_.read<uint64_t>(type + L_.type_tp_flags).value_or(0) & kTpFlagsHeapType;
}

Engine::TypeInfo Engine::classify(uint64_t type) {
  for (const auto& [addr, kind] : exact_types_)
    if (addr == type) return {kind, true};
  // Without the exported symbol (an unusual build), a static type is known by its name.
  if (!is_heap_type(type)) {
    std::string name = objects_.type_name_of_type(type).value_or("");
    for (const Builtin& b : kBuiltins) {
      if (name != (dialect_.str_is_bytes ? b.name2 : b.name3) || name.empty()) continue;
      bool resolved =
          std::any_of(exact_types_.begin(), exact_types_.end(), [&](const auto& p) { return p.second == b.kind; });
      if (!resolved) return {b.kind, true};
    }
  }
  // A subclass prints with its base's repr exactly when it inherited the base's tp_repr slot; a class
  // defining __repr__ has slot_tp_repr there instead, whose Python code we cannot run.
  if (L_.type_tp_repr != kAbsent) {
    uint64_t fn = mem_.read_ptr(type + L_.type_tp_repr).value_or(0);
    for (const auto& [addr, kind] : repr_funcs_)
      if (fn && addr == fn) return {kind, false};
  }
  return {Kind::Other, false};
}

Expected<uint64_t> Engine::validate(uint64_t addr) {
  if (addr == 0) return fail("null pointer");
  if (addr % 8 != 0) return fail(fmt::format("0x{:x} is not aligned like an object", addr));
  PYX_TRY(refcnt, read_refcount(mem_, L_, addr));
  if (refcnt <= 0) return fail(fmt::format("reference count {} at 0x{:x} (freed or not an object)", refcnt, addr));
  PYX_TRY(type, objects_.type_of(addr));
  // The type's type must be `type` itself or a metaclass (whose type is `type`).
  uint64_t t = type;
  for (int i = 0; i < kMaxMetaclassDepth && type_type_; ++i) {
    auto meta = mem_.read_ptr(t + L_.object_ob_type);
    if (!meta) return fail(fmt::format("type pointer 0x{:x} of 0x{:x} is not readable", type, addr));
    if (*meta == type_type_) {
      if (auto bad = implausible_type(type)) return fail(fmt::format("0x{:x} of 0x{:x} {}", type, addr, *bad));
      return type;
    }
    if (*meta == 0 || *meta % 8 != 0) break;
    t = *meta;
  }
  if (!type_type_ && !implausible_type(type)) return type;  // no symbol to compare with: the type's own fields
  return fail(fmt::format("0x{:x} of 0x{:x} is not a type", type, addr));
}

std::optional<std::string> Engine::implausible_type(uint64_t type) {
  // A stray pointer can land on memory whose "type" looks typed; a real type is ready, has a sane
  // size and a name of text.
  auto flags = mem_.read<uint64_t>(type + L_.type_tp_flags);
  auto basic = mem_.read<int64_t>(type + L_.type_tp_basicsize);
  if (!flags || !basic) return "is not readable as a type";
  if (!(*flags & kTpFlagsReady) || *basic < 16 || *basic > kMaxBasicSize) return "is not a type";
  auto name = objects_.type_name_of_type(type);
  if (!name || name->empty()) return "has no type name";
  bool text = sanitize_utf8(*name) == *name &&
              std::none_of(name->begin(), name->end(), [](char c) { return c >= 0 && (c < 0x20 || c == 0x7f); });
  if (!text) return "has a type name that is not text";
  return std::nullopt;
}

bool Engine::out_of_budget() {
  if (out_.size() >= limits_.max_output) cut_ = true;
  return cut_;
}

std::string Engine::render(uint64_t addr) {
  emit(addr, 0);
  if (cut_) out_ += "...";
  return sanitize_utf8(out_);
}

void Engine::emit(uint64_t addr, int depth) {
  if (out_of_budget()) return;
  // Only what a container holds goes deeper than max_depth (a method's self, a module's loader).
  if (depth > limits_.max_depth) {
    out_ += "...";
    return;
  }
  auto type = validate(addr);
  if (!type) {
    out_ += fmt::format("<invalid object at 0x{:x}>", addr);
    return;
  }
  std::size_t mark = out_.size();
  auto r = emit_kind(addr, *type, classify(*type), depth);
  if (!r && !cut_) {
    out_.resize(mark);
    std::string name = objects_.type_name_of_type(*type).value_or("?");
    out_ += fmt::format("<{} object at 0x{:x} (unreadable: {})>", name, addr, r.error().message);
  }
}

Engine::Result Engine::emit_kind(uint64_t addr, uint64_t type, TypeInfo info, int depth) {
  switch (info.kind) {
    case Kind::None: out_ += "None"; return {};
    case Kind::NotImplemented: out_ += "NotImplemented"; return {};
    case Kind::Ellipsis: out_ += "Ellipsis"; return {};
    case Kind::Bool: return emit_bool(addr);
    case Kind::Int: return emit_long(addr, false);
    case Kind::Long27: return emit_long(addr, true);
    case Kind::Int27: return emit_int27(addr);
    case Kind::Float: return emit_float(addr);
    case Kind::Str: return emit_str(addr);
    case Kind::Str27: return emit_bytes(addr, "");
    case Kind::Unicode27: return emit_unicode27(addr);
    case Kind::Bytes: return emit_bytes(addr, "b");
    case Kind::ByteArray: return emit_bytearray(addr, type);
    case Kind::Tuple: return emit_sequence(addr, true, depth);
    case Kind::List: return emit_sequence(addr, false, depth);
    case Kind::Dict: return emit_dict(addr, depth);
    case Kind::Set:
    case Kind::FrozenSet: return emit_set(addr, type, info.kind, info.exact, depth);
    case Kind::Type: return emit_type(addr);
    case Kind::Module: return emit_module(addr, depth);
    case Kind::Function: return emit_function(addr);
    case Kind::Code: return emit_code(addr);
    case Kind::Method: return emit_method(addr, depth);
    case Kind::BuiltinFunction: return emit_builtin_function(addr);
    case Kind::Class27: return emit_class27(addr);
    case Kind::Instance27: return emit_instance27(addr);
    case Kind::Object:
    case Kind::Other: return emit_object(addr, type, depth);
  }
  return emit_object(addr, type, depth);
}

// --- containers ---

Engine::Result Engine::emit_sequence(uint64_t addr, bool tuple, int depth) {
  const char* marker = tuple ? "(...)" : "[...]";
  if (std::find(active_.begin(), active_.end(), addr) != active_.end() || depth >= limits_.max_depth) {
    out_ += marker;
    return {};
  }
  PYX_TRY(size, mem_.read<int64_t>(addr + L_.varobject_ob_size));
  if (size < 0 || size > kMaxElements) return fail(fmt::format("size {} is corrupt", size));
  uint64_t items = addr + L_.tuple_ob_item;
  if (!tuple) {
    PYX_TRY(ptr, mem_.read_ptr(addr + L_.list_ob_item));
    items = ptr;
  }
  std::size_t n = static_cast<std::size_t>(std::min<int64_t>(size, limits_.max_items));
  std::vector<std::byte> raw;
  if (n > 0) {
    PYX_TRY(bytes, mem_.read_bytes(items, n * 8));
    raw = std::move(bytes);
  }
  ActiveGuard guard(active_, addr);
  out_ += tuple ? '(' : '[';
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out_ += ", ";
    if (out_of_budget()) return {};
    uint64_t item = 0;
    std::memcpy(&item, raw.data() + i * 8, 8);
    emit(item, depth + 1);
    if (cut_) return {};  // render() ends the text with "..."
  }
  if (static_cast<int64_t>(n) < size) out_ += n ? ", ..." : "...";
  if (tuple && size == 1) out_ += ',';
  out_ += tuple ? ')' : ']';
  return {};
}

Engine::Result Engine::emit_dict(uint64_t addr, int depth) {
  if (std::find(active_.begin(), active_.end(), addr) != active_.end() || depth >= limits_.max_depth) {
    out_ += "{...}";
    return {};
  }
  std::vector<std::pair<uint64_t, uint64_t>> items;
  bool more = false;
  const std::size_t max = static_cast<std::size_t>(limits_.max_items);
  auto r = objects_.dict_items(addr, [&](uint64_t k, uint64_t v) {
    if (items.size() >= max) {
      more = true;
      return false;
    }
    items.emplace_back(k, v);
    return true;
  });
  if (!r) return r;
  ActiveGuard guard(active_, addr);
  out_ += '{';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out_ += ", ";
    if (out_of_budget()) return {};
    emit(items[i].first, depth + 1);
    if (cut_) return {};
    out_ += ": ";
    emit(items[i].second, depth + 1);
    if (cut_) return {};
  }
  if (more) out_ += items.empty() ? "..." : ", ...";
  out_ += '}';
  return {};
}

bool Engine::is_set_dummy(uint64_t key) {
  if (!set_dummy_ && dialect_.set_dummy_exported) {
    // 3.x exports the pointer to its dummy object.
    uint64_t sym = proc_.type_addr("_PySet_Dummy");
    set_dummy_ = sym ? mem_.read_ptr(sym).value_or(0) : 0;
  }
  if (set_dummy_ && *set_dummy_) return key == *set_dummy_;
  // 2.7 keeps its dummy in a static: a str "<dummy key>" (the 3.x fallback: its type's name).
  static constexpr std::string_view kDummy = "<dummy key>";
  auto type = objects_.type_of(key);
  if (!type) return false;
  std::string name = objects_.type_name_of_type(*type).value_or("");
  bool dummy = !dialect_.set_dummy_exported ? name == "str" && plain_text(key, kDummy.size() + 1).value_or("") == kDummy
                                            : name == "<dummy key> type";
  if (dummy) set_dummy_ = key;  // there is one dummy per process
  return dummy;
}

Expected<std::vector<uint64_t>> Engine::set_keys(uint64_t addr, std::size_t max, bool* more) {
  if (L_.set_used == kAbsent || L_.set_mask == kAbsent || L_.set_table == kAbsent || L_.setentry_key == kAbsent)
    return fail("no layout for set objects");
  PYX_TRY(used, mem_.read<int64_t>(addr + L_.set_used));
  PYX_TRY(mask, mem_.read<int64_t>(addr + L_.set_mask));
  PYX_TRY(table, mem_.read_ptr(addr + L_.set_table));
  if (used < 0 || mask < 0 || mask >= kMaxElements || used > mask + 1)
    return fail(fmt::format("set is corrupt (used {}, mask {})", used, mask));
  const std::size_t entry = L_.setentry_size == kAbsent ? 16 : static_cast<std::size_t>(L_.setentry_size);
  const std::size_t want = std::min<std::size_t>(static_cast<std::size_t>(used), max);
  // Slots looked at for the first max_items keys (the set-slots limit): a table emptied by many
  // deletions (or a corrupt mask) prints the keys found so far and "...", rather than reading gigabytes.
  const uint64_t slots = std::min<uint64_t>(static_cast<uint64_t>(mask) + 1, static_cast<uint64_t>(limits().set_slots));
  std::vector<uint64_t> keys;
  for (uint64_t first = 0; first < slots && keys.size() < want; first += kSetChunk) {
    std::size_t count = static_cast<std::size_t>(std::min<uint64_t>(kSetChunk, slots - first));
    PYX_TRY(raw, mem_.read_bytes(table + first * entry, count * entry));
    for (std::size_t i = 0; i < count && keys.size() < want; ++i) {
      uint64_t key = 0;
      std::memcpy(&key, raw.data() + i * entry + L_.setentry_key, 8);
      if (key == 0 || is_set_dummy(key)) continue;
      keys.push_back(key);
    }
  }
  *more = static_cast<std::size_t>(used) > keys.size();
  return keys;
}

Engine::Result Engine::emit_set(uint64_t addr, uint64_t type, Kind kind, bool exact, int depth) {
  PYX_TRY(name, objects_.type_name_of_type(type));
  if (std::find(active_.begin(), active_.end(), addr) != active_.end() || depth >= limits_.max_depth) {
    out_ += name + "(...)";
    return {};
  }
  bool more = false;
  PYX_TRY(keys, set_keys(addr, static_cast<std::size_t>(limits_.max_items), &more));
  // 2.7: set([1, 2]); 3.x: {1, 2}, frozenset({1, 2}), set(), MySet({1, 2}).
  std::string open, close;
  if (dialect_.classic_reprs) {
    open = name + "([";
    close = "])";
  } else if (keys.empty() && !more) {
    out_ += name + "()";
    return {};
  } else if (kind == Kind::Set && exact) {
    open = "{";
    close = "}";
  } else {
    open = name + "({";
    close = "})";
  }
  ActiveGuard guard(active_, addr);
  out_ += open;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i) out_ += ", ";
    if (out_of_budget()) return {};
    emit(keys[i], depth + 1);
    if (cut_) return {};
  }
  if (more) out_ += keys.empty() ? "..." : ", ...";
  out_ += close;
  return {};
}

}  // namespace repr_detail

std::string safe_repr(PythonProcess& proc, Objects& objects, uint64_t addr, const ReprLimits& limits) {
  try {
    return repr_detail::Engine(proc, objects, limits).render(addr);
  } catch (const std::exception&) {
    // Allocation failure is the only exception the decoders can raise; keep the promise anyway.
    return fmt::format("<invalid object at 0x{:x}>", addr);
  }
}

Expected<uint64_t> check_object(PythonProcess& proc, Objects& objects, uint64_t addr) {
  return repr_detail::Engine(proc, objects, ReprLimits{}).validate(addr);
}

}  // namespace pyxray
