// Reading the target's memory. Every decoder goes through Memory, which caches whole pages so that the
// many small field reads a frame walk makes become a few large remote reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class Target;

// A raw source of target bytes: process_vm_readv, /proc/PID/mem, or the debugger.
class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  // Reads up to out.size() bytes; returns the number of leading bytes read (0 on failure).
  virtual std::size_t read(uint64_t addr, std::span<std::byte> out) = 0;
  virtual const char* name() const = 0;
  // True once a read failed because the process itself is gone (exited or killed: its address
  // space no longer exists), as opposed to an address that is not mapped. Direct readers can tell;
  // the debugger's reads ask /proc when a read fails.
  virtual bool process_gone() const { return false; }
};

// For a live local target: whether its process has exited or been killed (no /proc entry any more,
// or a zombie the debugger has not reaped yet). False for a core, and while the process lives.
bool live_process_gone(Target& target);

// What a command says once a reader found the process gone: "process PID is gone (it exited or was
// killed)" and `when` ("during the heap walk").
std::string process_gone_message(int pid, std::string_view when = "");

// The fastest reader that works for this target: process_vm_readv for a live local process, then
// /proc/PID/mem, then the debugger (always the choice for core files). `probe` is an address known to
// be mapped in the target, used to check that a direct reader really works.
std::unique_ptr<MemoryReader> choose_reader(Target& target, uint64_t probe);
std::unique_ptr<MemoryReader> debugger_reader(Target& target);

class Memory {
 public:
  static constexpr std::size_t kPageSize = 4096;
  // The cache is bounded by the `memory-cache` limit, so that a heap walk cannot grow the
  // debugger's memory without limit.
  static std::size_t max_cached_pages();

  explicit Memory(std::unique_ptr<MemoryReader> reader);

  Expected<void> read(uint64_t addr, std::span<std::byte> out);

  template <class T>
  Expected<T> read(uint64_t addr) {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    auto r = read(addr, std::as_writable_bytes(std::span<T, 1>(&value, 1)));
    if (!r) return Unexpected<Error>{r.error()};
    return value;
  }
  Expected<uint64_t> read_ptr(uint64_t addr) { return read<uint64_t>(addr); }
  Expected<std::vector<std::byte>> read_bytes(uint64_t addr, std::size_t len);
  // NUL-terminated string of at most max_len bytes (longer strings are cut, not an error).
  Expected<std::string> read_cstring(uint64_t addr, std::size_t max_len = 256);

  // Pulls a whole range into the cache with as few remote reads as possible.
  void prefetch(uint64_t addr, std::size_t len);
  // Forgets everything: the target may have run since the last command.
  void clear();

  const MemoryReader& reader() const { return *reader_; }
  MemoryReader& reader() { return *reader_; }
  std::size_t remote_reads() const { return remote_reads_; }

 private:
  using Page = std::array<std::byte, kPageSize>;
  const Page* page(uint64_t page_addr);
  bool load_pages(uint64_t first_page, std::size_t count);

  std::unique_ptr<MemoryReader> reader_;
  std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
  std::unordered_map<uint64_t, bool> unreadable_;
  std::size_t remote_reads_ = 0;
};

}  // namespace pyxray
