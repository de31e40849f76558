// Reading a running process for one sample at a time with as few system calls as possible.
//
// Every range a sample reads is remembered; the next sample first fetches all of them in one
// process_vm_readv (ranges that lie close together merged into one), so a sample that walks the same
// structures as the one before costs one system call, and whatever it reads anew one more call each.
// Nothing here stops the target: the bytes of one sample are not a consistent snapshot, which is why
// the stack reader validates what it decodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include <sys/uio.h>
#include <type_traits>
#include <vector>

namespace pyxray {

class MemoryReader;

class TickReader {
 public:
  // Ranges closer than this are fetched as one (an extra iovec costs more than copying this much).
  static constexpr std::size_t kMergeGap = 2048;
  static constexpr std::size_t kMaxMerged = 256 * 1024;
  static constexpr std::size_t kMaxRanges = 1024;   // IOV_MAX
  static constexpr std::size_t kMaxRead = 8 << 20;  // one range, and one tick's prefetch
  static constexpr std::size_t kBlockSize = 1 << 20;

  // `via`: read through this reader rather than process_vm_readv -- the debugger's reads, for a
  // system or target where the process cannot be read directly; then only while it is stopped.
  explicit TickReader(int pid, MemoryReader* via = nullptr);
  TickReader(const TickReader&) = delete;
  TickReader& operator=(const TickReader&) = delete;

  // Starts a sample: fetches what the previous sample read, in one call.
  void begin();
  // Ends a sample: what it read becomes the next begin()'s prefetch.
  void end();
  // Forgets this sample's bytes (a retry must see fresh memory); what was read stays planned.
  void refresh();

  // `len` bytes at `addr`, valid until the next begin() or refresh(); nullptr when unreadable.
  const std::byte* get(uint64_t addr, std::size_t len);

  template <class T>
  bool read(uint64_t addr, T& out) {
    static_assert(std::is_trivially_copyable_v<T>);
    const std::byte* p = get(addr, sizeof(T));
    if (!p) return false;
    std::memcpy(&out, p, sizeof(T));
    return true;
  }

  // `len` bytes at `addr` read now, by a system call of its own, after everything this sample read
  // so far; neither kept for this sample nor planned for the next one's prefetch (which would read it
  // early again). For a value that confirms, once the rest was read, that it did not change meanwhile.
  bool read_fresh(uint64_t addr, std::byte* out, std::size_t len) { return read_now(addr, out, len); }
  // Seconds since this sample's bytes began to be read (begin() or refresh()), on a steady clock.
  double age() const;

  // True once a read failed because the process no longer exists.
  bool process_gone() const { return gone_; }
  uint64_t syscalls() const { return syscalls_; }
  uint64_t ranges() const { return ranges_; }  // iovecs, prefetched and on demand
  uint64_t misses() const { return misses_; }

 private:
  struct Range {
    uint64_t addr = 0;
    std::size_t len = 0;
  };
  struct Held {
    uint64_t addr = 0;
    std::size_t len = 0;
    const std::byte* data = nullptr;
  };

  std::byte* allocate(std::size_t len);
  bool read_now(uint64_t addr, std::byte* out, std::size_t len);
  void note_error(int err);

  int pid_;
  MemoryReader* via_ = nullptr;
  std::vector<Range> used_;      // this sample's requests
  std::vector<Range> plan_;      // merged requests of the previous sample
  std::vector<Held> held_;       // bytes this sample can use: the prefetch (sorted), then reads on demand
  std::size_t held_sorted_ = 0;  // how many leading entries of held_ are the sorted prefetch
  std::vector<std::unique_ptr<std::byte[]>> blocks_;  // bump-allocated, reused every sample
  std::vector<std::size_t> block_sizes_;
  std::size_t block_ = 0, block_used_ = 0;
  std::vector<struct iovec> remote_, local_;
  bool merge_ = true;  // off for a while after a merged range failed to read
  int merge_off_ticks_ = 0;
  bool gone_ = false;
  int64_t started_ns_ = 0;  // when begin() or refresh() last ran
  uint64_t syscalls_ = 0, misses_ = 0, ranges_ = 0;
};

}  // namespace pyxray
