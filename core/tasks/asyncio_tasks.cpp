#include "tasks/asyncio_tasks.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "base/graph_cycles.hpp"
#include "base/limits.hpp"
#include "heap/heap_walk.hpp"
#include "heap/object_size.hpp"
#include "heap/referents.hpp"
#include "interp/code.hpp"
#include "interp/locals.hpp"
#include "interp/modules.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "tasks/await_chain.hpp"
#include "tasks/task_objects.hpp"

namespace pyxray {
namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Where a frame is on the threads' stacks.
struct StackPlace {
  std::size_t thread = 0;
  std::size_t frame = 0;
};

class TaskFinder {
 public:
  TaskFinder(PythonProcess& proc, Objects& objects, CodeCache& codes, const std::vector<ThreadState>& threads,
             const std::vector<PyStack>& stacks, const TaskOptions& options, TasksReport& report)
      : proc_(proc),
        objects_(objects),
        codes_(codes),
        threads_(threads),
        stacks_(stacks),
        options_(options),
        report_(report),
        max_tasks_(static_cast<std::size_t>(limits().tasks)) {}

  Expected<void> run() {
    PYX_TRY(interps, interpreters(proc_));
    if (interps.empty()) return {};
    interp_ = interps.front();
    PYX_TRY(modules, sys_modules(proc_, interp_));
    if (modules == 0) return {};
    PYX_TRY(asyncio, module_named(modules, "asyncio"));
    if (!asyncio) return {};  // no asyncio: nothing to list, and the report says so
    report_.asyncio = true;
    PYX_TRY(c_module, module_named(modules, "_asyncio"));
    if (!c_module) {
      report_.warnings.push_back("asyncio runs without its C module _asyncio: its pure-Python tasks are not read");
      return {};
    }
    PYX_TRY(c_dict, module_dict(proc_, *c_module));
    PYX_TRY(types, AsyncioObjects::open(proc_, objects_, c_dict));
    asyncio_.emplace(std::move(types));
    index_stacks();
    PYX_TRY(tasks_module, module_named(modules, "asyncio.tasks"));
    collect(tasks_module);
    for (uint64_t t : candidates_) read_task(t);
    link_awaits();
    find_deadlocks();
    return {};
  }

 private:
  Expected<std::optional<uint64_t>> module_named(uint64_t modules, std::string_view name) {
    PYX_TRY(module, objects_.dict_get_str(modules, name));
    if (!module) return std::optional<uint64_t>{};
    return std::optional<uint64_t>{*module};
  }

  // Every frame of every thread by address (how a running coroutine is found), and the loop each
  // thread runs: the `self` of its BaseEventLoop.run_forever frame.
  void index_stacks() {
    for (std::size_t t = 0; t < stacks_.size(); ++t) {
      const auto& frames = stacks_[t].frames;
      for (std::size_t f = 0; f < frames.size(); ++f) {
        frame_places_.emplace(frames[f].addr, StackPlace{t, f});
        const CodeInfo* code = frames[f].code;
        if (!code || code->name != "run_forever" || !ends_with(code->filename, "base_events.py")) continue;
        auto self = lookup_name(proc_, objects_, frames[f], "self");
        if (self && *self && (*self)->scope == "local") loop_threads_.emplace((*self)->value, t);
      }
    }
  }

  void add_candidate(uint64_t obj) {
    if (obj == 0 || candidates_.size() >= max_tasks_) return;
    if (seen_.insert(obj).second) candidates_.push_back(obj);
  }

  // The objects a WeakSet holds: the referents of the weak references in its `data` set.
  void weakset_items(uint64_t weakset) {
    auto data = objects_.instance_attr(weakset, "data");
    if (!data || !*data) return warn(fmt::format("the WeakSet at 0x{:x} has no data set", weakset));
    auto refs = objects_.set_keys(**data, max_tasks_);
    if (!refs) return warn(fmt::format("the WeakSet at 0x{:x}: {}", weakset, refs.error().message));
    for (uint64_t ref : *refs) {
      auto obj = proc_.mem().read_ptr(ref + proc_.layout().weakref_wr_object);
      if (obj && asyncio_->is_task(*obj)) add_candidate(*obj);
    }
  }

  // 3.14+: a circular list of llist_nodes from `head`, each inside a task at task_node.
  void task_list(uint64_t head) {
    const Layout& L = proc_.layout();
    uint64_t node = proc_.mem().read_ptr(head + L.llist_node_next).value_or(0);
    for (std::size_t n = 0; node != 0 && node != head; ++n) {
      if (n >= max_tasks_) return warn(fmt::format("task list cut at {} tasks ({})", max_tasks_, raise_hint("tasks")));
      const uint64_t task = node - static_cast<uint64_t>(L.task_node);
      if (!asyncio_->is_task(task)) return warn(fmt::format("a task list holds 0x{:x}, which is not a Task", task));
      add_candidate(task);
      auto next = proc_.mem().read_ptr(node + L.llist_node_next);
      if (!next) return warn(fmt::format("task list at 0x{:x}: {}", head, next.error().message));
      node = *next;
    }
  }

  void collect(const std::optional<uint64_t>& tasks_module) {
    const Layout& L = proc_.layout();
    bool registry = false;
    if (L.tstate_impl_asyncio_tasks_head != kAbsent && L.task_node != kAbsent && L.llist_node_next != kAbsent) {
      registry = true;
      for (const auto& t : threads_) task_list(t.addr + static_cast<uint64_t>(L.tstate_impl_asyncio_tasks_head));
      if (L.interp_asyncio_tasks_head != kAbsent)
        task_list(interp_ + static_cast<uint64_t>(L.interp_asyncio_tasks_head));
    }
    if (tasks_module) {
      if (auto dict = module_dict(proc_, *tasks_module)) {
        for (const char* name : {"_all_tasks", "_scheduled_tasks"}) {
          if (auto ws = objects_.dict_get_str(*dict, name); ws && *ws) {
            registry = true;
            weakset_items(**ws);
          }
        }
        if (auto eager = objects_.dict_get_str(*dict, "_eager_tasks"); eager && *eager) {
          registry = true;
          if (auto keys = objects_.set_keys(**eager, max_tasks_))
            for (uint64_t t : *keys)
              if (asyncio_->is_task(t)) add_candidate(t);
        }
      }
    }
    if (!registry) heap_tasks();  // 3.6: the WeakSet is a C static
  }

  void heap_tasks() {
    TypeCache types(proc_, objects_);
    ObjectSizer sizer(proc_, types);
    Referents refs(proc_, types);
    HeapWalker walker(proc_, objects_, types, sizer, refs);
    HeapWalkOptions options;
    std::unordered_map<uint64_t, bool> task_types;
    options.on_object = [&](const HeapObject& o) {
      if (!o.type) return;
      auto [it, added] = task_types.try_emplace(o.type->addr, false);
      if (added) it->second = asyncio_->is_task(o.addr);
      if (it->second) add_candidate(o.addr);
    };
    auto stats = walker.run(options);
    if (!stats) return warn("the heap could not be walked for tasks: " + stats.error().message);
    if (stats->partial) warn("the heap walk for tasks was partial: some tasks may be missing");
  }

  void read_task(uint64_t addr) {
    AsyncTask task;
    task.address = addr;
    task.type = objects_.type_name(addr).value_or("?");
    auto state = asyncio_->state(addr);
    if (!state) return warn(fmt::format("task 0x{:x}: {}", addr, state.error().message));
    task.state = *state;
    if (task.state != TaskState::Pending && !options_.include_done) return;
    if (auto name = asyncio_->name(addr)) {
      task.name = *name;
    } else {
      task.warnings.push_back("name: " + name.error().message);
    }
    task.loop = asyncio_->loop(addr).value_or(0);
    if (auto it = loop_threads_.find(task.loop); it != loop_threads_.end()) set_thread(task, it->second);
    auto coro = asyncio_->coroutine(addr);
    if (!coro) {
      task.warnings.push_back("coroutine: " + coro.error().message);
    } else if (*coro) {
      read_stack(task, *coro);
    }
    if (auto waiter = asyncio_->waiter(addr); waiter && *waiter) {
      waiters_[*waiter].push_back(addr);
      if (!asyncio_->is_task(*waiter))
        task.waiting_on = AwaitedFuture{*waiter, objects_.type_name(*waiter).value_or("?")};
    }
    index_.emplace(addr, report_.tasks.size());
    report_.tasks.push_back(std::move(task));
  }

  void set_thread(AsyncTask& task, std::size_t t) {
    task.thread = threads_[t].native_id;
    task.thread_ident = threads_[t].thread_id;
  }

  // A running task's stack is its thread's, down to its coroutine's frame; a suspended one's is its
  // chain of awaits.
  void read_stack(AsyncTask& task, uint64_t coro) {
    if (auto frame = generator_frame(proc_, objects_, coro); frame && *frame) {
      if (auto it = frame_places_.find(*frame); it != frame_places_.end()) {
        const auto& [t, f] = it->second;
        task.running = true;
        task.state = TaskState::Running;
        set_thread(task, t);
        const auto& frames = stacks_[t].frames;
        task.stack.assign(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(f + 1));
        return;
      }
    }
    AwaitChain chain = follow_awaits(proc_, objects_, codes_, coro);
    task.stack = std::move(chain.frames);
    if (chain.warning) task.warnings.push_back(*chain.warning);
  }

  // The tasks that wake when `target` (something a done callback holds) is done.
  void wakers(const CallbackTarget& target, int depth, std::set<uint64_t>& visited, std::set<uint64_t>& out) {
    if (depth > limits().await_chain || !visited.insert(target.object).second) return;
    const uint64_t obj = target.object;
    if (asyncio_->is_task(obj)) {
      // A task's own wakeup method: it awaits this directly. A task merely captured by a closure
      // (shield's callback on its outer future holds the inner task) is not waiting for anything.
      if (target.kind == CallbackTarget::Kind::Bound) out.insert(obj);
      return;
    }
    if (asyncio_->is_future(obj)) {
      if (auto it = waiters_.find(obj); it != waiters_.end()) out.insert(it->second.begin(), it->second.end());
      for (const auto& next : asyncio_->callback_targets(obj)) wakers(next, depth + 1, visited, out);
      return;
    }
    if (target.kind == CallbackTarget::Kind::Bound) {
      // A TaskGroup's _on_task_done: its parent task waits for its tasks.
      if (auto parent = objects_.instance_attr(obj, "_parent_task"); parent && *parent && asyncio_->is_task(**parent))
        out.insert(**parent);
    }
  }

  void link_awaits() {
    std::map<uint64_t, std::set<uint64_t>> awaited_by;  // task -> tasks waiting for it
    for (const auto& task : report_.tasks) {
      std::set<uint64_t> visited{task.address}, out;
      for (const auto& target : asyncio_->callback_targets(task.address)) wakers(target, 0, visited, out);
      // A task whose innermost await is on this task waits for it, callbacks or not.
      if (auto it = waiters_.find(task.address); it != waiters_.end()) out.insert(it->second.begin(), it->second.end());
      out.erase(task.address);
      awaited_by[task.address] = std::move(out);
    }
    for (auto& task : report_.tasks) {
      for (uint64_t waiter : awaited_by[task.address]) {
        if (!index_.count(waiter)) continue;  // a finished task left out of the report
        task.awaited_by.push_back(waiter);
        report_.tasks[index_[waiter]].awaits.push_back(task.address);
      }
    }
    for (auto& task : report_.tasks) std::sort(task.awaits.begin(), task.awaits.end());
  }

  void find_deadlocks() {
    std::vector<std::vector<std::size_t>> edges(report_.tasks.size());
    for (std::size_t i = 0; i < report_.tasks.size(); ++i)
      for (uint64_t a : report_.tasks[i].awaits) edges[i].push_back(index_[a]);
    for (const auto& cycle : find_cycles(edges)) {
      std::vector<uint64_t> tasks;
      for (const auto& step : cycle) tasks.push_back(report_.tasks[step.node].address);
      report_.deadlocks.push_back(std::move(tasks));
    }
  }

  void warn(std::string message) { report_.warnings.push_back(std::move(message)); }

  PythonProcess& proc_;
  Objects& objects_;
  CodeCache& codes_;
  const std::vector<ThreadState>& threads_;
  const std::vector<PyStack>& stacks_;
  const TaskOptions& options_;
  TasksReport& report_;
  const std::size_t max_tasks_;
  uint64_t interp_ = 0;
  std::optional<AsyncioObjects> asyncio_;
  std::unordered_map<uint64_t, StackPlace> frame_places_;
  std::unordered_map<uint64_t, std::size_t> loop_threads_;
  std::vector<uint64_t> candidates_;
  std::unordered_set<uint64_t> seen_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> waiters_;  // future -> tasks whose fut_waiter it is
  std::unordered_map<uint64_t, std::size_t> index_;              // task -> its index in report_.tasks
};

}  // namespace

const char* task_state_name(TaskState s) {
  switch (s) {
    case TaskState::Pending: return "pending";
    case TaskState::Running: return "running";
    case TaskState::Cancelled: return "cancelled";
    case TaskState::Done: return "done";
    case TaskState::Unknown: break;
  }
  return "unknown";
}

Expected<void> find_tasks(PythonProcess& proc, Objects& objects, CodeCache& codes,
                          const std::vector<ThreadState>& threads, const std::vector<PyStack>& stacks,
                          const TaskOptions& options, TasksReport& report) {
  return TaskFinder(proc, objects, codes, threads, stacks, options, report).run();
}

}  // namespace pyxray
