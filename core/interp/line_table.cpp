// Line-table decoders. Each one mirrors what PyCode_Addr2Line (Objects/codeobject.c) computes for its
// CPython versions; the notes on each function say which details of CPython they reproduce and why.
//
// Line arithmetic is done modulo 2^32 (std::uint32_t) and converted to int at the end: CPython keeps
// the running line in a C int, so on hand-made or corrupt tables this reproduces its (wrapping)
// result instead of invoking undefined behaviour. Byte offsets are tracked in 64 bits; real code
// objects are far below 2^31 bytes, so no CPython behaviour is lost there.
#include "interp/line_table.hpp"

#include <cstdint>

namespace pyxray {
namespace {

std::uint8_t byte_at(std::span<const std::byte> table, std::size_t index) {
  return std::to_integer<std::uint8_t>(table[index]);
}

int as_int(std::uint32_t wrapped_line) { return static_cast<int>(wrapped_line); }

// 3.10+: PyCode_Addr2Line's -1 is "no line", and frame.f_lineno (and co_lines() on 3.10/3.11) turns
// every negative line into None, so no negative line is ever reported.
std::optional<int> reported_line(std::uint32_t wrapped_line) {
  int line = as_int(wrapped_line);
  if (line < 0) return std::nullopt;
  return line;
}

// <=3.9 co_lnotab: (unsigned byte increment, line increment) pairs; the line at `offset` is the sum
// of the line increments of all pairs whose cumulative byte offset is <= `offset`. The increment is
// an unsigned byte before 3.6 and a signed one from 3.6 on. A trailing odd byte is ignored (CPython
// iterates size / 2 pairs). A negative offset never gets past the first pair, so it reports
// first_line, as CPython does; an offset past the end reports the last line, as CPython does.
std::optional<int> lnotab_line(std::span<const std::byte> table, int first_line, int offset, bool signed_increments) {
  std::uint32_t line = static_cast<std::uint32_t>(first_line);
  std::int64_t address = 0;
  for (std::size_t i = 0; i + 1 < table.size(); i += 2) {
    address += byte_at(table, i);
    if (address > offset) break;
    std::uint8_t increment = byte_at(table, i + 1);
    line += signed_increments ? static_cast<std::uint32_t>(static_cast<std::int8_t>(increment))
                              : static_cast<std::uint32_t>(increment);
  }
  return as_int(line);
}

// 3.10 co_linetable: (unsigned byte length, signed line delta) pairs, each describing the range that
// follows the previous one. A delta of -128 marks a range with no line and leaves the running line
// untouched. Zero-length pairs only carry line deltas too large for one byte; they never contain an
// offset, and the range that does takes the line of its own (last) pair, as
// PyLineTable_NextAddressRange does. A trailing odd byte is never read (CPython never would, on a
// well-formed table).
std::optional<int> linetable310_line(std::span<const std::byte> table, int first_line, int offset) {
  constexpr std::int8_t kNoLine = -128;
  std::uint32_t line = static_cast<std::uint32_t>(first_line);
  std::int64_t range_end = 0;
  for (std::size_t i = 0; i + 1 < table.size(); i += 2) {
    range_end += byte_at(table, i);
    auto delta = static_cast<std::int8_t>(byte_at(table, i + 1));
    bool has_line = delta != kNoLine;
    if (has_line) line += static_cast<std::uint32_t>(delta);
    if (offset < range_end) return has_line ? reported_line(line) : std::nullopt;
  }
  return std::nullopt;  // past the last range: _PyCode_CheckLineNumber returns -1
}

// --- 3.11+ location table ---------------------------------------------------------------------
// Each entry starts with a byte 1kkkklll: kind k (0-9 short form, 10-12 one-line form with line delta
// k - 10, 13 no columns, 14 long form, 15 no location) and length l + 1 code units. Kinds 13 and 14
// follow it with a signed varint line delta; columns (which we do not need) come after.

constexpr int kKindNoColumns = 13;
constexpr int kKindLong = 14;
constexpr int kKindOneLine0 = 10;
constexpr int kKindOneLine2 = 12;
// Six 6-bit chunks hold any 32-bit value, the most CPython's `unsigned int` varints ever carry.
constexpr int kMaxVarintChunks = 6;

// Unsigned varint: 6-bit chunks, least significant first, bit 6 set on every chunk but the last.
// Like CPython it reads on past the entry's end if the chunks say so, but never past the table, and
// gives up (nullopt) where CPython would shift an unsigned int by 32 or more bits.
std::optional<std::uint32_t> read_varint(std::span<const std::byte> table, std::size_t pos) {
  std::uint32_t value = 0;
  for (int chunk = 0; chunk < kMaxVarintChunks; ++chunk, ++pos) {
    if (pos >= table.size()) return std::nullopt;
    std::uint8_t byte = byte_at(table, pos);
    value |= static_cast<std::uint32_t>(byte & 63) << (6 * chunk);
    if ((byte & 64) == 0) return value;
  }
  return std::nullopt;
}

// Signed varint: the sign is the lowest bit of the unsigned value, the magnitude the rest.
std::optional<std::uint32_t> read_signed_varint(std::span<const std::byte> table, std::size_t pos) {
  auto raw = read_varint(table, pos);
  if (!raw) return std::nullopt;
  std::uint32_t magnitude = *raw >> 1;
  return (*raw & 1) ? 0u - magnitude : magnitude;
}

// Line delta of the entry whose first byte is at `pos` (get_line_delta in codeobject.c).
std::optional<std::uint32_t> entry_line_delta(std::span<const std::byte> table, std::size_t pos) {
  int kind = (byte_at(table, pos) >> 3) & 15;
  if (kind == kKindNoColumns || kind == kKindLong) return read_signed_varint(table, pos + 1);
  if (kind >= kKindOneLine0 && kind <= kKindOneLine2) return static_cast<std::uint32_t>(kind - kKindOneLine0);
  return 0u;  // short forms and "no location" keep the line
}

// CPython tests the whole first byte (1 1111 lll), so a corrupt entry lacking bit 7 still has a line.
bool is_no_location_entry(std::uint8_t first_byte) { return (first_byte >> 3) == 0x1f; }

// The next entry starts at the next byte with bit 7 set (advance() in codeobject.c).
std::size_t next_entry(std::span<const std::byte> table, std::size_t pos) {
  ++pos;
  while (pos < table.size() && (byte_at(table, pos) & 0x80) == 0) ++pos;
  return pos;
}

std::optional<int> locations311_line(std::span<const std::byte> table, int first_line, int offset) {
  constexpr int kCodeUnitBytes = 2;
  std::uint32_t line = static_cast<std::uint32_t>(first_line);
  std::int64_t range_end = 0;
  for (std::size_t pos = 0; pos < table.size(); pos = next_entry(table, pos)) {
    std::uint8_t first_byte = byte_at(table, pos);
    auto delta = entry_line_delta(table, pos);
    if (!delta) return std::nullopt;  // truncated or oversized varint: the rest is unknowable
    line += *delta;
    range_end += ((first_byte & 7) + 1) * kCodeUnitBytes;
    if (offset < range_end) return is_no_location_entry(first_byte) ? std::nullopt : reported_line(line);
  }
  return std::nullopt;  // past the last entry: _PyCode_CheckLineNumber returns -1
}

}  // namespace

std::optional<int> line_for_offset(LineTableFormat format, std::span<const std::byte> table, int first_line,
                                   int byte_offset) {
  switch (format) {
    case LineTableFormat::Lnotab27: return lnotab_line(table, first_line, byte_offset, /*signed_increments=*/false);
    case LineTableFormat::Lnotab36: return lnotab_line(table, first_line, byte_offset, /*signed_increments=*/true);
    case LineTableFormat::Linetable310:
      // PyCode_Addr2Line answers co_firstlineno for a negative offset (f_lasti == -1, not started).
      if (byte_offset < 0) return reported_line(static_cast<std::uint32_t>(first_line));
      return linetable310_line(table, first_line, byte_offset);
    case LineTableFormat::Locations311:
      if (byte_offset < 0) return reported_line(static_cast<std::uint32_t>(first_line));
      return locations311_line(table, first_line, byte_offset);
  }
  return std::nullopt;  // an out-of-range enum value
}

LineTableFormat line_table_format(int major, int minor) {
  if (major < 3) return LineTableFormat::Lnotab27;
  if (major > 3) return LineTableFormat::Locations311;
  if (minor < 6) return LineTableFormat::Lnotab27;  // signed line increments arrived in 3.6
  if (minor < 10) return LineTableFormat::Lnotab36;
  if (minor == 10) return LineTableFormat::Linetable310;
  return LineTableFormat::Locations311;
}

}  // namespace pyxray
