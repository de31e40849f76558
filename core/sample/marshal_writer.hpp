// Python's marshal format (CPython's Python/marshal.c), the few types a pstats file holds: ints,
// floats, str, tuples and dicts. Written as marshal version 2 writes them ('u' str, '(' tuple, 'g'
// binary float), which every Python 3 reads (and Python 2.7 too); no references, so the reader
// needs no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pyxray {

class MarshalWriter {
 public:
  void integer(int64_t v);
  void real(double v);
  // A str; bytes that are not UTF-8 become U+FFFD (marshal's reader refuses them).
  void text(std::string_view utf8);
  // A tuple of the next `n` values written.
  void tuple(uint32_t n);
  // A dict: dict_begin, then key and value pairs, then dict_end.
  void dict_begin() { out_.push_back('{'); }
  void dict_end() { out_.push_back('0'); }
  const std::string& bytes() const { return out_; }

 private:
  void le32(uint32_t v);
  std::string out_;
};

}  // namespace pyxray
