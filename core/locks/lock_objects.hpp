// Reading the state of a lock object: whether it is locked, who owns it where the lock records an
// owner, and the address its waiters sleep on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;
class Objects;

enum class LockKind {
  Lock,        // _thread.lock (threading.Lock): no owner recorded
  RLock,       // _thread.RLock: owner and recursion count
  PyRLock,     // 2.7's threading._RLock, written in Python: owner and count in its attributes
  ModuleLock,  // importlib._bootstrap._ModuleLock, the per-module import lock
  ImportLock,  // the interpreter's global import lock, a C static (2.7: every import takes it)
};
const char* lock_kind_name(LockKind k);  // "lock", "rlock", "rlock", "module_lock", "import_lock"

struct LockState {
  uint64_t address = 0;
  LockKind kind = LockKind::Lock;
  std::string type;  // the type's name as Python spells it ("_thread.lock", "_ModuleLock", ...)
  bool locked = false;
  std::optional<uint64_t> owner;  // thread ident (pthread_t) of the owner, for locks that record one
  uint64_t count = 0;             // recursion count of an owned lock (1 for a plain held lock)
  // What a thread blocked acquiring it waits on: the futex word of its semaphore (<= 3.13) or its
  // PyMutex (3.14+); 0 for locks written in Python, whose waiters block on an inner lock (`inner`).
  uint64_t wait_key = 0;
  uint64_t inner = 0;  // PyRLock / ModuleLock: the _thread lock underneath
  std::string module;  // ModuleLock: the module being imported
};

// The lock at `obj`; nullopt when it is not a lock object pyxray knows. A lock whose state cannot be
// read soundly is an error, so that nobody is reported holding it on a guess.
Expected<std::optional<LockState>> read_lock(PythonProcess& proc, Objects& objects, uint64_t obj);

// The global import lock (import.c's statics import_lock, import_lock_thread and import_lock_level,
// 2.7 to 3.11), at the address of its static; nullopt when the symbol table does not name them (a
// stripped build) or the lock was never made.
std::optional<LockState> import_lock(PythonProcess& proc);

// The mutex a thread parked in CPython's parking lot (3.13+) waits for, from the address of the
// semaphore it sleeps on (inside its wait_entry, on its own stack); nullopt when the version has no
// parking lot or the entry cannot be read.
std::optional<uint64_t> parked_on(PythonProcess& proc, uint64_t semaphore);

}  // namespace pyxray
