// Small helpers every integration test file shares: test-instance names and hex text.
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

}  // namespace pyxray::it
