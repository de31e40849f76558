// The one interface a debugger front end implements. The core never talks to gdb or LLDB directly:
// everything it needs from the debugger (memory of cores, symbols, threads, debuginfo layouts) comes
// through here, so a front end stays a thin adapter.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

struct NativeThread {
  int64_t tid = 0;                     // kernel thread id (LWP)
  std::optional<uint64_t> pthread_id;  // pthread_t, when the debugger knows it
  std::string name;                    // OS thread name ("" when unknown)
};

struct NativeFrame {
  uint64_t pc = 0;
  std::string function;  // symbol name, "" when unknown
  std::string library;   // object file holding pc, "" when unknown
};

// The system call a thread is stopped in: its number (x86-64: orig_rax) and its six arguments.
// Numbers are those of the architecture pyxray is built for (SYS_futex from <sys/syscall.h>).
struct BlockedSyscall {
  int64_t number = -1;
  std::array<uint64_t, 6> args{};
};

// How Target::run_while ended. In every case but Exited the target is stopped under the debugger
// again, as it was before the call.
enum class RunEnd {
  WorkDone,     // `work` returned and the front end stopped the target
  Interrupted,  // the user interrupted the debugger (Ctrl-C)
  Stopped,      // the target stopped by itself: a breakpoint, a signal the debugger stops on
  Exited,       // the target exited or was killed: there is no process any more
};

struct RunOutcome {
  RunEnd end = RunEnd::WorkDone;
  std::string detail;  // one phrase for Stopped and Exited ("signal SIGSEGV", "exit code 3"), else ""
};

struct LoadedObject {
  std::string path;
  std::optional<uint64_t> base;  // load address of the first segment, when known
  // GNU build id (lowercase hex) of the file the debugger loaded for it, whose symbols it uses;
  // nullopt when unknown.
  std::optional<std::string> build_id;
};

// One mapping of the target's address space, as /proc/PID/maps or a core's file list records it.
struct MappedRange {
  uint64_t start = 0, end = 0;  // [start, end)
  uint64_t offset = 0;          // file offset of start (0 for anonymous memory)
  std::string path;             // the file, "[heap]", "[stack]"..., or "" for anonymous memory
};

class Target {
 public:
  virtual ~Target() = default;

  // Process id of the live process, or the one recorded in a core (0 when unknown).
  virtual int pid() const = 0;
  // True for a running process on this host, whose memory the core may read directly.
  virtual bool is_live_local() const = 0;

  // Reads up to out.size() bytes at addr; returns how many leading bytes were read.
  virtual std::size_t read_memory(uint64_t addr, std::span<std::byte> out) = 0;

  // Address of a global symbol (data or function), from debuginfo or the ELF symbol tables.
  virtual std::optional<uint64_t> symbol_address(std::string_view name) = 0;

  // Debuginfo layouts: the byte offset of a dotted field path inside a struct type ("interpreters.head"
  // in "_PyRuntimeState"), or the size of the type when `field` is empty. nullopt when the debugger
  // has no debuginfo for it.
  virtual std::optional<int64_t> type_offset(std::string_view type, std::string_view field) = 0;

  virtual std::vector<NativeThread> threads() = 0;
  // Kernel thread id of the thread selected in the debugger.
  virtual std::optional<int64_t> selected_thread() = 0;

  virtual std::vector<LoadedObject> loaded_objects() = 0;

  // The thread's native stack, innermost first, as the debugger unwinds it (at most max_frames);
  // nullopt when the debugger cannot unwind it. Must leave the user's selected thread and frame as
  // they were.
  virtual std::optional<std::vector<NativeFrame>> native_frames(int64_t tid, std::size_t max_frames) {
    return std::nullopt;
  }
  // The system call thread `tid` is in, from its saved registers; nullopt when it is in none, the
  // debugger cannot read its registers, or the target's architecture is not the one pyxray is built
  // for. Must leave the selected thread and frame as they were.
  virtual std::optional<BlockedSyscall> blocked_syscall(int64_t tid) { return std::nullopt; }
  // The ELF core file the debugger opened as this target; nullopt for a live process or when unknown.
  virtual std::optional<std::string> core_file() { return std::nullopt; }
  // Shared objects the target uses that the debugger could not load (a core opened on another host).
  virtual std::vector<std::string> missing_objects() { return {}; }
  // Files mapped into the target's address space, as the process (or the core's own file list)
  // records them; empty when unknown.
  virtual std::vector<std::string> mapped_files() { return {}; }
  // The target's mappings when the core cannot read them itself: a core's file list (which names
  // file-backed mappings only). Live local processes are read from /proc/PID/maps by the core
  // (core/target/address_space.hpp), so a front end need not implement this for them. Empty when unknown.
  virtual std::vector<MappedRange> mapped_ranges() { return {}; }

  // Lets the (live, stopped) target run while `work` observes it from outside, then stops it again:
  // resume every thread the debugger would resume on "continue", run `work`, and once it returns stop
  // the target so that it is stopped exactly as before the call (all threads stopped, the same thread
  // selected, no signal left pending or delivered to the program). Only for live targets.
  //
  // `work` may run on another thread than the caller's, so it must not call this Target (nor the
  // debugger in any other way); it reads the target only through a direct reader (process_vm_readv).
  // It must return soon (within milliseconds) after stop_requested becomes true, which happens when
  // the target stops or exits by itself or the user interrupts the debugger. The debugger must stay
  // responsive to its interrupt key while `work` runs. See docs/sampling.md.
  virtual Expected<RunOutcome> run_while(const std::function<void(const std::atomic<bool>& stop_requested)>& work) {
    return fail("this debugger cannot resume the target from a command");
  }
};

}  // namespace pyxray
