#include "target/blocked_syscall.hpp"

#include <sys/syscall.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <vector>

#include <fmt/format.h>

namespace pyxray {
namespace {

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = text.find_first_not_of(" \t\n", pos);
    if (start == std::string_view::npos) break;
    std::size_t end = text.find_first_of(" \t\n", start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    pos = end;
  }
  return out;
}

// The kernel prints the arguments as "0x%llx".
std::optional<uint64_t> parse_hex(std::string_view word) {
  if (word.size() < 3 || word.substr(0, 2) != "0x") return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(word.data() + 2, word.data() + word.size(), v, 16);
  if (ec != std::errc() || end != word.data() + word.size()) return std::nullopt;
  return v;
}

}  // namespace

Expected<std::optional<BlockedSyscall>> parse_proc_syscall(std::string_view text) {
  const auto w = words(text);
  if (w.size() == 1 && w[0] == "running") return fail("the thread is running");
  if (w.empty()) return fail("empty syscall file");
  int64_t number = 0;
  auto [end, ec] = std::from_chars(w[0].data(), w[0].data() + w[0].size(), number, 10);
  if (ec != std::errc() || end != w[0].data() + w[0].size()) return fail("bad syscall number: " + std::string(w[0]));
  // "-1 SP PC": stopped outside any system call (the kernel entered through an interrupt).
  if (number < 0) {
    if (w.size() != 3) return fail("bad syscall file: " + std::string(text));
    return std::optional<BlockedSyscall>();
  }
  if (w.size() != 9) return fail("bad syscall file: " + std::string(text));
  BlockedSyscall call;
  call.number = number;
  for (std::size_t i = 0; i < call.args.size(); ++i) {
    auto v = parse_hex(w[1 + i]);
    if (!v) return fail("bad syscall argument: " + std::string(w[1 + i]));
    call.args[i] = *v;
  }
  return std::optional<BlockedSyscall>(call);
}

std::optional<BlockedSyscall> blocked_syscall(Target& target, int64_t tid) {
  if (target.is_live_local() && target.pid() > 0) {
    // Readable by the debugger's process (it may ptrace the target), also while the thread is held
    // in a ptrace stop: the registers the kernel saved at its entry are what it reports.
    std::ifstream in(fmt::format("/proc/{}/task/{}/syscall", target.pid(), tid));
    if (in) {
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (auto parsed = parse_proc_syscall(text)) return *parsed;
    }
  }
  return target.blocked_syscall(tid);
}

std::optional<uint64_t> futex_wait_address(const BlockedSyscall& call) {
#ifdef SYS_futex
  if (call.number != SYS_futex) return std::nullopt;
  // The operation without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME (256), as the kernel
  // masks it; numbers from <linux/futex.h> (FUTEX_LOCK_PI2 is newer than some headers).
  constexpr uint64_t kCmdMask = ~uint64_t{128 | 256};
  constexpr uint64_t kWait = 0, kLockPi = 6, kWaitBitset = 9, kWaitRequeuePi = 11, kLockPi2 = 13;
  switch (call.args[1] & kCmdMask & 0xffffffffu) {
    case kWait:
    case kLockPi:
    case kWaitBitset:
    case kWaitRequeuePi:
    case kLockPi2: return call.args[0];
    default: return std::nullopt;
  }
#else
  return std::nullopt;
#endif
}

std::string syscall_name(int64_t number) {
  struct Named {
    long number;
    const char* name;
  };
  // The calls a thread of a Python program usually sleeps in; the numbers differ by architecture and
  // some calls exist on x86-64 only.
  static const Named kNames[] = {
      {SYS_read, "read"},
      {SYS_write, "write"},
      {SYS_futex, "futex"},
      {SYS_ppoll, "ppoll"},
      {SYS_pselect6, "pselect6"},
      {SYS_epoll_pwait, "epoll_pwait"},
      {SYS_nanosleep, "nanosleep"},
      {SYS_clock_nanosleep, "clock_nanosleep"},
      {SYS_accept4, "accept4"},
      {SYS_accept, "accept"},
      {SYS_connect, "connect"},
      {SYS_recvfrom, "recvfrom"},
      {SYS_recvmsg, "recvmsg"},
      {SYS_sendto, "sendto"},
      {SYS_sendmsg, "sendmsg"},
      {SYS_wait4, "wait4"},
      {SYS_waitid, "waitid"},
      {SYS_rt_sigsuspend, "rt_sigsuspend"},
      {SYS_rt_sigtimedwait, "rt_sigtimedwait"},
      {SYS_flock, "flock"},
      {SYS_fcntl, "fcntl"},
      {SYS_ioctl, "ioctl"},
      {SYS_openat, "openat"},
      {SYS_fsync, "fsync"},
#ifdef SYS_poll
      {SYS_poll, "poll"},
#endif
#ifdef SYS_select
      {SYS_select, "select"},
#endif
#ifdef SYS_epoll_wait
      {SYS_epoll_wait, "epoll_wait"},
#endif
#ifdef SYS_pause
      {SYS_pause, "pause"},
#endif
  };
  for (const auto& n : kNames) {
    if (n.number == number) return n.name;
  }
  return fmt::format("syscall {}", number);
}

}  // namespace pyxray
