#include "locks/lock_objects.hpp"

#include "base/limits.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "target/static_symbol.hpp"

namespace pyxray {

const char* lock_kind_name(LockKind k) {
  switch (k) {
    case LockKind::Lock: return "lock";
    case LockKind::RLock:
    case LockKind::PyRLock: return "rlock";
    case LockKind::ModuleLock: return "module_lock";
    case LockKind::ImportLock: return "import_lock";
  }
  return "lock";
}

namespace {

// The owner attribute of a lock written in Python: a thread ident, or None when nobody owns it.
Expected<std::optional<uint64_t>> owner_attr(Objects& objects, uint64_t obj, std::string_view name) {
  PYX_TRY(value, objects.instance_attr(obj, name));
  if (!value) return fail(std::string(name) + " is missing");
  PYX_TRY(type, objects.type_name(*value));
  if (type == "NoneType") return std::optional<uint64_t>();
  PYX_TRY(ident, objects.read_int(*value));
  return std::optional<uint64_t>(static_cast<uint64_t>(ident));
}

// A count kept as an int (<= 3.11's _ModuleLock, 2.7's _RLock) or as a list of one entry per
// acquisition (3.12+'s _ModuleLock).
Expected<uint64_t> count_attr(PythonProcess& proc, Objects& objects, uint64_t obj, std::string_view name) {
  PYX_TRY(value, objects.instance_attr(obj, name));
  if (!value) return fail(std::string(name) + " is missing");
  PYX_TRY(type, objects.type_name(*value));
  if (type == "list") {
    const Layout& L = proc.layout();
    PYX_TRY(size, proc.mem().read<int64_t>(*value + L.varobject_ob_size));
    if (size < 0 || size > limits().container_items) return fail("implausible list length");
    return static_cast<uint64_t>(size);
  }
  PYX_TRY(count, objects.read_int(*value));
  if (count < 0) return fail(std::string(name) + " is negative");
  return static_cast<uint64_t>(count);
}

// A lock written in Python records its owner and count in attributes: locked when both say so.
Expected<LockState> with_owner(PythonProcess& proc, Objects& objects, LockState s, std::string_view owner_name,
                               std::string_view count_name) {
  PYX_TRY(owner, owner_attr(objects, s.address, owner_name));
  PYX_TRY(count, count_attr(proc, objects, s.address, count_name));
  s.count = count;
  s.locked = count > 0 && owner;
  if (s.locked) s.owner = owner;
  return s;
}

Expected<LockState> read_thread_lock(PythonProcess& proc, LockState s) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  if (L.lock_lock_lock != kAbsent) {
    PYX_TRY(sem, m.read_ptr(s.address + L.lock_lock_lock));
    if (!sem) return fail("lock without a semaphore");
    s.wait_key = sem;
    if (L.lock_locked != kAbsent) {
      PYX_TRY(locked, m.read<uint8_t>(s.address + L.lock_locked));
      s.locked = locked != 0;
    } else {
      // 2.7 keeps no flag: the semaphore's value (the low 32 bits of glibc's sem_t) is 0 when taken.
      PYX_TRY(value, m.read<uint32_t>(sem));
      s.locked = value == 0;
    }
  } else if (L.lock_mutex != kAbsent) {
    PYX_TRY(bits, m.read<uint8_t>(s.address + L.lock_mutex));
    s.wait_key = s.address + static_cast<uint64_t>(L.lock_mutex);
    s.locked = (bits & 1) != 0;
  } else {
    return fail("no layout for lock objects");
  }
  s.count = s.locked ? 1 : 0;
  return s;
}

Expected<LockState> read_thread_rlock(PythonProcess& proc, LockState s) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  uint64_t owner = 0;
  if (L.rlock_rlock_lock != kAbsent && L.rlock_owner != kAbsent && L.rlock_count != kAbsent) {
    PYX_TRY(sem, m.read_ptr(s.address + L.rlock_rlock_lock));
    if (!sem) return fail("rlock without a semaphore");
    s.wait_key = sem;
    PYX_TRY(o, m.read<uint64_t>(s.address + L.rlock_owner));
    PYX_TRY(count, m.read<uint64_t>(s.address + L.rlock_count));
    owner = o;
    s.count = count;
    s.locked = count > 0;
  } else if (L.rlock_mutex != kAbsent && L.rlock_thread != kAbsent && L.rlock_level != kAbsent) {
    PYX_TRY(bits, m.read<uint8_t>(s.address + L.rlock_mutex));
    PYX_TRY(thread, m.read<uint64_t>(s.address + L.rlock_thread));
    PYX_TRY(level, m.read<uint64_t>(s.address + L.rlock_level));
    s.wait_key = s.address + static_cast<uint64_t>(L.rlock_mutex);
    s.locked = (bits & 1) != 0;
    owner = thread;
    s.count = s.locked ? level + 1 : 0;  // level counts the re-entries after the first acquire
  } else {
    return fail("no layout for rlock objects");
  }
  if (s.locked && s.count > static_cast<uint64_t>(limits().container_items)) return fail("implausible recursion count");
  if (s.locked && owner) s.owner = owner;
  return s;
}

}  // namespace

Expected<std::optional<LockState>> read_lock(PythonProcess& proc, Objects& objects, uint64_t obj) {
  PYX_TRY(type, objects.type_name(obj));
  LockState s;
  s.address = obj;
  s.type = type;
  if (type == "_thread.lock" || type == "thread.lock") {
    s.kind = LockKind::Lock;
    PYX_TRY(r, read_thread_lock(proc, std::move(s)));
    return std::optional<LockState>(std::move(r));
  }
  if (type == "_thread.RLock") {
    s.kind = LockKind::RLock;
    PYX_TRY(r, read_thread_rlock(proc, std::move(s)));
    return std::optional<LockState>(std::move(r));
  }
  if (type == "_RLock") {
    PYX_TRY(block, objects.instance_attr(obj, "_RLock__block"));
    if (!block) return std::optional<LockState>();  // some other class of that name
    s.kind = LockKind::PyRLock;
    s.inner = *block;
    PYX_TRY(r, with_owner(proc, objects, std::move(s), "_RLock__owner", "_RLock__count"));
    return std::optional<LockState>(std::move(r));
  }
  if (type == "_ModuleLock") {
    PYX_TRY(inner, objects.instance_attr(obj, "wakeup"));
    PYX_TRY(name, objects.instance_attr(obj, "name"));
    if (!inner || !name) return std::optional<LockState>();
    s.kind = LockKind::ModuleLock;
    s.inner = *inner;
    s.module = objects.read_text(*name, static_cast<std::size_t>(limits().repr_string)).value_or("");
    PYX_TRY(r, with_owner(proc, objects, std::move(s), "owner", "count"));
    return std::optional<LockState>(std::move(r));
  }
  return std::optional<LockState>();
}

std::optional<LockState> import_lock(PythonProcess& proc) {
  Target& t = proc.target();
  auto lock = static_symbol(t, "import_lock");
  auto thread = static_symbol(t, "import_lock_thread");
  auto level = static_symbol(t, "import_lock_level");
  if (!lock || !thread || !level) return std::nullopt;
  Memory& m = proc.mem();
  auto sem = m.read_ptr(*lock);
  auto owner = m.read<uint64_t>(*thread);  // a long (2.7) or unsigned long: -1 / ~0 when nobody holds it
  auto count = m.read<int32_t>(*level);
  if (!sem || !*sem || !owner || !count) return std::nullopt;
  LockState s;
  s.address = *lock;
  s.kind = LockKind::ImportLock;
  s.type = "import lock";
  s.wait_key = *sem;
  s.locked = *owner != ~uint64_t{0} && *count > 0;
  if (s.locked) {
    s.owner = *owner;
    s.count = static_cast<uint64_t>(*count);
  }
  return s;
}

std::optional<uint64_t> parked_on(PythonProcess& proc, uint64_t semaphore) {
  const Layout& L = proc.layout();
  if (L.wait_entry_addr == kAbsent || L.wait_entry_sema == kAbsent) return std::nullopt;
  auto addr = proc.mem().read_ptr(semaphore - static_cast<uint64_t>(L.wait_entry_sema) +
                                  static_cast<uint64_t>(L.wait_entry_addr));
  if (!addr || !*addr) return std::nullopt;
  return *addr;
}

}  // namespace pyxray
