// Which system call a thread sleeps in, and with which arguments: a thread blocked acquiring a lock
// sleeps in futex(FUTEX_WAIT*) on the address of the lock's futex word, which names the lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/expected.hpp"
#include "target/target.hpp"

namespace pyxray {

// The text of /proc/PID/task/TID/syscall: "NR A1 ... A6 SP PC" for a thread in a system call,
// "-1 SP PC" for one in none (a value of nullopt), "running" while it runs (an error: nothing can be
// known then), anything else an error.
Expected<std::optional<BlockedSyscall>> parse_proc_syscall(std::string_view text);

// The system call thread `tid` of the target is in: for a live process on this host from /proc (the
// kernel's answer, cheaper than the debugger's registers), else from the registers the front end
// reads (a core's NT_PRSTATUS, or a debugger that cannot let us read /proc). nullopt when it is in
// none or nobody can tell.
std::optional<BlockedSyscall> blocked_syscall(Target& target, int64_t tid);

// The futex word a thread waits on, when `call` is futex() with an operation that sleeps (FUTEX_WAIT,
// FUTEX_WAIT_BITSET, FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_WAIT_REQUEUE_PI); nullopt otherwise.
std::optional<uint64_t> futex_wait_address(const BlockedSyscall& call);

// The name of a system call a thread commonly blocks in ("futex", "read", "epoll_wait", ...) on the
// architecture pyxray is built for; "syscall N" for the others.
std::string syscall_name(int64_t number);

}  // namespace pyxray
