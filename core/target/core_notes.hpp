// What an ELF core says about the process it holds, from its notes: who the process was
// (NT_PRPSINFO), what ended it (NT_SIGINFO, the first thread's NT_PRSTATUS) and the system call each
// thread was in (the registers of its NT_PRSTATUS: for a debugger that does not show them, as
// LLDB 16's register context of an x86-64 core has no orig_rax).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "target/target.hpp"

namespace pyxray {

// The signal the core was written for.
struct CoreSignal {
  int number = 0;
  int code = 0;                           // si_code: how it was raised (a fault, kill(), tgkill(), ...)
  std::optional<uint64_t> fault_address;  // si_addr, for a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE)
  std::optional<int64_t> sender;          // si_pid, for a signal another process (or itself) sent
};

struct CoreNotes {
  int64_t pid = 0;  // the process (NT_PRPSINFO's pr_pid, else the first thread's)
  std::optional<int64_t> ppid;
  std::string executable;  // pr_fname: the command name, at most 15 characters
  std::string arguments;   // pr_psargs: the command line, at most 80 characters
  std::optional<CoreSignal> signal;
  // The thread the signal was delivered to: the kernel writes it first. nullopt when the core holds
  // no signal.
  std::optional<int64_t> signalled_thread;
  // Every thread the core holds, by kernel id: the call it was in, or nullopt for none.
  std::map<int64_t, std::optional<BlockedSyscall>> by_tid;
};

// Reads the notes of the ELF core at `path`; nullopt when it is not a core of the architecture pyxray
// is built for (x86-64 only for now), cannot be read, or holds no thread.
std::optional<CoreNotes> read_core_notes(const std::string& path);

// Whether the kernel writes a core for this signal by default (SIGSEGV, SIGABRT, ...): a core with
// such a signal is a process that died of it; a core with any other (gcore's of a stopped process)
// is not.
bool dumps_core(int signal);

// "SIGSEGV", or "signal 42" for a number without a name.
std::string signal_name(int signal);
// How the signal came about, from its si_code: "address not mapped", "sent by kill()", ... or "".
std::string signal_cause(const CoreSignal& s);

}  // namespace pyxray
