#include "report/render_stacks.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "interp/code.hpp"
#include "report/render_core.hpp"
#include "report/source_lines.hpp"
#include "target/blocked_syscall.hpp"

namespace pyxray {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kFreeThreadedNote =
    "free-threaded CPython: there is no GIL, so no thread holds it (a thread running Python is "
    "attached); the heap and allocator commands do not walk its mimalloc heap";

Json python_frame_json(const ThreadReport& t, const PyFrame& f) {
  Json j;
  j["kind"] = "python";
  j["function"] = f.code->name;
  j["qualname"] = f.code->qualname ? Json(*f.code->qualname) : Json(nullptr);
  j["file"] = f.code->filename;
  j["line"] = f.line ? Json(*f.line) : Json(nullptr);
  std::size_t index = static_cast<std::size_t>(&f - t.stack.frames.data());
  if (index < t.locals.size()) {
    Json locals = Json::object();
    for (const auto& v : t.locals[index]) locals[v.name] = v.repr;
    j["locals"] = std::move(locals);
  }
  if (index < t.entered.size()) {
    const FrameEntered& e = t.entered[index];
    if (e.error) {
      j["entered"] = nullptr;
      j["entered_error"] = *e.error;
    } else {
      Json managers = Json::array();
      for (uint64_t m : e.managers) managers.push_back(fmt::format("0x{:x}", m));
      j["entered"] = std::move(managers);
    }
  }
  return j;
}

Json native_frame_json(const NativeFrame& f) {
  return {{"kind", "native"},
          {"function", f.function.empty() ? Json(nullptr) : Json(f.function)},
          {"address", f.pc},
          {"library", f.library.empty() ? Json(nullptr) : Json(f.library)}};
}

std::string status_words(const ThreadReport& t, bool free_threaded) {
  if (free_threaded) {  // no GIL to hold
    switch (t.status) {
      case ThreadStatus::Running: return "running";
      case ThreadStatus::GarbageCollecting: return "collecting garbage";
      case ThreadStatus::Idle: return "idle";
      default: return "";
    }
  }
  switch (t.status) {
    case ThreadStatus::Running: return "running, holds the GIL";
    case ThreadStatus::GarbageCollecting: return "collecting garbage, holds the GIL";
    case ThreadStatus::WaitingForGil: return "waiting for the GIL";
    case ThreadStatus::Idle: return "idle";
    case ThreadStatus::Unknown: break;
  }
  return t.state.holds_gil ? "holds the GIL" : "";
}

// The lock thread `index` waits for, if the report knows one.
const LockInfo* lock_waited(const ProcessReport& report, std::size_t index) {
  if (!report.locks || index >= report.locks->waiting_for.size()) return nullptr;
  auto l = report.locks->waiting_for[index];
  return l ? &report.locks->locks[*l] : nullptr;
}

std::string holder_text(const ProcessReport& report, const LockInfo& l) {
  if (!l.state.locked) return "";
  if (l.holders.empty()) return l.holder_known ? " held by a thread that has ended" : " held by an unknown thread";
  const ThreadReport& h = report.threads[l.holders.front().thread];
  if (!h.name.empty()) return fmt::format(" held by \"{}\"", h.name);
  return h.native_id ? fmt::format(" held by thread {}", *h.native_id)
                     : fmt::format(" held by thread 0x{:x}", h.state.thread_id);
}

// With --async: the task the thread's event loop is running now, and how many tasks its loop has.
struct ThreadTasks {
  const AsyncTask* running = nullptr;
  uint64_t loop = 0;
  std::size_t pending = 0;
  const Greenlet* greenlet = nullptr;  // the greenlet running on the thread
};

ThreadTasks thread_tasks(const ProcessReport& report, const ThreadReport& t) {
  ThreadTasks out;
  if (!report.tasks) return out;
  for (const auto& task : report.tasks->tasks) {
    const bool mine = task.thread ? task.thread == t.native_id : task.thread_ident == t.state.thread_id;
    if (!mine) continue;
    out.loop = task.loop;
    ++out.pending;
    if (task.running) out.running = &task;
  }
  for (const auto& g : report.tasks->greenlets)
    if (g.running && g.thread && g.thread == t.native_id) out.greenlet = &g;
  return out;
}

std::string greenlet_name(const Greenlet& g) {
  return g.name.empty() ? fmt::format("{} 0x{:x}", g.type, g.address) : fmt::format("\"{}\"", g.name);
}

std::string task_name(const AsyncTask& task) {
  return task.name.empty() ? fmt::format("0x{:x}", task.address) : fmt::format("\"{}\"", task.name);
}

std::string status_text(const ProcessReport& report, std::size_t index) {
  const ThreadReport& t = report.threads[index];
  std::string words = status_words(t, report.free_threaded);
  if (report.tasks) {
    const ThreadTasks tasks = thread_tasks(report, t);
    std::string async;
    if (tasks.running) async = fmt::format("running task {}", task_name(*tasks.running));
    else if (tasks.loop)
      async = fmt::format("event loop waiting, {} task{} pending", tasks.pending, tasks.pending == 1 ? "" : "s");
    if (tasks.greenlet)
      async += (async.empty() ? "" : ", ") + fmt::format("in greenlet {}", greenlet_name(*tasks.greenlet));
    if (!async.empty()) words += (words.empty() ? "" : ", ") + async;
  }
  if (const LockInfo* l = lock_waited(report, index)) {
    if (!words.empty()) words += ", ";
    words += fmt::format("waiting for lock {} (0x{:x}){}", l->name.empty() ? l->state.type : l->name, l->state.address,
                         holder_text(report, *l));
  }
  return words.empty() ? "" : fmt::format(" ({})", words);
}

void python_frame_text(std::string& out, const ThreadReport& t, const PyFrame& f, SourceLines& sources) {
  traceback_frame_text(out, f, sources);
  std::size_t index = static_cast<std::size_t>(&f - t.stack.frames.data());
  if (index < t.locals.size()) {
    for (const auto& v : t.locals[index]) out += fmt::format("      {} = {}\n", v.name, v.repr);
  }
}

void native_frame_text(std::string& out, const NativeFrame& f) {
  std::string lib = f.library;
  if (auto slash = lib.rfind('/'); slash != std::string::npos) lib = lib.substr(slash + 1);
  out += fmt::format("  Native 0x{:x} {}{}\n", f.pc, f.function.empty() ? "??" : f.function,
                     lib.empty() ? "" : fmt::format(" ({})", lib));
}

}  // namespace

void traceback_frame_text(std::string& out, const PyFrame& f, SourceLines& sources) {
  std::string line = f.line ? fmt::format("{}", *f.line) : "?";
  out += fmt::format("  File \"{}\", line {}, in {}\n", f.code->filename, line, f.code->name);
  if (f.line) {
    if (auto src = sources.line(f.code->filename, *f.line); src && !src->empty()) out += fmt::format("    {}\n", *src);
  }
}

nlohmann::ordered_json stacks_json(const ProcessReport& report) {
  Json out;
  out["pid"] = report.pid;
  out["python"] = report.python;
  if (report.free_threaded) out["free_threaded"] = true;
  if (report.core) out["core"] = core_json(*report.core);
  Json threads = Json::array();
  for (std::size_t index : thread_order(report)) {
    const ThreadReport& t = report.threads[index];
    Json j;
    j["native_id"] = t.native_id ? Json(*t.native_id) : Json(nullptr);
    if (t.namespace_id) j["namespace_native_id"] = *t.namespace_id;
    j["thread_id"] = t.state.readable ? Json(t.state.thread_id) : Json(nullptr);
    j["name"] = t.name.empty() ? Json(nullptr) : Json(t.name);
    j["holds_gil"] = t.state.holds_gil;
    j["status"] = status_name(t.status);
    if (report.core) j["signalled"] = is_signalled_thread(report, t);
    if (t.syscall) {
      // Addresses and flags read best in hex; JSON numbers would also lose the high bits in many readers.
      Json args = Json::array();
      for (uint64_t a : t.syscall->args) args.push_back(fmt::format("0x{:x}", a));
      j["syscall"] = {
          {"name", syscall_name(t.syscall->number)}, {"number", t.syscall->number}, {"args", std::move(args)}};
      // The futex word a lock waiter sleeps on: what names the lock (py-locks matches it to its owner).
      if (auto word = futex_wait_address(*t.syscall)) j["futex"] = fmt::format("0x{:x}", *word);
    }
    if (const LockInfo* l = lock_waited(report, static_cast<std::size_t>(&t - report.threads.data()))) {
      Json held_by = nullptr;
      if (!l->holders.empty()) {
        const ThreadReport& h = report.threads[l->holders.front().thread];
        held_by = {{"native_id", h.native_id ? Json(*h.native_id) : Json(nullptr)},
                   {"name", h.name.empty() ? Json(nullptr) : Json(h.name)}};
      }
      j["waiting_for"] = {{"address", fmt::format("0x{:x}", l->state.address)},
                          {"type", l->state.type},
                          {"name", l->name.empty() ? Json(nullptr) : Json(l->name)},
                          {"held_by", std::move(held_by)}};
    }
    Json frames = Json::array();
    if (t.mixed) {
      for (const auto& m : t.mixed->frames)
        frames.push_back(m.python ? python_frame_json(t, *m.python) : native_frame_json(m.native));
    } else {
      for (const auto& f : t.stack.frames) frames.push_back(python_frame_json(t, f));
    }
    j["frames"] = std::move(frames);
    if (report.tasks) {
      const ThreadTasks tasks = thread_tasks(report, t);
      Json running = nullptr;
      if (tasks.running)
        running = {{"address", fmt::format("0x{:x}", tasks.running->address)},
                   {"name", tasks.running->name},
                   {"frames", tasks.running->stack.size()}};
      j["asyncio"] = {{"loop", tasks.loop ? Json(fmt::format("0x{:x}", tasks.loop)) : Json(nullptr)},
                      {"task", std::move(running)},
                      {"tasks", tasks.pending}};
      j["greenlet"] = tasks.greenlet ? Json{{"address", fmt::format("0x{:x}", tasks.greenlet->address)},
                                            {"name", tasks.greenlet->name},
                                            {"type", tasks.greenlet->type}}
                                     : Json(nullptr);
    }
    std::vector<std::string> warnings;
    if (t.stack.warning) warnings.push_back(*t.stack.warning);
    if (t.mixed && t.mixed->warning) warnings.push_back(*t.mixed->warning);
    if (!warnings.empty()) j["warning"] = fmt::format("{}", fmt::join(warnings, "; "));
    threads.push_back(std::move(j));
  }
  out["threads"] = std::move(threads);
  if (!report.warnings.empty()) out["warnings"] = report.warnings;
  return out;
}

std::string stacks_text(const ProcessReport& report, SourceLines& sources) {
  std::string out = core_header_text(report);
  for (const auto& w : report.warnings) out += fmt::format("pyxray: warning: {}\n", w);
  if (report.free_threaded) out += fmt::format("pyxray: note: {}\n", kFreeThreadedNote);
  bool first = true;
  for (std::size_t index : thread_order(report)) {
    const ThreadReport& t = report.threads[index];
    if (!first) out += "\n";
    first = false;
    out += "Thread ";
    out += t.native_id ? fmt::format("{}", *t.native_id) : fmt::format("0x{:x}", t.state.thread_id);
    if (t.namespace_id) out += fmt::format(" (tid {} in its PID namespace)", *t.namespace_id);
    if (!t.name.empty()) out += fmt::format(" \"{}\"", t.name);
    out += status_text(report, static_cast<std::size_t>(&t - report.threads.data()));
    out += fmt::format(" [ident 0x{:x}]", t.state.thread_id);
    if (is_signalled_thread(report, t)) out += fmt::format(" <- {}", signal_name(report.core->notes.signal->number));
    out += "\n";
    if (t.stack.frames.empty() && !t.stack.warning && !t.mixed) out += "    (no Python frames)\n";
    if (t.mixed) {
      for (const auto& m : t.mixed->frames) {
        if (m.python) python_frame_text(out, t, *m.python, sources);
        else native_frame_text(out, m.native);
      }
      if (t.mixed->warning) out += fmt::format("  pyxray: warning: {}\n", *t.mixed->warning);
    } else {
      // --async: the running task's frames are the innermost ones, down to its coroutine; the event
      // loop's own frames follow.
      const ThreadTasks tasks = thread_tasks(report, t);
      const std::size_t task_frames = tasks.running ? tasks.running->stack.size() : 0;
      if (task_frames) out += fmt::format("  Task {} (0x{:x}):\n", task_name(*tasks.running), tasks.running->address);
      for (std::size_t i = 0; i < t.stack.frames.size(); ++i) {
        if (task_frames && i == task_frames) out += fmt::format("  Event loop 0x{:x}, running it:\n", tasks.loop);
        python_frame_text(out, t, t.stack.frames[i], sources);
      }
    }
    if (t.stack.warning) out += fmt::format("  pyxray: warning: {}\n", *t.stack.warning);
  }
  return out;
}

}  // namespace pyxray
