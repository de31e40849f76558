// Everything py-bt-all shows about one thread: ids, names, GIL, and its Python stack.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "base/limits.hpp"
#include "interp/frames.hpp"
#include "interp/native_merge.hpp"
#include "interp/threads.hpp"
#include "locks/lock_report.hpp"
#include "target/core_notes.hpp"
#include "target/target.hpp"
#include "tasks/task_model.hpp"

namespace pyxray {

class PythonProcess;
class CodeCache;
class Objects;

// What a thread is doing, as far as the version and the debugger let us know.
enum class ThreadStatus { Unknown, Running, GarbageCollecting, WaitingForGil, Idle };
const char* status_name(ThreadStatus s);  // "running", "gc", "waiting_for_gil", "idle", "unknown"

struct LocalRepr {
  std::string name;
  std::string repr;
};

// The context managers a frame's active `with` blocks entered (interp/with_blocks.hpp), outermost
// first, or why they could not be read.
struct FrameEntered {
  std::vector<uint64_t> managers;
  std::optional<std::string> error;
};

struct ThreadReport {
  ThreadState state;
  ThreadStatus status = ThreadStatus::Unknown;
  std::optional<int64_t> native_id;  // from the thread state (3.8+) or matched through the debugger
  // The thread's id in its own PID namespace, where that is not native_id (the host's, which the
  // debugger shows): a process in a container.
  std::optional<int64_t> namespace_id;
  std::string name;  // threading name, else the OS name, else ""
  PyStack stack;
  std::vector<std::vector<LocalRepr>> locals;  // per Python frame, with --locals
  std::vector<FrameEntered> entered;           // per Python frame, with ReportOptions::entered
  std::optional<MixedStack> mixed;             // with --native
  std::optional<BlockedSyscall> syscall;       // the system call it sleeps in, with `syscalls`
};

// A core file's account of the process it holds (target/core_notes.hpp).
struct CoreOrigin {
  std::string path;
  CoreNotes notes;
};

struct ProcessReport {
  int pid = 0;
  std::optional<CoreOrigin> core;  // for a core file whose notes could be read
  std::string python;              // version text
  bool free_threaded = false;
  std::vector<ThreadReport> threads;
  std::vector<std::string> warnings;
  // With ReportOptions::locks: who waits for which lock, indexed like `threads`.
  std::optional<LockReport> locks;
  // With ReportOptions::tasks: every asyncio task and greenlet.
  std::optional<TasksReport> tasks;
};

struct ReportOptions {
  int max_frames = static_cast<int>(limits().frames);
  std::optional<int64_t> only_native_id;  // py-bt: just the selected thread
  bool locals = false;
  bool entered = false;  // each frame's entered context managers (py-bt-all --json)
  bool native = false;
  std::size_t max_native_frames = static_cast<std::size_t>(limits().native_frames);
  bool syscalls = false;            // which system call each thread is in (for --json)
  bool locks = false;               // the locks threads wait for, and who holds them (all threads only)
  bool all_locks = false;           // with `locks`: every lock held, whether or not anyone waits (py-locks)
  bool tasks = false;               // asyncio tasks and greenlets (all threads only)
  bool include_done_tasks = false;  // with `tasks`: finished tasks still alive too
};

// Native frames looked at to tell a thread waiting for the GIL from an idle one: take_gil sits a few
// frames under the futex wait.
inline constexpr std::size_t kStatusNativeFrames = 16;

Expected<ProcessReport> collect_report(PythonProcess& proc, Objects& objects, CodeCache& codes,
                                       const ReportOptions& options);

}  // namespace pyxray
