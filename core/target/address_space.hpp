// What the target has mapped, to judge decoded numbers against: an address outside every mapping,
// or more bytes than are mapped, cannot be true. And the GNU build id of an ELF image as the target
// maps it, to tell whether the debugger's symbols for a library are of the build the target runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "target/target.hpp"

namespace pyxray {

class Memory;

struct AddressSpace {
  std::vector<MappedRange> ranges;  // sorted by start
  // True when `ranges` lists every mapping, anonymous ones included (a live process's
  // /proc/PID/maps). A core's file list names file-backed mappings only: then an address outside
  // them proves nothing.
  bool complete = false;

  const MappedRange* find(uint64_t addr) const;
  // [addr, addr + len) lies inside one mapping (or in mappings that touch). Always true when the
  // list is not complete.
  bool holds(uint64_t addr, uint64_t len = 1) const;
  uint64_t mapped_bytes() const;  // the sum of all ranges (only meaningful when complete)
  // The first mapping (file offset 0) of a file whose base name satisfies `match`, or nullptr.
  const MappedRange* image(bool (*match)(std::string_view base_name)) const;
};

// /proc/PID/maps text to ranges; lines that do not parse are skipped.
std::vector<MappedRange> parse_proc_maps(std::string_view text);

// A live local target: /proc/PID/maps (complete). Otherwise what the front end gives
// (Target::mapped_ranges, a core's file list: not complete); empty when nothing is known.
AddressSpace address_space(Target& target);

// The GNU build id (lowercase hex) of the ELF image whose first page is mapped at `start`, read from
// the target's memory: the ELF header, the program headers, the PT_NOTE segments. nullopt when it is
// not readable (a core without the image's first page) or has none.
std::optional<std::string> elf_build_id_at(Memory& mem, uint64_t start);

// "93AC61EC-5A8E..." (LLDB's UUID form) or "93ac61ec5a8e..." to lowercase hex without separators.
std::string normalize_build_id(std::string_view id);

std::string_view base_name(std::string_view path);

}  // namespace pyxray
