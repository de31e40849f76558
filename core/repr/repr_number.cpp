// Numbers: int of any size (3.x int, 2.7 int and long), bool, float.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "layout/layout.hpp"
#include "repr/repr_impl.hpp"
#include "target/memory.hpp"

namespace pyxray::repr_detail {

std::string format_float(double v) {
  if (std::isnan(v)) return "nan";  // Python drops the sign of a NaN
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, as Python's repr ('r' mode of PyOS_double_to_string) picks them.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  if (ec != std::errc()) return "nan";
  std::string_view s(buf, static_cast<std::size_t>(end - buf));
  std::string out;
  if (!s.empty() && s[0] == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  std::size_t e = s.find('e');
  std::string digits;
  for (char c : s.substr(0, e))
    if (c != '.') digits += c;
  int exp10 = 0;
  std::string_view exp_text = s.substr(e + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
  const int decpt = exp10 + 1;  // digits "12345", decpt 4: 1234.5
  const int ndigits = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {  // Python's switch to exponent notation for repr
    out += digits[0];
    if (ndigits > 1) out += '.' + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
  } else if (decpt <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
  } else if (decpt >= ndigits) {
    out += digits + std::string(static_cast<std::size_t>(decpt - ndigits), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<std::size_t>(decpt)) + '.' + digits.substr(static_cast<std::size_t>(decpt));
  }
  return out;
}

std::string digits_to_decimal(std::span<const uint32_t> digits, int shift) {
  // Base 2**shift to base 10**9, most significant digit first (as CPython's long_to_decimal_string).
  constexpr uint32_t kBase = 1'000'000'000;
  std::vector<uint32_t> limbs;  // little-endian, base 10**9
  for (std::size_t i = digits.size(); i-- > 0;) {
    uint64_t carry = digits[i];
    for (auto& limb : limbs) {
      uint64_t z = (static_cast<uint64_t>(limb) << shift) | carry;
      carry = z / kBase;
      limb = static_cast<uint32_t>(z - carry * kBase);
    }
    while (carry) {
      limbs.push_back(static_cast<uint32_t>(carry % kBase));
      carry /= kBase;
    }
  }
  if (limbs.empty()) return "0";
  std::string out = std::to_string(limbs.back());
  for (std::size_t i = limbs.size() - 1; i-- > 0;) out += fmt::format("{:09d}", limbs[i]);
  return out;
}

Engine::Result Engine::emit_long(uint64_t addr, bool suffix_l) {
  int64_t ndigits = 0;
  bool negative = false;
  uint64_t digits_addr = 0;
  if (L_.long_lv_tag != kAbsent) {  // 3.12+: lv_tag = ndigits << 3 | sign (0 positive, 1 zero, 2 negative)
    PYX_TRY(tag, mem_.read<uint64_t>(addr + L_.long_lv_tag));
    if ((tag & 3) == 3) return fail("int has an invalid sign");
    ndigits = static_cast<int64_t>(tag >> 3);
    negative = (tag & 3) == 2;
    digits_addr = addr + L_.long_value_ob_digit;
  } else {
    PYX_TRY(size, mem_.read<int64_t>(addr + L_.varobject_ob_size));
    negative = size < 0;
    if (size == INT64_MIN) return fail("int has a corrupt size");
    ndigits = negative ? -size : size;
    digits_addr = addr + L_.long_ob_digit;
  }
  const int width = L_.digit_size == 2 ? 2 : 4;
  const int shift = width == 2 ? 15 : 30;
  if (ndigits < 0) return fail("int has a negative digit count");
  if (ndigits > kMaxPlausibleDigits) return fail(fmt::format("int claims {} digits", ndigits));
  // Longer ints print as <int of N bits> (the int-digits limit): decimal conversion is quadratic.
  if (ndigits > limits().int_digits) {
    out_ += fmt::format("<int of {} bits at 0x{:x}>", ndigits * shift, addr);
    return {};
  }
  PYX_TRY(raw, mem_.read_bytes(digits_addr, static_cast<std::size_t>(ndigits * width)));
  std::vector<uint32_t> digits(static_cast<std::size_t>(ndigits));
  for (std::size_t i = 0; i < digits.size(); ++i) {
    std::memcpy(&digits[i], raw.data() + i * width, width);  // little-endian targets
    if (digits[i] >> shift) return fail("int has a digit out of range");
  }
  std::string text = digits_to_decimal(digits, shift);
  if (negative && text != "0") out_ += '-';
  out_ += text;
  if (suffix_l) out_ += 'L';
  return {};
}

Engine::Result Engine::emit_int27(uint64_t addr) {
  PYX_TRY(value, mem_.read<int64_t>(addr + L_.int27_ob_ival));
  out_ += std::to_string(value);
  return {};
}

Expected<bool> Engine::is_true(uint64_t bool_obj) {
  // bool is an int: 2.7 keeps ob_ival, 3.x a long whose size (or 3.12+ sign) says zero.
  if (dialect_.int_is_machine_word) {
    PYX_TRY(value, mem_.read<int64_t>(bool_obj + L_.int27_ob_ival));
    return value != 0;
  }
  if (L_.long_lv_tag != kAbsent) {
    PYX_TRY(tag, mem_.read<uint64_t>(bool_obj + L_.long_lv_tag));
    return (tag & 3) != 1;
  }
  PYX_TRY(size, mem_.read<int64_t>(bool_obj + L_.varobject_ob_size));
  return size != 0;
}

Engine::Result Engine::emit_bool(uint64_t addr) {
  PYX_TRY(value, is_true(addr));
  out_ += value ? "True" : "False";
  return {};
}

Engine::Result Engine::emit_float(uint64_t addr) {
  if (L_.float_ob_fval == kAbsent) return fail("no layout for float objects");
  PYX_TRY(value, mem_.read<double>(addr + L_.float_ob_fval));
  out_ += format_float(value);
  return {};
}

}  // namespace pyxray::repr_detail
