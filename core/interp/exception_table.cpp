#include "interp/exception_table.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace pyxray {
namespace {

// Each number is big-endian in 6-bit groups, bit 6 set on every byte but the last; bit 7 marks the
// first byte of an entry, so it must be set exactly there.
class VarintReader {
 public:
  explicit VarintReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  bool done() const { return pos_ >= bytes_.size(); }
  std::size_t pos() const { return pos_; }

  Expected<int> next(bool entry_start) {
    int64_t value = 0;
    for (int groups = 0;; ++groups) {
      if (pos_ >= bytes_.size()) return fail(fmt::format("exception table ends inside a number at byte {}", pos_));
      // Five groups are 30 bits: more than any offset or depth of a real code object.
      if (groups == 5) return fail(fmt::format("exception table number too long at byte {}", pos_));
      const auto b = static_cast<unsigned>(bytes_[pos_]);
      const bool marked = (b & 0x80) != 0;
      if (marked != (entry_start && groups == 0))
        return fail(fmt::format("exception table entry boundary out of place at byte {}", pos_));
      ++pos_;
      value = (value << 6) | (b & 0x3f);
      if ((b & 0x40) == 0) return static_cast<int>(value);
    }
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

}  // namespace

Expected<std::vector<ExceptionHandler>> parse_exception_table(std::span<const std::byte> table, int code_units) {
  std::vector<ExceptionHandler> out;
  VarintReader r(table);
  int previous_end = 0;
  while (!r.done()) {
    const std::size_t at = r.pos();
    PYX_TRY(start, r.next(true));
    PYX_TRY(length, r.next(false));
    PYX_TRY(target, r.next(false));
    PYX_TRY(depth_lasti, r.next(false));
    ExceptionHandler h{start, start + length, target, depth_lasti >> 1, (depth_lasti & 1) != 0};
    if (length <= 0 || h.start < previous_end || h.end > code_units || h.target >= code_units)
      return fail(fmt::format("exception table entry at byte {} ({}..{} -> {}) does not fit a code of {} units", at,
                              h.start, h.end, h.target, code_units));
    previous_end = h.end;
    out.push_back(h);
  }
  return out;
}

const ExceptionHandler* handler_at(const std::vector<ExceptionHandler>& table, int index) {
  auto it =
      std::upper_bound(table.begin(), table.end(), index, [](int i, const ExceptionHandler& h) { return i < h.start; });
  if (it == table.begin()) return nullptr;
  --it;
  return index < it->end ? &*it : nullptr;
}

}  // namespace pyxray
