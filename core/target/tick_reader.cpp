#include "target/tick_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <span>

#include "target/memory.hpp"

namespace pyxray {

namespace {
// After a merged range failed to read (it spanned an unmapped gap), fetch ranges unmerged for a while.
constexpr int kNoMergeTicks = 4096;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ssize_t vm_read(int pid, const iovec* local, std::size_t nlocal, const iovec* remote, std::size_t nremote) {
#ifdef __linux__
  return process_vm_readv(pid, local, nlocal, remote, nremote, 0);
#else
  errno = ENOSYS;  // other systems sample through the debugger (TickReader's `via`)
  return -1;
#endif
}

}  // namespace

TickReader::TickReader(int pid, MemoryReader* via) : pid_(pid), via_(via) {
  used_.reserve(kMaxRanges);
  plan_.reserve(kMaxRanges);
  held_.reserve(kMaxRanges);
  remote_.reserve(kMaxRanges);
  local_.reserve(kMaxRanges);
  blocks_.push_back(std::make_unique<std::byte[]>(kBlockSize));
  block_sizes_.push_back(kBlockSize);
}

std::byte* TickReader::allocate(std::size_t len) {
  len = (len + 15) & ~std::size_t{15};
  while (block_ < blocks_.size() && block_used_ + len > block_sizes_[block_]) {
    ++block_;
    block_used_ = 0;
  }
  if (block_ == blocks_.size()) {  // grows only while stacks get deeper than ever before
    std::size_t size = std::max(kBlockSize, len);
    blocks_.push_back(std::make_unique<std::byte[]>(size));
    block_sizes_.push_back(size);
    block_used_ = 0;
  }
  std::byte* p = blocks_[block_].get() + block_used_;
  block_used_ += len;
  return p;
}

void TickReader::note_error(int err) {
  if (err == ESRCH) gone_ = true;
}

bool TickReader::read_now(uint64_t addr, std::byte* out, std::size_t len) {
  ++syscalls_;
  ++ranges_;
  if (via_) return via_->read(addr, std::span<std::byte>(out, len)) == len;
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = vm_read(pid_, &local, 1, &remote, 1);
  if (n < 0) note_error(errno);
  return n == static_cast<ssize_t>(len);
}

double TickReader::age() const { return static_cast<double>(steady_ns() - started_ns_) * 1e-9; }

void TickReader::refresh() {
  started_ns_ = steady_ns();
  held_.clear();
  held_sorted_ = 0;
  block_ = 0;
  block_used_ = 0;
}

void TickReader::begin() {
  refresh();
  used_.clear();
  if (plan_.empty()) return;
  remote_.clear();
  local_.clear();
  std::size_t total = 0;
  for (const Range& r : plan_) {
    std::byte* dst = allocate(r.len);
    remote_.push_back({reinterpret_cast<void*>(r.addr), r.len});
    local_.push_back({dst, r.len});
    total += r.len;
  }
  ++syscalls_;
  ranges_ += remote_.size();
  ssize_t n = 0;
  if (via_) {  // one range at a time, stopping at the first short one, like process_vm_readv
    for (std::size_t i = 0; i < remote_.size(); ++i) {
      std::size_t got =
          via_->read(reinterpret_cast<uint64_t>(remote_[i].iov_base),
                     std::span<std::byte>(static_cast<std::byte*>(local_[i].iov_base), local_[i].iov_len));
      n += static_cast<ssize_t>(got);
      if (got < remote_[i].iov_len) break;
    }
  } else {
    n = vm_read(pid_, local_.data(), local_.size(), remote_.data(), remote_.size());
  }
  if (n < 0) {
    note_error(errno);
    n = 0;
  }
  // Elements are transferred whole, in order, up to the first one that fails.
  std::size_t got = static_cast<std::size_t>(n);
  for (std::size_t i = 0; i < plan_.size(); ++i) {
    if (got < plan_[i].len) {
      if (merge_ && static_cast<std::size_t>(n) < total) {
        merge_ = false;
        merge_off_ticks_ = kNoMergeTicks;
      }
      break;
    }
    got -= plan_[i].len;
    held_.push_back({plan_[i].addr, plan_[i].len, static_cast<const std::byte*>(local_[i].iov_base)});
  }
  held_sorted_ = held_.size();
}

void TickReader::end() {
  plan_.clear();
  if (!merge_ && --merge_off_ticks_ <= 0) merge_ = true;
  if (used_.empty()) return;
  std::sort(used_.begin(), used_.end(), [](const Range& a, const Range& b) { return a.addr < b.addr; });
  std::size_t total = 0;
  Range cur = used_[0];
  auto flush = [&](const Range& r) {
    if (plan_.size() < kMaxRanges && total + r.len <= kMaxRead) {
      plan_.push_back(r);
      total += r.len;
    }
  };
  for (std::size_t i = 1; i < used_.size(); ++i) {
    const Range& r = used_[i];
    uint64_t cur_end = cur.addr + cur.len;
    uint64_t gap = merge_ ? kMergeGap : 0;
    uint64_t r_end = r.addr + r.len;
    if (r.addr <= cur_end + gap && std::max(cur_end, r_end) - cur.addr <= kMaxMerged) {
      cur.len = std::max(cur_end, r_end) - cur.addr;
    } else if (r.addr <= cur_end) {  // overlapping but too long to merge: keep the union anyway
      cur.len = std::max(cur_end, r_end) - cur.addr;
    } else {
      flush(cur);
      cur = r;
    }
  }
  flush(cur);
}

const std::byte* TickReader::get(uint64_t addr, std::size_t len) {
  if (len == 0 || len > kMaxRead || addr + len < addr) return nullptr;
  if (used_.size() < used_.capacity()) used_.push_back({addr, len});
  // The prefetch is sorted by address: the candidate is the last range starting at or before addr.
  if (held_sorted_ > 0) {
    auto first = held_.begin(), last = held_.begin() + static_cast<std::ptrdiff_t>(held_sorted_);
    auto it = std::upper_bound(first, last, addr, [](uint64_t a, const Held& h) { return a < h.addr; });
    if (it != first) {
      const Held& h = *(it - 1);
      if (addr + len <= h.addr + h.len) return h.data + (addr - h.addr);
    }
  }
  for (std::size_t i = held_sorted_; i < held_.size(); ++i) {
    const Held& h = held_[i];
    if (addr >= h.addr && addr + len <= h.addr + h.len) return h.data + (addr - h.addr);
  }
  ++misses_;
  std::byte* dst = allocate(len);
  if (!read_now(addr, dst, len)) return nullptr;
  if (held_.size() < held_.capacity()) held_.push_back({addr, len, dst});
  return dst;
}

}  // namespace pyxray
