// UTF-8 encoding of code points decoded from str objects of any kind.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pyxray {

// Appends code point `cp` as UTF-8; values past U+10FFFF become U+FFFD.
void append_utf8(std::string& out, uint32_t cp);

// `in` with every byte that is not part of valid UTF-8 (overlong forms, surrogates and values past
// U+10FFFF included) replaced by U+FFFD: text from the target (a corrupt name, a str holding a lone
// surrogate) made safe to hand on, e.g. to the debugger's Python, whose decoder refuses all of those.
std::string sanitize_utf8(std::string_view in);

}  // namespace pyxray
