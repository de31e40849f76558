// Who holds which lock and who waits for what: the locks some thread holds or waits for, the threads
// waiting for a notification, and the cycles of the wait-for graph (deadlocks).
//
// What is exact and what is not: a thread waits for a lock when the futex it sleeps on is that lock's
// (or, for locks written in Python and for conditions, when it runs their acquire or wait method);
// a lock is held by a thread when the lock records its owner (RLock, import locks) or when one of the
// thread's frames is inside a `with` block of it. A plain Lock taken with acquire() records nobody:
// it is reported locked with its holder unknown, never attributed on a guess.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "locks/lock_objects.hpp"
#include "target/target.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
struct PyStack;
struct ThreadState;

// What the analysis needs of one thread.
struct LockThread {
  const ThreadState* state = nullptr;
  std::optional<BlockedSyscall> syscall;  // the system call it sleeps in (target/blocked_syscall.hpp)
  const PyStack* stack = nullptr;         // innermost first
};

// A thread, and the frame of it that holds or waits (an index into its stack; nullopt when no
// frame can be named, e.g. an RLock taken with acquire()).
struct ThreadAt {
  std::size_t thread = 0;  // index into the threads given
  std::optional<std::size_t> frame;
};

struct LockInfo {
  LockState state;
  std::string name;  // "service.db_lock", "Pool._lock", or "" when nothing names it
  std::vector<ThreadAt> holders;
  bool holder_known = false;  // false for a locked lock nobody can be named for
  std::vector<ThreadAt> waiters;
};

// A Condition some thread waits on, or a primitive built on one (Event, Semaphore, Barrier, Queue).
struct ConditionInfo {
  uint64_t address = 0;  // the primitive the thread called (the Event, the Queue...)
  std::string type;
  std::string name;
  uint64_t condition = 0;  // the Condition it waits on underneath (== address for a bare Condition)
  std::vector<ThreadAt> waiters;
};

// A thread waiting in Thread.join for another to end.
struct JoinInfo {
  ThreadAt waiter;
  uint64_t ident = 0;                 // the joined thread's ident
  std::optional<std::size_t> joined;  // its index, when it is still one of the threads
};

struct Deadlock {
  std::vector<std::size_t> threads;  // in wait order: each waits for something the next holds
  std::vector<uint64_t> locks;       // what threads[i] waits for (0 for a join)
};

struct LockReport {
  std::vector<LockInfo> locks;
  std::vector<ConditionInfo> conditions;
  std::vector<JoinInfo> joins;
  std::vector<Deadlock> deadlocks;
  // Per thread: the index in `locks` of the lock it waits for, if any.
  std::vector<std::optional<std::size_t>> waiting_for;
  std::vector<std::string> warnings;  // what could not be read (a lock, a frame), with where
};

struct LockOptions {
  // Every lock some thread holds, not only those some thread waits for: every frame's with blocks,
  // and the locks among every module's globals (a lock held through acquire() that nobody waits for).
  bool find_held = true;
};

LockReport analyze_locks(PythonProcess& proc, Objects& objects, const std::vector<LockThread>& threads,
                         const LockOptions& options = {});

}  // namespace pyxray
