#include "layout/debug_offsets.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace pyxray {
namespace {

// Largest struct size, and largest offset into a struct whose size the block does not declare,
// that is still believable. The largest real ones are _PyRuntimeState (~400 KiB free-threaded)
// and PyInterpreterState (~250 KiB).
constexpr uint64_t kMaxStructSize = 1u << 20;
constexpr std::size_t kHeaderSize = 24;  // char cookie[8]; uint64_t version; uint64_t free_threaded;
constexpr std::string_view kCookie = "xdebugpy";
constexpr std::string_view kOwnSection = "<own>";

enum class Kind : uint8_t {
  Size,    // sizeof(section's struct); only ever a section's "size" member
  Offset,  // offsetof(ctype, cpath)
  Value,   // a size or count that is not an offset (sizeof(PyASCIIObject), MAX_SCRIPT_PATH_SIZE)
};

enum Flags : uint8_t {
  kNone = 0,
  kFlexible = 1,          // a trailing variable-length array: the offset may equal the struct size
  kFreeThreadedOnly = 2,  // a placeholder 0 on GIL builds
  kGilRelative = 4,       // offsetof(PyInterpreterState, _gil.X): also give X's offset inside the gil
};

struct MemberSpec {
  std::string_view name;  // member of the section in _Py_DebugOffsets
  Kind kind;
  std::string_view ctype;  // the C struct the offset is into (empty: the section's own struct)
  std::string_view cpath;  // the C field path, or what a Value is (for messages)
  std::string_view key;    // layout key; empty -> "debug:section.member"
  std::string_view bound;  // section whose size bounds the value; empty -> only kMaxStructSize
  uint8_t flags = kNone;
};

struct SectionSpec {
  std::string_view name;   // "thread_state"
  std::string_view ctype;  // the struct described; its size goes under the key "ctype:"
  std::vector<MemberSpec> members;
};

using BlockLayout = std::vector<SectionSpec>;

MemberSpec size() { return {"size", Kind::Size, {}, {}, {}, {}, kNone}; }
// An offset into the section's own struct, bounded by the section's size.
MemberSpec own(std::string_view name, std::string_view cpath, std::string_view key = {}, uint8_t flags = kNone) {
  return {name, Kind::Offset, {}, cpath, key, kOwnSection, flags};
}
// An offset into another struct, bounded by section `bound`'s size (only by kMaxStructSize when empty).
MemberSpec other(std::string_view name, std::string_view ctype, std::string_view cpath, std::string_view bound,
                 std::string_view key = {}, uint8_t flags = kNone) {
  return {name, Kind::Offset, ctype, cpath, key, bound, flags};
}
// A size that is not an offset, at most section `bound`'s size (only kMaxStructSize when empty).
MemberSpec value(std::string_view name, std::string_view what, std::string_view bound, std::string_view key = {}) {
  return {name, Kind::Value, {}, what, key, bound, kNone};
}

// Fills in "the section's own struct" for own() members.
SectionSpec section(std::string_view name, std::string_view ctype, std::vector<MemberSpec> members) {
  for (auto& m : members) {
    if (m.ctype.empty()) m.ctype = ctype;
    if (m.bound == kOwnSection) m.bound = name;
  }
  return {name, ctype, std::move(members)};
}

// ---- Sections, as declared in CPython's headers (3.13: Include/internal/pycore_runtime.h; 3.14+:
// Include/internal/pycore_debug_offsets.h). Order matters: the block is these members back to back,
// every one a uint64_t, with no padding (the header is 24 bytes, a multiple of 8).

SectionSpec runtime_state() {
  return section("runtime_state", "_PyRuntimeState",
                 {size(), own("finalizing", "_finalizing"),
                  own("interpreters_head", "interpreters.head", "_PyRuntimeState:interpreters.head")});
}

SectionSpec interpreter_state(bool v314) {
  std::vector<MemberSpec> m = {
      size(),
      own("id", "id", "PyInterpreterState:id"),
      own("next", "next", "PyInterpreterState:next"),
      own("threads_head", "threads.head", "PyInterpreterState:threads.head"),
  };
  if (v314) m.push_back(own("threads_main", "threads.main"));
  m.insert(
      m.end(),
      {
          own("gc", "gc"),
          own("imports_modules", "imports.modules", "PyInterpreterState:imports.modules"),
          own("sysdict", "sysdict", "PyInterpreterState:sysdict"),
          own("builtins", "builtins"),
          own("ceval_gil", "ceval.gil", "PyInterpreterState:ceval.gil"),
          own("gil_runtime_state", "_gil"),
          // offsetof(struct _gil_runtime_state, enabled) on free-threaded builds, else 0.
          other("gil_runtime_state_enabled", "struct _gil_runtime_state", "enabled", {}, {}, kFreeThreadedOnly),
          // Relative to the interpreter, not to the gil struct (see kGilRelative).
          own("gil_runtime_state_locked", "_gil.locked", "struct _gil_runtime_state:locked", kGilRelative),
          own("gil_runtime_state_holder", "_gil.last_holder", "struct _gil_runtime_state:last_holder", kGilRelative),
      });
  if (v314) {
    m.push_back(own("code_object_generation", "_code_object_generation"));
    m.push_back(own("tlbc_generation", "tlbc_indices.tlbc_generation", {}, kFreeThreadedOnly));
  }
  return section("interpreter_state", "PyInterpreterState", std::move(m));
}

enum class TstateKind { v313, v315_b1, v315 };

SectionSpec thread_state(TstateKind kind) {
  std::vector<MemberSpec> m = {
      size(),
      own("prev", "prev"),
      own("next", "next", "PyThreadState:next"),
      own("interp", "interp", "PyThreadState:interp"),
      own("current_frame", "current_frame", "PyThreadState:current_frame"),
  };
  if (kind != TstateKind::v313) {
    m.push_back(own("base_frame", "base_frame"));
    m.push_back(own("last_profiled_frame", "last_profiled_frame"));
    if (kind == TstateKind::v315) m.push_back(own("last_profiled_frame_seq", "last_profiled_frame_seq"));
  }
  m.insert(m.end(), {
                        own("thread_id", "thread_id", "PyThreadState:thread_id"),
                        own("native_thread_id", "native_thread_id", "PyThreadState:native_thread_id"),
                        own("datastack_chunk", "datastack_chunk", "PyThreadState:datastack_chunk"),
                        own("status", "_status"),
                    });
  if (kind != TstateKind::v313) {
    m.insert(m.end(), {own("holds_gil", "holds_gil"), own("gil_requested", "gil_requested"),
                       own("current_exception", "current_exception"), own("exc_state", "exc_state")});
  }
  return section("thread_state", "PyThreadState", std::move(m));
}

// No size member: the offset is only checked for plausibility.
SectionSpec err_stackitem() {
  return section("err_stackitem", "_PyErr_StackItem", {other("exc_value", "_PyErr_StackItem", "exc_value", {})});
}

SectionSpec interpreter_frame(bool v314) {
  std::vector<MemberSpec> m = {
      size(),
      own("previous", "previous", "_PyInterpreterFrame:previous"),
      own("executable", "f_executable", "_PyInterpreterFrame:f_executable"),
      own("instr_ptr", "instr_ptr", "_PyInterpreterFrame:instr_ptr"),
      own("localsplus", "localsplus", "_PyInterpreterFrame:localsplus", kFlexible),
      own("owner", "owner", "_PyInterpreterFrame:owner"),
  };
  if (v314) {
    m.push_back(own("stackpointer", "stackpointer"));
    m.push_back(own("tlbc_index", "tlbc_index", "_PyInterpreterFrame:tlbc_index", kFreeThreadedOnly));
  }
  return section("interpreter_frame", "_PyInterpreterFrame", std::move(m));
}

SectionSpec code_object(bool v314) {
  std::vector<MemberSpec> m = {
      size(),
      own("filename", "co_filename", "PyCodeObject:co_filename"),
      own("name", "co_name", "PyCodeObject:co_name"),
      own("qualname", "co_qualname", "PyCodeObject:co_qualname"),
      own("linetable", "co_linetable", "PyCodeObject:co_linetable"),
      own("firstlineno", "co_firstlineno", "PyCodeObject:co_firstlineno"),
      own("argcount", "co_argcount"),
      own("localsplusnames", "co_localsplusnames"),
      own("localspluskinds", "co_localspluskinds"),
      own("co_code_adaptive", "co_code_adaptive", "PyCodeObject:co_code_adaptive", kFlexible),
  };
  if (v314) m.push_back(own("co_tlbc", "co_tlbc", "PyCodeObject:co_tlbc", kFreeThreadedOnly));
  return section("code_object", "PyCodeObject", std::move(m));
}

SectionSpec pyobject() {
  return section("pyobject", "PyObject", {size(), own("ob_type", "ob_type", "PyObject:ob_type")});
}

SectionSpec type_object(bool v315) {
  std::vector<MemberSpec> m = {size(), own("tp_name", "tp_name", "PyTypeObject:tp_name"), own("tp_repr", "tp_repr"),
                               own("tp_flags", "tp_flags", "PyTypeObject:tp_flags")};
  if (v315) {
    m.push_back(own("tp_basicsize", "tp_basicsize", "PyTypeObject:tp_basicsize"));
    m.push_back(own("tp_dictoffset", "tp_dictoffset", "PyTypeObject:tp_dictoffset"));
  }
  return section("type_object", "PyTypeObject", std::move(m));
}

SectionSpec heap_type_object() {
  return section("heap_type_object", "PyHeapTypeObject",
                 {size(), own("ht_cached_keys", "ht_cached_keys", "PyHeapTypeObject:ht_cached_keys")});
}

SectionSpec tuple_object() {
  return section("tuple_object", "PyTupleObject",
                 {size(), own("ob_item", "ob_item", "PyTupleObject:ob_item", kFlexible),
                  // offsetof(PyTupleObject, ob_base.ob_size): ob_base is the PyVarObject header.
                  own("ob_size", "ob_base.ob_size", "PyVarObject:ob_size")});
}

SectionSpec list_object() {
  return section("list_object", "PyListObject",
                 {size(), own("ob_item", "ob_item", "PyListObject:ob_item"), own("ob_size", "ob_base.ob_size")});
}

SectionSpec set_object() {
  return section("set_object", "PySetObject",
                 {size(), own("used", "used"), own("table", "table"), own("mask", "mask")});
}

SectionSpec dict_object() {
  return section("dict_object", "PyDictObject",
                 {size(), own("ma_keys", "ma_keys", "PyDictObject:ma_keys"),
                  own("ma_values", "ma_values", "PyDictObject:ma_values")});
}

SectionSpec float_object() { return section("float_object", "PyFloatObject", {size(), own("ob_fval", "ob_fval")}); }

SectionSpec long_object() {
  return section("long_object", "PyLongObject",
                 {size(), own("lv_tag", "long_value.lv_tag", "PyLongObject:long_value.lv_tag"),
                  own("ob_digit", "long_value.ob_digit", "PyLongObject:long_value.ob_digit", kFlexible)});
}

SectionSpec bytes_object() {
  return section(
      "bytes_object", "PyBytesObject",
      {size(), own("ob_size", "ob_base.ob_size"), own("ob_sval", "ob_sval", "PyBytesObject:ob_sval", kFlexible)});
}

SectionSpec unicode_object(bool v315) {
  std::vector<MemberSpec> m = {
      size(),
      // offsetof(PyUnicodeObject, _base._base.X): the PyASCIIObject header comes first.
      own("state", "_base._base.state", "PyASCIIObject:state"),
      own("length", "_base._base.length", "PyASCIIObject:length"),
      value("asciiobject_size", "sizeof(PyASCIIObject)", "unicode_object", "PyASCIIObject:"),
  };
  if (v315) {
    m.push_back(value("compactunicodeobject_size", "sizeof(PyCompactUnicodeObject)", "unicode_object",
                      "PyCompactUnicodeObject:"));
  }
  return section("unicode_object", "PyUnicodeObject", std::move(m));
}

SectionSpec gc(bool v315) {
  std::vector<MemberSpec> m = {size(), own("collecting", "collecting")};
  if (v315) {
    m.push_back(own("frame", "frame"));
    // The byte size of the generation-stats buffer gc points at; not bounded by the gc struct.
    m.push_back(value("generation_stats_size", "gc generation stats size", {}));
    m.push_back(own("generation_stats", "generation_stats"));
  }
  return section("gc", "struct _gc_runtime_state", std::move(m));
}

SectionSpec gen_object() {
  return section(
      "gen_object", "PyGenObject",
      {size(), own("gi_name", "gi_name"), own("gi_iframe", "gi_iframe"), own("gi_frame_state", "gi_frame_state")});
}

SectionSpec llist_node() {
  return section("llist_node", "struct llist_node",
                 {other("next", "struct llist_node", "next", {}), other("prev", "struct llist_node", "prev", {})});
}

// PEP 768 remote execution: offsets into the thread state, the interpreter and
// _PyRemoteDebuggerSupport (which has no size member).
SectionSpec debugger_support() {
  return section(
      "debugger_support", {},
      {
          other("eval_breaker", "PyThreadState", "eval_breaker", "thread_state"),
          other("remote_debugger_support", "PyThreadState", "remote_debugger_support", "thread_state"),
          other("remote_debugging_enabled", "PyInterpreterState", "config.remote_debug", "interpreter_state"),
          other("debugger_pending_call", "_PyRemoteDebuggerSupport", "debugger_pending_call", {}),
          other("debugger_script_path", "_PyRemoteDebuggerSupport", "debugger_script_path", {}),
          value("debugger_script_path_size", "MAX_SCRIPT_PATH_SIZE", {}),
      });
}

// 3.13.0rc2+: 15 sections, 70 members.
const BlockLayout& layout_313() {
  static const BlockLayout l = {runtime_state(),
                                interpreter_state(false),
                                thread_state(TstateKind::v313),
                                interpreter_frame(false),
                                code_object(false),
                                pyobject(),
                                type_object(false),
                                tuple_object(),
                                list_object(),
                                dict_object(),
                                float_object(),
                                long_object(),
                                bytes_object(),
                                unicode_object(false),
                                gc(false)};
  return l;
}

// 3.14.0b2+: 19 sections, 92 members. New: interpreter_state.threads_main/code_object_generation/
// tlbc_generation, interpreter_frame.stackpointer/tlbc_index, code_object.co_tlbc, and the
// set_object, gen_object, llist_node and debugger_support sections.
const BlockLayout& layout_314() {
  static const BlockLayout l = {runtime_state(),
                                interpreter_state(true),
                                thread_state(TstateKind::v313),
                                interpreter_frame(true),
                                code_object(true),
                                pyobject(),
                                type_object(false),
                                tuple_object(),
                                list_object(),
                                set_object(),
                                dict_object(),
                                float_object(),
                                long_object(),
                                bytes_object(),
                                unicode_object(false),
                                gc(false),
                                gen_object(),
                                llist_node(),
                                debugger_support()};
  return l;
}

// 3.15.0b1+: 21 sections. New against 3.14: thread_state gains 6 members (7 from b4), the
// err_stackitem and heap_type_object sections, type_object.tp_basicsize/tp_dictoffset,
// unicode_object.compactunicodeobject_size, gc.frame/generation_stats_size/generation_stats.
BlockLayout make_315(TstateKind tstate) {
  return {runtime_state(),
          interpreter_state(true),
          thread_state(tstate),
          err_stackitem(),
          interpreter_frame(true),
          code_object(true),
          pyobject(),
          type_object(true),
          heap_type_object(),
          tuple_object(),
          list_object(),
          set_object(),
          dict_object(),
          float_object(),
          long_object(),
          bytes_object(),
          unicode_object(true),
          gc(true),
          gen_object(),
          llist_node(),
          debugger_support()};
}

// 3.15.0b1-b3: 107 members, no thread_state.last_profiled_frame_seq.
const BlockLayout& layout_315_b1() {
  static const BlockLayout l = make_315(TstateKind::v315_b1);
  return l;
}

// 3.15.0b4+ (and the releases): 108 members.
const BlockLayout& layout_315() {
  static const BlockLayout l = make_315(TstateKind::v315);
  return l;
}

std::size_t block_size(const BlockLayout& l) {
  std::size_t n = kHeaderSize;
  for (const auto& s : l) n += 8 * s.members.size();
  return n;
}

// PY_VERSION_HEX: major << 24 | minor << 16 | micro << 8 | level << 4 | serial; level 0xA alpha,
// 0xB beta, 0xC release candidate, 0xF final.
std::string hex_version_text(uint32_t hex) {
  std::string s = version_from_hex(hex).text();
  unsigned level = (hex >> 4) & 0xf, serial = hex & 0xf;
  switch (level) {
    case 0xa: return fmt::format("{}a{}", s, serial);
    case 0xb: return fmt::format("{}b{}", s, serial);
    case 0xc: return fmt::format("{}rc{}", s, serial);
    case 0xf: return s;
    default: return fmt::format("{} (release level {:#x})", s, level);
  }
}

struct LayoutChoice {
  const BlockLayout* layout = nullptr;
  std::string why_not;  // when layout is null
};

// The block layout for one version. Releases, and x.y.0 pre-releases from the first one with the
// final layout on, are accepted; earlier pre-releases had other layouts and are refused, not guessed.
//
// A version newer than every one pyxray knows is read with the newest known layout, in case it did not
// change; validation (every offset inside its struct's declared size) refuses most blocks that did,
// and the user is told that the answers may be incomplete.
LayoutChoice choose_layout(uint32_t hex) {
  PyVersion v = version_from_hex(hex);
  if (newer_than_known(v)) return {&layout_315(), {}};
  if (v.major != 3 || v.minor < 13) {
    return {nullptr, fmt::format("version {:#010x} ({}) is not CPython 3.13 or later", hex, hex_version_text(hex))};
  }
  unsigned level = (hex >> 4) & 0xf;
  if (level != 0xa && level != 0xb && level != 0xc && level != 0xf) {
    return {nullptr, fmt::format("version {:#010x} has an unknown release level {:#x}", hex, level)};
  }
  // Micro releases never change the layout; only x.y.0 pre-releases can predate it.
  auto before = [&](uint32_t first_ok) { return ((hex >> 8) & 0xff) == 0 && hex < first_ok; };
  auto refuse = [&](uint32_t first_ok) {
    return LayoutChoice{nullptr, fmt::format("version {} is a pre-release whose _Py_DebugOffsets layout is not "
                                             "known ({} and later are)",
                                             hex_version_text(hex), hex_version_text(first_ok))};
  };
  switch (v.minor) {
    case 13:
      if (before(0x030d00c2)) return refuse(0x030d00c2);
      return {&layout_313(), {}};
    case 14:
      if (before(0x030e00b2)) return refuse(0x030e00b2);
      return {&layout_314(), {}};
    default:
      if (before(0x030f00b1)) return refuse(0x030f00b1);
      if (before(0x030f00b4)) return {&layout_315_b1(), {}};
      return {&layout_315(), {}};
  }
}

uint64_t read_u64le(std::span<const std::byte> bytes, std::size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

std::string printable(std::span<const std::byte> bytes) {
  std::string out;
  for (auto b : bytes) {
    auto c = static_cast<unsigned char>(b);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

}  // namespace

std::optional<std::size_t> debug_offsets_block_size(uint32_t version_hex) {
  auto choice = choose_layout(version_hex);
  if (!choice.layout) return std::nullopt;
  return block_size(*choice.layout);
}

Expected<DebugOffsets> parse_debug_offsets(std::span<const std::byte> bytes, uint64_t address,
                                           std::optional<PyVersion> expected) {
  auto bad = [&](const std::string& what) {
    return fail(fmt::format("_Py_DebugOffsets at {:#x} failed validation: {}", address, what));
  };
  if (bytes.size() < kHeaderSize) {
    return bad(fmt::format("only {} bytes were read, the header alone needs {}", bytes.size(), kHeaderSize));
  }
  auto cookie = bytes.first(kCookie.size());
  if (!std::equal(cookie.begin(), cookie.end(), kCookie.begin(),
                  [](std::byte b, char c) { return static_cast<char>(b) == c; })) {
    return bad(fmt::format("cookie is \"{}\", expected \"{}\"", printable(cookie), kCookie));
  }
  uint64_t version64 = read_u64le(bytes, 8);
  if (version64 > 0xffffffffu) return bad(fmt::format("version {:#x} is not a PY_VERSION_HEX", version64));
  auto hex = static_cast<uint32_t>(version64);
  auto choice = choose_layout(hex);
  if (!choice.layout) return bad(choice.why_not);
  PyVersion version = version_from_hex(hex);
  if (expected && (expected->major != version.major || expected->minor != version.minor)) {
    return bad(fmt::format("version {} does not match the target's Python {}.{}", hex_version_text(hex),
                           expected->major, expected->minor));
  }
  const BlockLayout& layout = *choice.layout;
  std::size_t need = block_size(layout);
  if (bytes.size() < need) {
    return bad(fmt::format("only {} bytes were read, the {}.{} block needs {}", bytes.size(), version.major,
                           version.minor, need));
  }
  uint64_t ft = read_u64le(bytes, 16);
  if (ft > 1) return bad(fmt::format("free_threaded is {}, expected 0 or 1", ft));

  // Read every member; check the sizes first so that offsets can be bounded by them.
  std::vector<std::vector<uint64_t>> values;
  std::map<std::string_view, uint64_t> sizes;  // section name -> declared struct size
  std::size_t at = kHeaderSize;
  for (const auto& s : layout) {
    auto& row = values.emplace_back();
    for (const auto& m : s.members) {
      uint64_t v = read_u64le(bytes, at);
      at += 8;
      row.push_back(v);
      if (m.kind != Kind::Size) continue;
      if (v == 0 || v > kMaxStructSize) {
        return bad(
            fmt::format("{} size {} is implausible (expected 1..{}) [{}.size]", s.ctype, v, kMaxStructSize, s.name));
      }
      sizes[s.name] = v;
    }
  }
  auto ctype_of = [&](std::string_view section) {
    for (const auto& s : layout)
      if (s.name == section) return s.ctype;
    return section;
  };

  DebugOffsets out;
  out.version = version;
  out.version_hex = hex;
  out.free_threaded = ft == 1;
  std::optional<uint64_t> gil_base;  // offsetof(PyInterpreterState, _gil)
  for (std::size_t si = 0; si < layout.size(); ++si) {
    const auto& s = layout[si];
    for (std::size_t mi = 0; mi < s.members.size(); ++mi) {
      const auto& m = s.members[mi];
      uint64_t v = values[si][mi];
      if (m.kind == Kind::Size) {
        out.offsets[fmt::format("{}:", s.ctype)] = static_cast<int64_t>(v);
        continue;
      }
      if ((m.flags & kFreeThreadedOnly) && !out.free_threaded && v == 0) continue;  // GIL-build placeholder
      std::string where = fmt::format("[{}.{}]", s.name, m.name);
      if (!m.bound.empty()) {
        uint64_t limit = sizes.at(m.bound);
        bool inside = (m.kind == Kind::Value || (m.flags & kFlexible)) ? (v <= limit) : (v < limit);
        if (!inside && m.kind == Kind::Value) {
          return bad(fmt::format("{} {} is larger than {} (size {}) {}", m.cpath, v, ctype_of(m.bound), limit, where));
        }
        if (!inside) {
          return bad(
              fmt::format("{}.{} offset {} is outside the struct (size {}) {}", m.ctype, m.cpath, v, limit, where));
        }
      } else if (v > kMaxStructSize) {
        if (m.kind == Kind::Value) {
          return bad(fmt::format("{} {} is implausible (expected at most {}) {}", m.cpath, v, kMaxStructSize, where));
        }
        return bad(fmt::format("{}.{} offset {} is implausible (expected at most {}) {}", m.ctype, m.cpath, v,
                               kMaxStructSize, where));
      }
      std::string debug_key = fmt::format("debug:{}.{}", s.name, m.name);
      if (m.name == "gil_runtime_state") gil_base = v;
      if (m.flags & kGilRelative) {
        // The block gives offsetof(PyInterpreterState, _gil.X); the layout key is the offset of X
        // inside struct _gil_runtime_state. Keep the raw value too.
        out.offsets[debug_key] = static_cast<int64_t>(v);
        if (!gil_base || v < *gil_base) {
          return bad(fmt::format("{}.{} offset {} lies before PyInterpreterState._gil ({}) {}", m.ctype, m.cpath, v,
                                 gil_base ? fmt::to_string(*gil_base) : std::string("missing"), where));
        }
        out.offsets[std::string(m.key)] = static_cast<int64_t>(v - *gil_base);
      } else if (m.key.empty()) {
        out.offsets[debug_key] = static_cast<int64_t>(v);
      } else {
        out.offsets[std::string(m.key)] = static_cast<int64_t>(v);
      }
    }
  }
  return out;
}

}  // namespace pyxray
