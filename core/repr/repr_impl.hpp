// Internals of safe_repr (repr.hpp), shared by its per-family files: repr.cpp (dispatch, validation,
// containers), repr_text.cpp (str/bytes), repr_number.cpp (int/float), repr_named.cpp (types, modules,
// functions, code, instances) and repr_printable.cpp (str.isprintable() per version).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "base/limits.hpp"
#include "base/utf8.hpp"
#include "layout/version_traits.hpp"
#include "repr/repr.hpp"

namespace pyxray {

class Memory;
struct Layout;

namespace repr_detail {

// Longest name (qualname, module name, file name) read for a type/function/module/code repr.
inline std::size_t max_name() { return static_cast<std::size_t>(limits().name_length); }
// More elements than this in a tuple/list/set table means the object is corrupt, not big.
inline constexpr int64_t kMaxElements = int64_t{1} << 40;
// No int has this many digits (16 TiB of them): a larger count is corrupt, not big.
inline constexpr int64_t kMaxPlausibleDigits = int64_t{1} << 42;
// Metaclass chain followed to decide that a type is a type (type(type(type(obj)))...).
inline constexpr int kMaxMetaclassDepth = 4;

// --- pure formatting: no target memory involved ---

// Python's float repr ('r' format, shortest round trip): 1.0, 1e+16, 1e-05, -0.0, inf, nan.
std::string format_float(double v);
// Decimal text of |value| given its little-endian digits of `shift` bits each.
std::string digits_to_decimal(std::span<const uint32_t> digits, int shift);
// str.isprintable() for one code point in CPython 3.<minor>.
bool is_printable(uint32_t cp, int minor);
// repr of a 3.x str from its code points (quotes and escapes per the version's Unicode database).
void append_str_repr(std::string& out, std::span<const uint32_t> cps, int minor);
// repr of a 2.7 unicode: u'...', every non-ASCII code point escaped; a narrow (UCS-2) build joins
// surrogate pairs.
void append_unicode27_repr(std::string& out, std::span<const uint32_t> cps, bool narrow);
// repr of bytes (3.x, prefix "b") or a 2.7 str (prefix ""). bytearray's repr escapes every ', even
// inside double quotes (`escape_single_quote`: bytearray up to 3.14).
void append_bytes_repr(std::string& out, std::span<const std::byte> bytes, std::string_view prefix,
                       bool escape_single_quote = false);
// Replaces bytes that are not UTF-8 (a corrupt type name, say) so the text is safe to hand on.
using pyxray::sanitize_utf8;

enum class Kind : uint8_t {
  Other,  // anything not below: <tp_name object at 0x...>
  None,
  NotImplemented,
  Ellipsis,
  Bool,
  Int,
  Int27,
  Long27,
  Float,
  Str,
  Str27,
  Unicode27,
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
  Method,
  BuiltinFunction,
  Object,  // object.__repr__: <module.Qualname object at 0x...>, or with the instance's
           // attributes <module.Qualname(a=1, b=[]) at 0x...> (as CPython's libpython.py)
  Class27,
  Instance27,  // 2.7 old-style classes and their instances
};

// Marks a container as being printed for as long as it is in scope (cycle detection).
class ActiveGuard {
 public:
  ActiveGuard(std::vector<uint64_t>& active, uint64_t addr) : active_(active) { active_.push_back(addr); }
  ~ActiveGuard() { active_.pop_back(); }
  ActiveGuard(const ActiveGuard&) = delete;
  ActiveGuard& operator=(const ActiveGuard&) = delete;

 private:
  std::vector<uint64_t>& active_;
};

class Engine {
 public:
  Engine(PythonProcess& proc, Objects& objects, const ReprLimits& limits);
  std::string render(uint64_t addr);
  Expected<uint64_t> validate(uint64_t addr);

 private:
  struct TypeInfo {
    Kind kind = Kind::Other;
    bool exact = false;  // the builtin type itself, not a subclass of it
  };
  struct TypeNames {
    std::optional<std::string> module;  // __module__ (heap types) or the tp_name prefix
    std::string name;                   // qualname (3.x) / __name__ (2.7)
    std::string tp_name;
  };
  using Result = Expected<void>;

  void emit(uint64_t addr, int depth);
  Result emit_kind(uint64_t addr, uint64_t type, TypeInfo info, int depth);
  void build_type_tables();
  TypeInfo classify(uint64_t type);
  bool out_of_budget();
  bool is_heap_type(uint64_t type);
  std::optional<std::string> implausible_type(uint64_t type);  // why `type` is no type, if it is not
  Expected<bool> is_true(uint64_t bool_obj);

  // repr_number.cpp
  Result emit_long(uint64_t addr, bool suffix_l);
  Result emit_int27(uint64_t addr);
  Result emit_bool(uint64_t addr);
  Result emit_float(uint64_t addr);

  // repr_text.cpp
  Expected<std::vector<uint32_t>> read_code_points(uint64_t addr, std::size_t max, bool* truncated);
  Expected<std::vector<uint32_t>> read_code_points27(uint64_t addr, std::size_t max, bool* truncated);
  Expected<std::vector<std::byte>> read_byte_string(uint64_t addr, std::size_t max, bool* truncated);
  Result emit_str(uint64_t addr);
  Result emit_unicode27(uint64_t addr);
  Result emit_bytes(uint64_t addr, std::string_view prefix);
  Result emit_bytearray(uint64_t addr, uint64_t type);
  // Plain UTF-8 text of a str (2.7: str or unicode), cut at `max` code points: for names.
  Expected<std::string> plain_text(uint64_t addr, std::size_t max = max_name());

  // repr.cpp: containers
  Result emit_sequence(uint64_t addr, bool tuple, int depth);
  using Items = std::vector<std::pair<uint64_t, uint64_t>>;
  Result emit_dict(uint64_t addr, int depth);
  Result emit_set(uint64_t addr, uint64_t type, Kind kind, bool exact, int depth);
  Expected<std::vector<uint64_t>> set_keys(uint64_t addr, std::size_t max, bool* more);
  bool is_set_dummy(uint64_t key);

  // repr_named.cpp
  Expected<TypeNames> type_names(uint64_t type);
  Result emit_type(uint64_t type);
  Result emit_object(uint64_t addr, uint64_t type, int depth);
  bool emit_instance(uint64_t addr, const std::string& name, int depth);
  Result emit_module(uint64_t addr, int depth);
  std::optional<std::string> loader_module_repr(uint64_t loader);
  Result emit_function(uint64_t addr);
  Result emit_code(uint64_t addr);
  Result emit_method(uint64_t addr, int depth);
  Result emit_builtin_function(uint64_t addr);
  Result emit_class27(uint64_t addr);
  Result emit_instance27(uint64_t addr);
  Expected<std::optional<uint64_t>> dict_str_value(uint64_t dict, std::string_view key);
  Expected<bool> is_none(uint64_t addr);

  PythonProcess& proc_;
  Objects& objects_;
  Memory& mem_;
  const Layout& L_;
  ReprLimits limits_;
  const VersionTraits& dialect_;  // how the target's Python spells reprs (version_traits.hpp)
  std::string out_;
  bool cut_ = false;                                    // the output budget ran out
  std::vector<uint64_t> active_;                        // containers being printed, outermost first: cycle detection
  std::vector<std::pair<uint64_t, Kind>> exact_types_;  // builtin type address -> kind
  std::vector<std::pair<uint64_t, Kind>> repr_funcs_;   // builtin tp_repr -> kind (for subclasses)
  uint64_t type_type_ = 0;                              // PyType_Type
  std::optional<uint64_t> set_dummy_;
};

}  // namespace repr_detail
}  // namespace pyxray
