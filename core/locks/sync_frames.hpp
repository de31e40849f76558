// What a thread is doing inside the standard library's synchronisation code, read from its innermost
// Python frames: waiting on a Condition (Event, Semaphore, Barrier and queue.Queue wait through one),
// acquiring an import lock or 2.7's Python RLock, or joining a thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pyxray {

class PythonProcess;
class Objects;
struct PyStack;

enum class SyncRole {
  ConditionWait,  // Condition.wait / wait_for: waiting for a notification
  Outer,          // a primitive built on a Condition: Event, Semaphore, Barrier, queue.Queue
  LockAcquire,    // acquiring a lock written in Python: importlib's _ModuleLock, 2.7's _RLock
  Join,           // Thread.join: waiting for another thread to end
};

struct SyncFrame {
  std::size_t frame = 0;  // index in the thread's stack, innermost first
  SyncRole role = SyncRole::Outer;
  uint64_t self = 0;  // the object the method runs on
  std::string type;   // its type's name
  // `self` is a threading.Thread (of any subclass): its ident, which Join waits to end.
  std::optional<uint64_t> thread_ident;
};

// The thread's innermost frames that run in threading, queue or importlib's bootstrap, innermost
// first, each with the role its `self` plays; empty when the innermost frame is elsewhere (the thread
// may still wait, in a C call such as lock.acquire(): see thread_waits).
std::vector<SyncFrame> sync_frames(PythonProcess& proc, Objects& objects, const PyStack& stack);

}  // namespace pyxray
