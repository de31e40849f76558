// The few facts pyxray needs from an ELF file on disk: section ranges and exported symbols. Used
// when the debugger knows no symbol for what we need (stripped 2.7/3.6 builds).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "expected.hpp"

namespace pyxray {

struct ElfSection {
  uint64_t addr = 0;  // link-time virtual address
  uint64_t size = 0;
};

struct ElfFile {
  std::string path;
  std::map<std::string, ElfSection> sections;
  std::map<std::string, uint64_t> dynamic_symbols;  // .dynsym: name -> link-time value

  std::optional<ElfSection> section(const std::string& name) const;
  std::optional<uint64_t> dynamic_symbol(const std::string& name) const;
};

Expected<ElfFile> read_elf(const std::string& path);

}  // namespace pyxray
