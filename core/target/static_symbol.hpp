// File-scope statics of libpython and libc, found by name in the symbol table.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pyxray {

class Target;

// The address of a static named NAME. LTO builds (Debian's) rename file statics "NAME.lto_priv.N"
// in the symbol table while DWARF keeps the plain name without a location, so both are tried.
std::optional<uint64_t> static_symbol(Target& target, std::string_view name);

}  // namespace pyxray
