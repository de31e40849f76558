// The parser of /proc/PID/task/TID/syscall, and what a futex wait's arguments say.
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "target/blocked_syscall.hpp"

namespace pyxray {
namespace {

TEST(BlockedSyscall, ParsesACallWithItsArguments) {
  auto r = parse_proc_syscall("202 0x7f1c2a3b4c50 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd1234 0x7f1c00001234\n");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  const BlockedSyscall& c = **r;
  EXPECT_EQ(c.number, 202);
  EXPECT_EQ(c.args[0], 0x7f1c2a3b4c50u);
  EXPECT_EQ(c.args[1], 0x189u);
  EXPECT_EQ(c.args[5], 0xffffffffu);
}

TEST(BlockedSyscall, OutsideAnyCallIsNoCall) {
  auto r = parse_proc_syscall("-1 0x7ffd1234 0x55d0aa11\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->has_value());
}

TEST(BlockedSyscall, RunningOrGarbageIsAnError) {
  EXPECT_FALSE(parse_proc_syscall("running\n"));
  EXPECT_FALSE(parse_proc_syscall(""));
  EXPECT_FALSE(parse_proc_syscall("202 0x1 0x2\n"));                              // too few arguments
  EXPECT_FALSE(parse_proc_syscall("202 0x1 0x2 0x3 0x4 0x5 zz 0x7 0x8\n"));       // not hex
  EXPECT_FALSE(parse_proc_syscall("futex 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n"));    // not a number
  EXPECT_FALSE(parse_proc_syscall("202 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8 0x9\n"));  // too many
}

TEST(BlockedSyscall, FutexWaitsNameTheirWord) {
  BlockedSyscall c;
  c.number = SYS_futex;
  c.args[0] = 0x1000;
  for (uint64_t op : {0u, 128u, 9u, 9u | 128u, 9u | 128u | 256u, 6u, 11u, 13u}) {
    c.args[1] = op;
    EXPECT_EQ(futex_wait_address(c), std::optional<uint64_t>(0x1000)) << "op " << op;
  }
  for (uint64_t op : {1u, 1u | 128u, 10u, 7u}) {  // wakes and unlocks do not wait
    c.args[1] = op;
    EXPECT_EQ(futex_wait_address(c), std::nullopt) << "op " << op;
  }
  c.number = SYS_read;
  c.args[1] = 0;
  EXPECT_EQ(futex_wait_address(c), std::nullopt);
}

TEST(BlockedSyscall, NamesCommonCalls) {
  EXPECT_EQ(syscall_name(SYS_futex), "futex");
  EXPECT_EQ(syscall_name(SYS_read), "read");
  EXPECT_EQ(syscall_name(100000), "syscall 100000");
}

// A thread of this very process, asleep in futex(): /proc and the parser agree on the word.
TEST(BlockedSyscall, ReadsALiveThreadOfThisProcess) {
  // No Target here: parse what the kernel says of a thread that waits on a futex word we know.
  alignas(4) static int word = 0;
  pid_t tid = 0;
  std::atomic<bool> started{false};
  std::thread waiter([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    started = true;
    ::syscall(SYS_futex, &word, 128 /* FUTEX_WAIT_PRIVATE */, 0, nullptr, nullptr, 0);
  });
  while (!started) std::this_thread::yield();
  std::optional<BlockedSyscall> seen;
  for (int i = 0; i < 500 && !seen; ++i) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto r = parse_proc_syscall(text); r && r->has_value() && (*r)->number == SYS_futex) seen = **r;
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  word = 1;
  ::syscall(SYS_futex, &word, 129 /* FUTEX_WAKE_PRIVATE */, 1, nullptr, nullptr, 0);
  waiter.join();
  ASSERT_TRUE(seen) << "the waiter was never seen in futex()";
  EXPECT_EQ(futex_wait_address(*seen), std::optional<uint64_t>(reinterpret_cast<uintptr_t>(&word)));
}

}  // namespace
}  // namespace pyxray
