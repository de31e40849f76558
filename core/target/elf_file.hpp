// The few facts pyxray needs from an ELF file on disk: section ranges and exported symbols. Used
// when the debugger knows no symbol for what we need (stripped 2.7/3.6 builds).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/expected.hpp"

namespace pyxray {

struct ElfSection {
  uint64_t addr = 0;  // link-time virtual address
  uint64_t size = 0;
};

struct ElfFile {
  std::string path;
  std::map<std::string, ElfSection> sections;
  std::map<std::string, uint64_t> dynamic_symbols;  // .dynsym: name -> link-time value
  bool fixed_address = false;                       // ET_EXEC: loaded at its link-time addresses (bias 0)
  std::optional<uint64_t> first_load_vaddr;         // p_vaddr - p_offset of the first PT_LOAD segment

  std::optional<ElfSection> section(const std::string& name) const;
  std::optional<uint64_t> dynamic_symbol(const std::string& name) const;
};

Expected<ElfFile> read_elf(const std::string& path);

// The load bias (runtime address minus link-time address) of `elf` when the target maps its file
// offset 0 at `mapped_start`: 0 for ET_EXEC, else mapped_start minus the first PT_LOAD's page-aligned
// link address. nullopt when the file has no PT_LOAD.
std::optional<uint64_t> load_bias(const ElfFile& elf, uint64_t mapped_start);

}  // namespace pyxray
