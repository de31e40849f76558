// The one interface a debugger front end implements. The core never talks to gdb or LLDB directly:
// everything it needs from the debugger (memory of cores, symbols, threads, debuginfo layouts) comes
// through here, so a front end stays a thin adapter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pyxray {

struct NativeThread {
  int64_t tid = 0;                        // kernel thread id (LWP)
  std::optional<uint64_t> pthread_id;     // pthread_t, when the debugger knows it
  std::string name;                       // OS thread name ("" when unknown)
};

struct NativeFrame {
  uint64_t pc = 0;
  std::string function;  // symbol name, "" when unknown
  std::string library;   // object file holding pc, "" when unknown
};

struct LoadedObject {
  std::string path;
  std::optional<uint64_t> base;  // load address of the first segment, when known
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
  // Shared objects the target uses that the debugger could not load (a core opened on another host).
  virtual std::vector<std::string> missing_objects() { return {}; }
};

}  // namespace pyxray
