#include "interp/code.hpp"

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"

namespace pyxray {

std::optional<int> CodeInfo::line_at(int byte_offset) const {
  // Before the first instruction (a frame that has not started yet) CPython reports co_firstlineno.
  if (byte_offset < 0) return first_line;
  if (line_table_cut_from) return std::nullopt;
  return line_for_offset(format, line_table, first_line, byte_offset);
}

std::optional<std::string> CodeInfo::line_warning() const {
  if (!line_table_cut_from) return std::nullopt;
  return fmt::format("no lines for {} ({}): its line table of {} bytes is longer than the line-table limit ({})",
                     qualname.value_or(name), filename, *line_table_cut_from, raise_hint("line-table"));
}

Expected<uint64_t> bytecode_start(Memory& m, const Layout& L, uint64_t code, uint64_t code_start, int64_t tlbc_index) {
  if (tlbc_index == 0 || L.code_co_tlbc == kAbsent || L.codearray_entries == kAbsent) return code_start;
  if (tlbc_index < 0)
    return fail(
        fmt::format("a frame of code object 0x{:x} has a negative thread-local bytecode index {}", code, tlbc_index));
  PYX_TRY(array, m.read_ptr(code + L.code_co_tlbc));
  if (array == 0) return fail(fmt::format("code object 0x{:x} has no thread-local bytecode (co_tlbc is NULL)", code));
  if (L.codearray_size != kAbsent) {
    PYX_TRY(size, m.read<int64_t>(array + L.codearray_size));
    if (tlbc_index >= size)
      return fail(fmt::format("thread-local bytecode index {} is past the {} copies of code object 0x{:x}", tlbc_index,
                              size, code));
  }
  PYX_TRY(copy, m.read_ptr(array + L.codearray_entries + 8 * static_cast<uint64_t>(tlbc_index)));
  if (copy == 0) return fail(fmt::format("code object 0x{:x} has no thread-local bytecode copy {}", code, tlbc_index));
  return copy;
}

Expected<const CodeInfo*> CodeCache::get(uint64_t code) {
  if (auto it = cache_.find(code); it != cache_.end()) return static_cast<const CodeInfo*>(it->second.get());
  PYX_TRY(info, decode(code));
  auto& slot = cache_[code];
  slot = std::make_unique<CodeInfo>(std::move(info));
  return static_cast<const CodeInfo*>(slot.get());
}

Expected<CodeInfo> CodeCache::decode(uint64_t code) {
  const Layout& L = proc_.layout();
  Memory& m = proc_.mem();
  PYX_TRY(type, objects_.type_name(code));
  if (type != "code") return fail(fmt::format("0x{:x} is a {}, not a code object", code, type));
  CodeInfo info;
  PYX_TRY(name, m.read_ptr(code + L.code_co_name));
  PYX_TRY(filename, m.read_ptr(code + L.code_co_filename));
  const auto max_name = static_cast<std::size_t>(limits().name_length);
  PYX_TRY(name_text, objects_.read_text(name, max_name));
  PYX_TRY(file_text, objects_.read_text(filename, static_cast<std::size_t>(limits().filename_length)));
  info.name = std::move(name_text);
  info.filename = std::move(file_text);
  PYX_TRY(first_line, m.read<int32_t>(code + L.code_co_firstlineno));
  info.first_line = first_line;
  if (L.code_co_qualname != kAbsent) {
    if (auto q = m.read_ptr(code + L.code_co_qualname); q && *q) {
      if (auto text = objects_.read_text(*q, max_name)) info.qualname = std::move(*text);
    }
  }
  const PyVersion& v = proc_.version();
  info.format = line_table_format(v.major, v.minor);
  int64_t table_off = L.code_co_linetable != kAbsent ? L.code_co_linetable : L.code_co_lnotab;
  PYX_TRY(table, m.read_ptr(code + table_off));
  const auto max_table = static_cast<std::size_t>(limits().line_table);
  PYX_TRY(table_bytes, objects_.read_bytes_value(table, max_table + 1));
  if (table_bytes.size() > max_table) {
    PYX_TRY(size, m.read<int64_t>(table + L.varobject_ob_size));
    info.line_table_cut_from = static_cast<std::size_t>(size);
  } else {
    info.line_table = std::move(table_bytes);
  }
  if (L.code_co_code_adaptive != kAbsent) {
    info.code_start = code + L.code_co_code_adaptive;
    if (L.code_co_firsttraceable != kAbsent)
      info.first_traceable = m.read<int32_t>(code + L.code_co_firsttraceable).value_or(0);
  }
  return info;
}

}  // namespace pyxray
