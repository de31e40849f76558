// The system call each thread of an ELF core was in, from the registers the core saved for it
// (NT_PRSTATUS notes). For a debugger that does not show them: LLDB 16's register context of an
// x86-64 core has no orig_rax.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "target/target.hpp"

namespace pyxray {

struct CoreSyscalls {
  int64_t pid = 0;  // the process (NT_PRPSINFO's pr_pid, else the first thread's)
  // Every thread the core holds, by kernel id: the call it was in, or nullopt for none.
  std::map<int64_t, std::optional<BlockedSyscall>> by_tid;
};

// Reads the notes of the ELF core at `path`; nullopt when it is not a core of the architecture pyxray
// is built for (x86-64 only for now), cannot be read, or holds no thread.
std::optional<CoreSyscalls> core_syscalls(const std::string& path);

}  // namespace pyxray
