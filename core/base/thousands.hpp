// Numbers for people: 1234567 -> "1,234,567" (as sys._debugmallocstats() prints them).
#pragma once

#include <cstdint>
#include <string>

namespace pyxray {

std::string thousands(uint64_t v);

}  // namespace pyxray
