#include "report/thread_report.hpp"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/code.hpp"
#include "interp/locals.hpp"
#include "interp/modules.hpp"
#include "interp/native_merge.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "interp/with_blocks.hpp"
#include "repr/repr.hpp"
#include "target/blocked_syscall.hpp"
#include "target/pid_namespace.hpp"
#include "target/static_symbol.hpp"
#include "tasks/asyncio_tasks.hpp"
#include "tasks/greenlets.hpp"

namespace pyxray {
namespace {

// threading._active: {ident: Thread}, and each Thread's _name. Best effort: a missing or odd threading
// module only costs the names.
std::unordered_map<uint64_t, std::string> threading_names(PythonProcess& proc, Objects& objects, uint64_t interp) {
  std::unordered_map<uint64_t, std::string> names;
  uint64_t modules = sys_modules(proc, interp).value_or(0);
  if (!modules) return names;
  auto threading = objects.dict_get_str(modules, "threading");
  if (!threading || !*threading) return names;
  auto active = objects.instance_attr(**threading, "_active");
  if (!active || !*active) return names;
  (void)objects.dict_items(**active, [&](uint64_t key, uint64_t thread) {
    auto ident = objects.read_int(key);
    if (!ident) return true;
    // 2.7 keeps the name in a private, name-mangled attribute.
    auto name_obj = objects.instance_attr(thread, "_name");
    if (name_obj && !*name_obj) name_obj = objects.instance_attr(thread, "_Thread__name");
    if (name_obj && *name_obj) {
      if (auto text = objects.read_text(**name_obj, static_cast<std::size_t>(limits().thread_name_length)))
        names[static_cast<uint64_t>(*ident)] = *text;
    }
    // Every name, not only as many as the threads limit: the threads shown need not come first.
    return true;
  });
  return names;
}

bool gc_collecting(PythonProcess& proc, uint64_t interp) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  if (L.interp_gc_collecting != kAbsent) return m.read<int32_t>(interp + L.interp_gc_collecting).value_or(0) == 1;
  if (L.runtime_gc_collecting != kAbsent && proc.runtime_addr())
    return m.read<int32_t>(proc.runtime_addr() + L.runtime_gc_collecting).value_or(0) == 1;
  // 2.7 and 3.6 keep the flag in gcmodule.c's static `collecting`, known only from the symbol table.
  if (auto addr = static_symbol(proc.target(), "collecting")) return m.read<int32_t>(*addr).value_or(0) == 1;
  return false;
}

bool is_libc(const NativeFrame& f) {
  std::string_view lib = f.library;
  if (auto slash = lib.rfind('/'); slash != std::string_view::npos) lib.remove_prefix(slash + 1);
  return lib.starts_with("libc.so") || lib.starts_with("libpthread") || lib.starts_with("ld-linux");
}

// Whether a thread without the GIL is blocked in the interpreter's own wait for it. With symbols
// that is take_gil (3.x, a static function). Without them: 3.x waits on the GIL's condition
// variable, the only pthread_cond_timedwait that the interpreter itself calls on Linux (its locks
// use semaphores), so a timed condition wait called straight from the object that holds the
// evaluation loop is the GIL. 2.7's GIL is a plain lock taken by the exported functions below.
bool waiting_for_gil(const std::vector<NativeFrame>& frames) {
  for (const auto& f : frames)
    if (f.function.find("take_gil") != std::string::npos) return true;
  std::size_t first = 0;
  bool cond_wait = false;
  for (; first < frames.size() && is_libc(frames[first]); ++first)
    cond_wait |= frames[first].function.find("pthread_cond_timedwait") != std::string::npos ||
                 frames[first].function.find("pthread_cond_clockwait") != std::string::npos;
  if (first == frames.size()) return false;
  const NativeFrame& caller = frames[first];
  if (caller.function == "PyThread_acquire_lock" && first + 1 < frames.size()) {
    const std::string& next = frames[first + 1].function;
    return next == "PyEval_EvalFrameEx" || next == "PyEval_RestoreThread" || next == "PyEval_AcquireThread" ||
           next == "PyEval_AcquireLock" || next == "PyGILState_Ensure";
  }
  if (!cond_wait) return false;
  for (const auto& f : frames)
    if (is_eval_frame(f)) return f.library == caller.library;
  return false;
}

// Holding the GIL means running Python (or collecting garbage); without it, a thread either waits
// for the GIL or is idle in a blocking call.
ThreadStatus thread_status(PythonProcess& proc, const ThreadReport& r, bool gil_held,
                           const std::optional<std::vector<NativeFrame>>& native) {
  if (!proc.traits().has_gil) {
    // No GIL: every attached thread runs Python at once; a detached one is blocked outside Python,
    // a suspended one is parked by another thread's stop-the-world pause.
    if (!r.state.run_state) return ThreadStatus::Unknown;
    if (*r.state.run_state != kThreadAttached) return ThreadStatus::Idle;
    return gc_collecting(proc, r.state.interp) ? ThreadStatus::GarbageCollecting : ThreadStatus::Running;
  }
  if (r.state.holds_gil)
    return gc_collecting(proc, r.state.interp) ? ThreadStatus::GarbageCollecting : ThreadStatus::Running;
  // A free GIL has no waiters (a waiter takes it at once), so nobody needs unwinding then.
  if (!gil_held) return ThreadStatus::Idle;
  if (!native) return ThreadStatus::Unknown;
  return waiting_for_gil(*native) ? ThreadStatus::WaitingForGil : ThreadStatus::Idle;
}

std::vector<std::vector<LocalRepr>> frame_local_reprs(PythonProcess& proc, Objects& objects, const PyStack& stack) {
  std::vector<std::vector<LocalRepr>> out;
  for (const auto& f : stack.frames) {
    std::vector<LocalRepr> vars;
    if (auto locals = frame_locals(proc, objects, f)) {
      for (const auto& v : *locals) vars.push_back({v.name, safe_repr(proc, objects, v.value)});
    }
    out.push_back(std::move(vars));
  }
  return out;
}

std::vector<FrameEntered> frame_entered(PythonProcess& proc, Objects& objects, const PyStack& stack) {
  std::vector<FrameEntered> out;
  for (const auto& f : stack.frames) {
    FrameEntered e;
    if (auto contexts = entered_contexts(proc, objects, f)) {
      for (const auto& c : *contexts) e.managers.push_back(c.manager);
    } else {
      e.error = contexts.error().message;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

const char* status_name(ThreadStatus s) {
  switch (s) {
    case ThreadStatus::Running: return "running";
    case ThreadStatus::GarbageCollecting: return "gc";
    case ThreadStatus::WaitingForGil: return "waiting_for_gil";
    case ThreadStatus::Idle: return "idle";
    case ThreadStatus::Unknown: break;
  }
  return "unknown";
}

// Every asyncio task and greenlet, from the threads as the report found them (their native ids matched
// through the debugger where the thread state has none).
TasksReport collect_tasks(PythonProcess& proc, Objects& objects, CodeCache& codes, const ProcessReport& report,
                          const ReportOptions& options) {
  std::vector<ThreadState> threads;
  std::vector<PyStack> stacks;
  for (const auto& t : report.threads) {
    threads.push_back(t.state);
    threads.back().native_id = t.native_id;
    stacks.push_back(t.stack);
  }
  TasksReport tasks;
  TaskOptions task_options;
  task_options.include_done = options.include_done_tasks;
  if (auto found = find_tasks(proc, objects, codes, threads, stacks, task_options, tasks); !found)
    tasks.warnings.push_back("asyncio tasks: " + found.error().message);
  if (auto found = find_greenlets(proc, objects, codes, threads, tasks); !found)
    tasks.warnings.push_back("greenlets: " + found.error().message);
  return tasks;
}

Expected<ProcessReport> collect_report(PythonProcess& proc, Objects& objects, CodeCache& codes,
                                       const ReportOptions& options) {
  PYX_TRY(states, thread_states(proc));
  ProcessReport report;
  report.pid = proc.target().pid();
  report.python = proc.version().text();
  report.free_threaded = proc.layout_sources().free_threaded;
  if (states.warning) report.warnings.push_back(*states.warning);

  std::vector<NativeThread> native = proc.target().threads();
  std::unordered_map<int64_t, const NativeThread*> by_tid;
  std::unordered_map<uint64_t, const NativeThread*> by_pthread;
  for (const auto& t : native) {
    by_tid[t.tid] = &t;
    if (t.pthread_id) by_pthread[*t.pthread_id] = &t;
  }

  // A process in another PID namespace numbers its threads its own way: translated to the host's.
  const auto host_tids = proc.target().is_live_local() ? host_tids_by_namespace_tid(proc.target().pid())
                                                       : std::unordered_map<int64_t, int64_t>{};

  std::unordered_map<uint64_t, std::unordered_map<uint64_t, std::string>> names_by_interp;
  std::unordered_map<uint64_t, bool> gil_held;  // per interpreter
  for (const auto& t : states.threads) gil_held[t.interp] |= t.holds_gil;
  // The thread list is newest first; show the oldest (usually the main thread) first.
  for (auto it = states.threads.rbegin(); it != states.threads.rend(); ++it) {
    ThreadReport r;
    r.state = *it;
    r.native_id = it->native_id;
    if (r.native_id && !by_tid.contains(*r.native_id)) {
      if (auto h = host_tids.find(*r.native_id); h != host_tids.end()) {
        r.namespace_id = r.native_id;
        r.native_id = h->second;
      }
    }
    const NativeThread* os_thread = nullptr;
    if (r.native_id) {
      if (auto f = by_tid.find(*r.native_id); f != by_tid.end()) os_thread = f->second;
    } else if (auto f = by_pthread.find(it->thread_id); f != by_pthread.end()) {
      os_thread = f->second;
      r.native_id = os_thread->tid;
    }
    if (options.only_native_id && r.native_id != options.only_native_id) continue;
    auto names = names_by_interp.find(it->interp);
    if (names == names_by_interp.end())
      names = names_by_interp.emplace(it->interp, threading_names(proc, objects, it->interp)).first;
    if (auto n = names->second.find(it->thread_id); n != names->second.end()) {
      r.name = n->second;
    } else if (os_thread) {
      r.name = os_thread->name;
    }
    r.stack = walk_stack(proc, codes, *it, options.max_frames);
    std::optional<std::vector<NativeFrame>> native;
    if (r.native_id && (options.native || (!it->holds_gil && gil_held[it->interp]))) {
      native =
          proc.target().native_frames(*r.native_id, options.native ? options.max_native_frames : kStatusNativeFrames);
      if (native) name_eval_loop_frames(proc.eval_loop_code(), *native);
    }
    r.status = thread_status(proc, r, gil_held[it->interp], native);
    if (options.native) {
      if (native) {
        r.mixed = merge_native(r.stack, *native, native->size() >= options.max_native_frames);
      } else {
        r.mixed =
            MixedStack{{}, "the debugger could not unwind this thread's native stack; showing Python frames only"};
        for (const auto& f : r.stack.frames) r.mixed->frames.push_back({&f, {}});
      }
    }
    if (options.locals) r.locals = frame_local_reprs(proc, objects, r.stack);
    if ((options.syscalls || options.locks) && r.native_id) r.syscall = blocked_syscall(proc.target(), *r.native_id);
    if (options.entered) r.entered = frame_entered(proc, objects, r.stack);
    report.threads.push_back(std::move(r));
  }
  // A holder may be any thread: only asked for when every thread is at hand.
  if (options.locks && !options.only_native_id) {
    std::vector<LockThread> threads;
    for (const auto& t : report.threads) threads.push_back({&t.state, t.syscall, &t.stack});
    LockOptions lock_options;
    lock_options.find_held = options.all_locks;
    report.locks = analyze_locks(proc, objects, threads, lock_options);
  }
  if (options.tasks && !options.only_native_id) report.tasks = collect_tasks(proc, objects, codes, report, options);
  return report;
}

}  // namespace pyxray
