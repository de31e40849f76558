// Stripped 2.7 and 3.6 builds keep the interpreter list head in a static (interp_head) that only
// .symtab names. Without it, the head is found by scanning the object's .bss and .data for a pointer
// that validates as a PyInterpreterState.
#pragma once

#include <cstdint>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;
struct ElfFile;

// Examines at most the `scan-words` limit's pointers, so that a huge data segment cannot stall the
// debugger. Address of the variable holding the first interpreter state; `bias` is the object's load bias.
Expected<uint64_t> scan_for_interp_head(PythonProcess& proc, const ElfFile& elf, uint64_t bias);

}  // namespace pyxray
