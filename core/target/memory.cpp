#include "target/memory.hpp"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "target/target.hpp"

namespace pyxray {
namespace {

// One task's /proc/.../stat: its state letter, and whether it still has an address space (vsize,
// field 23, is 0 once it has let go of it).
struct TaskStat {
  char state = '?';
  bool has_mm = false;
  bool alive() const { return state != 'Z' && state != 'X' && has_mm; }
};

std::optional<TaskStat> task_stat(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  std::string_view line(buf, static_cast<std::size_t>(n));
  auto paren = line.rfind(')');  // the command name may hold anything, even ')'
  if (paren == std::string_view::npos || paren + 2 >= line.size()) return std::nullopt;
  std::vector<std::string_view> fields;  // from the state (field 3) on: single words
  for (std::size_t at = paren + 2; at < line.size() && fields.size() < 21;) {
    std::size_t end = line.find(' ', at);
    if (end == std::string_view::npos) end = line.size();
    fields.push_back(line.substr(at, end - at));
    at = end + 1;
  }
  if (fields.size() < 21 || fields[0].empty()) return std::nullopt;
  return TaskStat{fields[0][0], fields[20] != "0"};
}

// Whether process `pid` has exited or been killed. SIGKILL ends a process even while a debugger
// holds it stopped: each thread lets go of the address space first (and runs on for a while
// freeing it when the heap is big), then is a zombie until the debugger reaps it. A main thread
// that ended alone (pthread_exit) looks the same, so the other threads are asked too.
bool pid_gone(int pid) {
  const std::string dir = fmt::format("/proc/{}", pid);
  auto leader = task_stat(dir + "/stat");
  if (!leader) return ::access(dir.c_str(), F_OK) != 0 && errno == ENOENT;
  if (leader->alive()) return false;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir + "/task", ec)) {
    auto t = task_stat(task.path().string() + "/stat");
    if (t && t->alive()) return false;
  }
  return true;
}

class ProcessVmReader final : public MemoryReader {
 public:
  explicit ProcessVmReader(int pid) : pid_(pid) {}
  std::size_t read(uint64_t addr, std::span<std::byte> out) override {
    iovec local{out.data(), out.size()};
    iovec remote{reinterpret_cast<void*>(addr), out.size()};
    ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    // ESRCH: no such process, or its main thread has no address space any more; an unmapped
    // address is EFAULT.
    if (n < 0 && errno == ESRCH && !gone_) gone_ = pid_gone(pid_);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  const char* name() const override { return "process_vm_readv"; }
  bool process_gone() const override { return gone_; }

 private:
  int pid_;
  bool gone_ = false;
};

class ProcMemReader final : public MemoryReader {
 public:
  explicit ProcMemReader(int pid) : pid_(pid) {
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
    // The file reads as empty once the address space is gone; an unmapped address is EIO.
    if (n == 0 && !out.empty() && !gone_) gone_ = pid_gone(pid_);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  const char* name() const override { return "/proc/PID/mem"; }
  bool process_gone() const override { return gone_; }

 private:
  int pid_;
  int fd_ = -1;
  bool gone_ = false;
};

class DebuggerReader final : public MemoryReader {
 public:
  explicit DebuggerReader(Target& target) : target_(target) {}
  std::size_t read(uint64_t addr, std::span<std::byte> out) override {
    std::size_t n = target_.read_memory(addr, out);
    // The debugger says only that it could not read: ask whether the process is still there.
    if (n < out.size() && !gone_) gone_ = live_process_gone(target_);
    return n;
  }
  const char* name() const override { return "debugger"; }
  bool process_gone() const override { return gone_; }

 private:
  Target& target_;
  bool gone_ = false;
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

bool live_process_gone(Target& target) {
  // The debugger runs in this process, so the target's pid is ours to look up.
  return target.is_live_local() && target.pid() > 0 && pid_gone(target.pid());
}

std::string process_gone_message(int pid, std::string_view when) {
  return fmt::format("process {} is gone (it exited or was killed){}", pid, when);
}

std::unique_ptr<MemoryReader> debugger_reader(Target& target) { return std::make_unique<DebuggerReader>(target); }

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
