// Text: 3.x str (every kind), 2.7 str and unicode, bytes, bytearray; Python's quoting and escaping.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/layout.hpp"
#include "repr/repr_impl.hpp"
#include "target/memory.hpp"

namespace pyxray::repr_detail {
namespace {

// Python prefers single quotes, and uses double quotes only for text with ' but no ".
template <class Seq>
char pick_quote(const Seq& seq) {
  bool single = false, dbl = false;
  for (auto c : seq) {
    single = single || c == '\'';
    dbl = dbl || c == '"';
  }
  return single && !dbl ? '"' : '\'';
}

void append_escape(std::string& out, char letter, uint32_t value, int hex_digits) {
  out += '\\';
  out += letter;
  out += fmt::format("{:0{}x}", value, hex_digits);
}

// The escapes every repr shares: quote and backslash, \t \n \r. True when `c` was handled.
bool append_common_escape(std::string& out, uint32_t c, char quote) {
  switch (c) {
    case '\t': out += "\\t"; return true;
    case '\n': out += "\\n"; return true;
    case '\r': out += "\\r"; return true;
    case '\\': out += "\\\\"; return true;
  }
  if (c == static_cast<unsigned char>(quote)) {
    out += '\\';
    out += quote;
    return true;
  }
  return false;
}

}  // namespace

void append_str_repr(std::string& out, std::span<const uint32_t> cps, int minor) {
  const char quote = pick_quote(cps);
  out += quote;
  for (uint32_t c : cps) {
    if (append_common_escape(out, c, quote)) continue;
    if (c < 0x20 || c == 0x7f) {
      append_escape(out, 'x', c, 2);
    } else if (c < 0x7f) {
      out += static_cast<char>(c);
    } else if (is_printable(c, minor)) {
      append_utf8(out, c);
    } else if (c <= 0xff) {
      append_escape(out, 'x', c, 2);
    } else if (c <= 0xffff) {
      append_escape(out, 'u', c, 4);
    } else {
      append_escape(out, 'U', c, 8);
    }
  }
  out += quote;
}

void append_unicode27_repr(std::string& out, std::span<const uint32_t> cps, bool narrow) {
  const char quote = pick_quote(cps);
  out += 'u';
  out += quote;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    uint32_t c = cps[i];
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x10000) {
      append_escape(out, 'U', c, 8);
    } else if (narrow && c >= 0xd800 && c < 0xdc00 && i + 1 < cps.size() && cps[i + 1] >= 0xdc00 &&
               cps[i + 1] <= 0xdfff) {
      // A narrow (UCS-2) build joins a surrogate pair into one \U escape.
      append_escape(out, 'U', (((c & 0x3ff) << 10) | (cps[i + 1] & 0x3ff)) + 0x10000, 8);
      ++i;
    } else if (c >= 0x100) {
      append_escape(out, 'u', c, 4);
    } else if (append_common_escape(out, c, quote)) {
    } else if (c < 0x20 || c >= 0x7f) {
      append_escape(out, 'x', c, 2);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
}

void append_bytes_repr(std::string& out, std::span<const std::byte> bytes, std::string_view prefix,
                       bool escape_single_quote) {
  std::string_view chars(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const char quote = pick_quote(chars);
  out += prefix;
  out += quote;
  for (unsigned char c : chars) {
    if (escape_single_quote && c == '\'') {
      out += "\\'";
      continue;
    }
    if (append_common_escape(out, c, quote)) continue;
    if (c < 0x20 || c >= 0x7f) {
      append_escape(out, 'x', c, 2);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
}

Expected<std::vector<uint32_t>> Engine::read_code_points(uint64_t addr, std::size_t max, bool* truncated) {
  PYX_TRY(length, mem_.read<int64_t>(addr + L_.ascii_length));
  PYX_TRY(state, mem_.read<uint32_t>(addr + L_.ascii_state));
  if (length < 0 || length > kMaxElements) return fail(fmt::format("str length {} is corrupt", length));
  const auto [kind, compact, ascii] = str_state(state, proc_.traits().unicode_kind_shift);
  if (kind != 1 && kind != 2 && kind != 4) return fail(fmt::format("str kind {} is invalid", kind));
  uint64_t data = addr + (ascii ? L_.ascii_size : L_.compact_unicode_size);
  if (!compact) {
    PYX_TRY(ptr, mem_.read_ptr(addr + L_.unicode_data));
    data = ptr;
  }
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(length), max);
  *truncated = n < static_cast<std::size_t>(length);
  if (n > 0 && data == 0) return fail("str has no data (a legacy string not made ready)");
  PYX_TRY(raw, mem_.read_bytes(data, n * kind));
  std::vector<uint32_t> cps(n);
  for (std::size_t i = 0; i < n; ++i) std::memcpy(&cps[i], raw.data() + i * kind, kind);  // little-endian
  return cps;
}

Expected<std::vector<uint32_t>> Engine::read_code_points27(uint64_t addr, std::size_t max, bool* truncated) {
  PYX_TRY(length, mem_.read<int64_t>(addr + L_.unicode27_length));
  PYX_TRY(data, mem_.read_ptr(addr + L_.unicode27_str));
  if (length < 0 || length > kMaxElements) return fail(fmt::format("unicode length {} is corrupt", length));
  const int width = L_.py_unicode_size == 2 ? 2 : 4;
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(length), max);
  *truncated = n < static_cast<std::size_t>(length);
  PYX_TRY(raw, mem_.read_bytes(data, n * width));
  std::vector<uint32_t> cps(n);
  for (std::size_t i = 0; i < n; ++i) std::memcpy(&cps[i], raw.data() + i * width, width);
  return cps;
}

Expected<std::vector<std::byte>> Engine::read_byte_string(uint64_t addr, std::size_t max, bool* truncated) {
  PYX_TRY(size, mem_.read<int64_t>(addr + L_.varobject_ob_size));
  if (size < 0 || size > kMaxElements) return fail(fmt::format("size {} is corrupt", size));
  const int64_t sval = dialect_.str_is_bytes ? L_.string27_ob_sval : L_.bytes_ob_sval;
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(size), max);
  *truncated = n < static_cast<std::size_t>(size);
  return mem_.read_bytes(addr + sval, n);
}

Engine::Result Engine::emit_str(uint64_t addr) {
  bool truncated = false;
  PYX_TRY(cps, read_code_points(addr, limits_.max_string, &truncated));
  append_str_repr(out_, cps, dialect_.unicode_db_minor);
  if (truncated) out_ += "...";
  return {};
}

Engine::Result Engine::emit_unicode27(uint64_t addr) {
  bool truncated = false;
  PYX_TRY(cps, read_code_points27(addr, limits_.max_string, &truncated));
  append_unicode27_repr(out_, cps, L_.py_unicode_size == 2);
  if (truncated) out_ += "...";
  return {};
}

Engine::Result Engine::emit_bytes(uint64_t addr, std::string_view prefix) {
  bool truncated = false;
  PYX_TRY(bytes, read_byte_string(addr, limits_.max_string, &truncated));
  append_bytes_repr(out_, bytes, prefix);
  if (truncated) out_ += "...";
  return {};
}

Engine::Result Engine::emit_bytearray(uint64_t addr, uint64_t type) {
  // 3.x reads from ob_start (the live part of the buffer); 2.7 has only ob_bytes.
  const int64_t data_field = L_.bytearray_ob_start != kAbsent ? L_.bytearray_ob_start : L_.bytearray_ob_bytes;
  if (data_field == kAbsent) return fail("no layout for bytearray objects");
  PYX_TRY(size, mem_.read<int64_t>(addr + L_.varobject_ob_size));
  PYX_TRY(data, mem_.read_ptr(addr + data_field));
  if (size < 0 || size > kMaxElements) return fail(fmt::format("size {} is corrupt", size));
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(size), limits_.max_string);
  std::vector<std::byte> bytes;
  if (n > 0) {
    PYX_TRY(raw, mem_.read_bytes(data, n));
    bytes = std::move(raw);
  }
  std::string name = "bytearray";
  if (dialect_.bytearray_subclass_name) {  // _PyType_Name: tp_name after its last dot
    PYX_TRY(tp_name, objects_.type_name_of_type(type));
    name = tp_name.substr(tp_name.rfind('.') + 1);
  }
  out_ += name + "(";
  append_bytes_repr(out_, bytes, "b", /*escape_single_quote=*/dialect_.bytearray_escapes_quote);
  if (n < static_cast<std::size_t>(size)) out_ += "...";
  out_ += ')';
  return {};
}

Expected<std::string> Engine::plain_text(uint64_t addr, std::size_t max) {
  PYX_TRY(type, objects_.type_of(addr));
  const Kind kind = classify(type).kind;
  bool truncated = false;
  std::string out;
  if (kind == Kind::Str || kind == Kind::Unicode27) {
    auto cps = kind == Kind::Str ? read_code_points(addr, max, &truncated) : read_code_points27(addr, max, &truncated);
    if (!cps) return Unexpected<Error>{cps.error()};
    for (uint32_t c : *cps) append_utf8(out, c);
    return out;
  }
  if (kind == Kind::Str27) {
    PYX_TRY(bytes, read_byte_string(addr, max, &truncated));
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return fail(fmt::format("0x{:x} is not a str", addr));
}

}  // namespace pyxray::repr_detail
