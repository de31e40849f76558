// Small helpers every integration test file shares: test-instance names, hex and grouped numbers.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "variants.hpp"

namespace pyxray::it {

// The test-instance name of a variant ("py3_11_7_stripped").
inline std::string variant_name(const testing::TestParamInfo<Variant>& info) { return info.param.name; }

// 0x-prefixed lowercase hex, as pyxray's JSON writes addresses.
inline std::string hex(uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// 1234567 -> "1,234,567", as pyxray prints counts and sizes.
inline std::string grouped_number(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string s;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

}  // namespace pyxray::it
