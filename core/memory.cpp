#include "memory.hpp"

#include <cstdlib>
#include <string_view>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "limits.hpp"
#include "target.hpp"

namespace pyxray {
namespace {

class ProcessVmReader final : public MemoryReader {
 public:
  explicit ProcessVmReader(int pid) : pid_(pid) {}
  std::size_t read(uint64_t addr, std::span<std::byte> out) override {
    iovec local{out.data(), out.size()};
    iovec remote{reinterpret_cast<void*>(addr), out.size()};
    ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  const char* name() const override { return "process_vm_readv"; }

 private:
  int pid_;
};

class ProcMemReader final : public MemoryReader {
 public:
  explicit ProcMemReader(int pid) {
    fd_ = ::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~ProcMemReader() override {
    if (fd_ >= 0) ::close(fd_);
  }
  ProcMemReader(const ProcMemReader&) = delete;
  ProcMemReader& operator=(const ProcMemReader&) = delete;
  bool ok() const { return fd_ >= 0; }
  std::size_t read(uint64_t addr, std::span<std::byte> out) override {
    ssize_t n = ::pread(fd_, out.data(), out.size(), static_cast<off_t>(addr));
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  const char* name() const override { return "/proc/PID/mem"; }

 private:
  int fd_ = -1;
};

class DebuggerReader final : public MemoryReader {
 public:
  explicit DebuggerReader(Target& target) : target_(target) {}
  std::size_t read(uint64_t addr, std::span<std::byte> out) override {
    return target_.read_memory(addr, out);
  }
  const char* name() const override { return "debugger"; }

 private:
  Target& target_;
};

// A direct reader is only trusted if it returns the same bytes the debugger sees: a pid namespace or
// a remote target would otherwise silently give us another process's memory.
bool agrees_with_debugger(MemoryReader& reader, Target& target, uint64_t probe) {
  std::array<std::byte, 64> direct{}, via_debugger{};
  if (reader.read(probe, direct) != direct.size()) return false;
  if (target.read_memory(probe, via_debugger) != via_debugger.size()) return false;
  return direct == via_debugger;
}

}  // namespace

std::unique_ptr<MemoryReader> debugger_reader(Target& target) {
  return std::make_unique<DebuggerReader>(target);
}

std::unique_ptr<MemoryReader> choose_reader(Target& target, uint64_t probe) {
  // PYXRAY_READER=debugger: every read through the debugger, as on a system without a direct
  // reader (macOS) -- how the tests exercise that path here.
  const char* forced = std::getenv("PYXRAY_READER");
  if (forced && std::string_view(forced) == "debugger") return debugger_reader(target);
  if (target.is_live_local() && target.pid() > 0) {
    auto vm = std::make_unique<ProcessVmReader>(target.pid());
    if (agrees_with_debugger(*vm, target, probe)) return vm;
    auto mem = std::make_unique<ProcMemReader>(target.pid());
    if (mem->ok() && agrees_with_debugger(*mem, target, probe)) return mem;
  }
  return debugger_reader(target);
}

Memory::Memory(std::unique_ptr<MemoryReader> reader) : reader_(std::move(reader)) {}

std::size_t Memory::max_cached_pages() {
  return std::max<std::size_t>(static_cast<std::size_t>(limits().memory_cache) / kPageSize, 1);
}

void Memory::clear() {
  pages_.clear();
  unreadable_.clear();
}

bool Memory::load_pages(uint64_t first_page, std::size_t count) {
  if (pages_.size() + count > max_cached_pages()) pages_.clear();
  std::vector<std::byte> buf(count * kPageSize);
  ++remote_reads_;
  std::size_t got = reader_->read(first_page, buf);
  std::size_t full = got / kPageSize;
  for (std::size_t i = 0; i < full; ++i) {
    auto p = std::make_unique<Page>();
    std::memcpy(p->data(), buf.data() + i * kPageSize, kPageSize);
    pages_[first_page + i * kPageSize] = std::move(p);
  }
  return full == count;
}

const Memory::Page* Memory::page(uint64_t page_addr) {
  if (auto it = pages_.find(page_addr); it != pages_.end()) return it->second.get();
  if (unreadable_.contains(page_addr)) return nullptr;
  if (!load_pages(page_addr, 1)) {
    unreadable_[page_addr] = true;
    return nullptr;
  }
  return pages_[page_addr].get();
}

void Memory::prefetch(uint64_t addr, std::size_t len) {
  if (len == 0 || len > max_cached_pages() * kPageSize / 4) return;
  uint64_t first = addr & ~(kPageSize - 1);
  uint64_t last = (addr + len - 1) & ~(kPageSize - 1);
  // Only fetch the run of pages not yet cached; a partial failure just leaves pages to load lazily.
  while (first <= last && pages_.contains(first)) first += kPageSize;
  while (last >= first && pages_.contains(last)) last -= kPageSize;
  if (first > last) return;
  load_pages(first, (last - first) / kPageSize + 1);
}

Expected<void> Memory::read(uint64_t addr, std::span<std::byte> out) {
  if (addr + out.size() < addr) return fail(fmt::format("address 0x{:x} out of range", addr));
  if (out.size() > kPageSize) prefetch(addr, out.size());
  std::size_t done = 0;
  while (done < out.size()) {
    uint64_t a = addr + done;
    uint64_t page_addr = a & ~(kPageSize - 1);
    const Page* p = page(page_addr);
    if (!p) {
      // A page that cannot be read whole may still hold the bytes we need (the end of a mapping).
      std::size_t n = std::min<std::size_t>(out.size() - done, kPageSize - (a - page_addr));
      ++remote_reads_;
      if (reader_->read(a, out.subspan(done, n)) != n)
        return fail(fmt::format("cannot read target memory at 0x{:x}", a));
      done += n;
      continue;
    }
    std::size_t off = a - page_addr;
    std::size_t n = std::min(out.size() - done, kPageSize - off);
    std::memcpy(out.data() + done, p->data() + off, n);
    done += n;
  }
  return {};
}

Expected<std::vector<std::byte>> Memory::read_bytes(uint64_t addr, std::size_t len) {
  std::vector<std::byte> buf(len);
  auto r = read(addr, buf);
  if (!r) return Unexpected<Error>{r.error()};
  return buf;
}

Expected<std::string> Memory::read_cstring(uint64_t addr, std::size_t max_len) {
  std::string s;
  while (s.size() < max_len) {
    // Read up to the end of the page only, so that a short string near unmapped memory still works.
    std::size_t chunk = std::min<std::size_t>(max_len - s.size(), kPageSize - ((addr + s.size()) % kPageSize));
    std::vector<std::byte> buf(chunk);
    auto r = read(addr + s.size(), buf);
    if (!r) return Unexpected<Error>{r.error()};
    for (std::byte b : buf) {
      if (b == std::byte{0}) return s;
      s.push_back(static_cast<char>(b));
    }
  }
  return s;
}

}  // namespace pyxray
