#include "target/static_symbol.hpp"

#include <fmt/format.h>

#include "target/target.hpp"

namespace pyxray {

std::optional<uint64_t> static_symbol(Target& target, std::string_view name) {
  for (const char* suffix : {"", ".lto_priv.0", ".lto_priv.1"})
    if (auto a = target.symbol_address(fmt::format("{}{}", name, suffix))) return a;
  return std::nullopt;
}

}  // namespace pyxray
