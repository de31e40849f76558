// Test-instance names for the unit tests parameterised on a build's PY_VERSION_HEX.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace pyxray {

// "py3_13" (a default build), "py3_13t" (its free-threaded build).
inline std::string version_name(const testing::TestParamInfo<uint32_t>& info) {
  return fmt::format("py3_{}", (info.param >> 16) & 0xff);
}
inline std::string free_threaded_version_name(const testing::TestParamInfo<uint32_t>& info) {
  return version_name(info) + "t";
}

}  // namespace pyxray
