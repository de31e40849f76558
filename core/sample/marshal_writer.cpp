#include "sample/marshal_writer.hpp"

#include <cstring>
#include <limits>

#include "base/utf8.hpp"

namespace pyxray {

void MarshalWriter::le32(uint32_t v) {
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void MarshalWriter::integer(int64_t v) {
  if (v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max()) {
    out_.push_back('i');  // TYPE_INT: 4 bytes, little-endian, two's complement
    le32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    return;
  }
  // TYPE_LONG: the count of 15-bit digits (negative for a negative number), then the digits of the
  // magnitude, least significant first, 2 bytes each.
  uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string digits;
  int32_t n = 0;
  for (; magnitude; magnitude >>= 15, ++n) {
    digits.push_back(static_cast<char>(magnitude & 0xff));
    digits.push_back(static_cast<char>((magnitude >> 8) & 0x7f));
  }
  out_.push_back('l');
  le32(static_cast<uint32_t>(v < 0 ? -n : n));
  out_ += digits;
}

void MarshalWriter::real(double v) {
  out_.push_back('g');  // TYPE_BINARY_FLOAT: the IEEE 754 double, little-endian
  uint64_t bits = 0;
  static_assert(sizeof bits == sizeof v);
  std::memcpy(&bits, &v, sizeof bits);
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void MarshalWriter::text(std::string_view utf8) {
  const std::string clean = sanitize_utf8(utf8);
  out_.push_back('u');  // TYPE_UNICODE: a 4-byte length, then UTF-8
  le32(static_cast<uint32_t>(clean.size()));
  out_ += clean;
}

void MarshalWriter::tuple(uint32_t n) {
  out_.push_back('(');  // TYPE_TUPLE: a 4-byte count, then the items
  le32(n);
}

}  // namespace pyxray
