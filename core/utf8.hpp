// UTF-8 encoding of code points decoded from str objects of any kind.
#pragma once

#include <cstdint>
#include <string>

namespace pyxray {

// Appends code point `cp` as UTF-8; values past U+10FFFF become U+FFFD.
void append_utf8(std::string& out, uint32_t cp);

}  // namespace pyxray
