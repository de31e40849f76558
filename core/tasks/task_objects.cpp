#include "tasks/task_objects.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"

namespace pyxray {
namespace {

// Subclassing depth followed up tp_base: deeper chains are not real classes.
constexpr int kMaxBases = 32;
// Callbacks nest (a partial of a bound method, ...) only a few levels in practice.
constexpr int kMaxCallbackDepth = 3;
// A future with more callbacks than this is not read past it.
constexpr std::size_t kMaxCallbacks = 4096;

}  // namespace

Expected<AsyncioObjects> AsyncioObjects::open(PythonProcess& proc, Objects& objects, uint64_t asyncio_module_dict) {
  const Layout& L = proc.layout();
  if (L.task_coro == kAbsent || L.task_state == kAbsent || L.future_state == kAbsent)
    return fail("pyxray does not know where this CPython's asyncio Task keeps its state");
  AsyncioObjects a(proc, objects);
  PYX_TRY(task, objects.dict_get_str(asyncio_module_dict, "Task"));
  PYX_TRY(future, objects.dict_get_str(asyncio_module_dict, "Future"));
  if (!task || !future) return fail("the _asyncio module has no Task or Future type");
  a.task_type_ = *task;
  a.future_type_ = *future;
  a.none_ = proc.type_addr("_Py_NoneStruct");
  return a;
}

bool AsyncioObjects::derives_from(uint64_t obj, uint64_t base) {
  auto type = objects_.type_of(obj);
  if (!type) return false;
  auto it = bases_.find(*type);
  if (it == bases_.end()) {
    std::vector<uint64_t> chain;
    const int64_t tp_base = proc_.layout().type_tp_base;
    for (uint64_t t = *type; t != 0 && static_cast<int>(chain.size()) < kMaxBases;) {
      chain.push_back(t);
      if (tp_base == kAbsent) break;
      t = proc_.mem().read_ptr(t + tp_base).value_or(0);
    }
    it = bases_.emplace(*type, std::move(chain)).first;
  }
  return std::find(it->second.begin(), it->second.end(), base) != it->second.end();
}

Expected<uint64_t> AsyncioObjects::field(uint64_t obj, int64_t offset) {
  if (offset == kAbsent) return uint64_t{0};
  PYX_TRY(value, proc_.mem().read_ptr(obj + static_cast<uint64_t>(offset)));
  return value == none_ ? 0 : value;
}

Expected<TaskState> AsyncioObjects::state(uint64_t future) {
  PYX_TRY(state, proc_.mem().read<int32_t>(future + proc_.layout().future_state));
  switch (state) {  // fut_state: STATE_PENDING, STATE_CANCELLED, STATE_FINISHED
    case 0: return TaskState::Pending;
    case 1: return TaskState::Cancelled;
    case 2: return TaskState::Done;
    default: return fail(fmt::format("future 0x{:x} has an unknown state {}", future, state));
  }
}

Expected<std::string> AsyncioObjects::name(uint64_t task) {
  PYX_TRY(name, field(task, proc_.layout().task_name));
  if (name == 0) return std::string();
  PYX_TRY(type, objects_.type_name(name));
  if (type == "int") {  // 3.12+ names a task only when asked: until then it holds the task's number
    PYX_TRY(n, objects_.read_int(name));
    return fmt::format("Task-{}", n);
  }
  return objects_.read_text(name, static_cast<std::size_t>(limits().name_length));
}

Expected<uint64_t> AsyncioObjects::loop(uint64_t future) { return field(future, proc_.layout().future_loop); }
Expected<uint64_t> AsyncioObjects::coroutine(uint64_t task) { return field(task, proc_.layout().task_coro); }
Expected<uint64_t> AsyncioObjects::waiter(uint64_t task) { return field(task, proc_.layout().task_fut_waiter); }

std::vector<CallbackTarget> AsyncioObjects::callback_targets(uint64_t future) {
  const Layout& L = proc_.layout();
  std::vector<uint64_t> callbacks;
  // 3.7+ keeps the first callback apart (with its context) and the rest in a list of (callback,
  // context) tuples; 3.6 a list of callbacks.
  if (auto first = field(future, L.future_callback0); first && *first) callbacks.push_back(*first);
  if (auto list = field(future, L.future_callbacks); list && *list) {
    if (auto items = objects_.sequence_items(*list, kMaxCallbacks)) {
      for (uint64_t item : *items) {
        if (objects_.type_name(item).value_or("") == "tuple") {
          auto pair = objects_.sequence_items(item, 1);
          if (pair && !pair->empty()) callbacks.push_back(pair->front());
        } else {
          callbacks.push_back(item);
        }
      }
    }
  }
  std::vector<CallbackTarget> out;
  for (uint64_t cb : callbacks) targets_of(cb, 0, out);
  return out;
}

void AsyncioObjects::targets_of(uint64_t callback, int depth, std::vector<CallbackTarget>& out) {
  if (callback == 0 || depth > kMaxCallbackDepth) return;
  const Layout& L = proc_.layout();
  auto type = objects_.type_name(callback);
  if (!type) return;
  auto bound = [&](int64_t offset) {
    if (auto self = field(callback, offset); self && *self) out.push_back({CallbackTarget::Kind::Bound, *self});
  };
  if (*type == "method") return bound(L.method_im_self);
  if (*type == "builtin_function_or_method") return bound(L.cfunction_m_self);  // 3.10+: Task's wakeup
  if (*type == "TaskWakeupMethWrapper") return bound(L.task_wakeup_ww_task);    // <= 3.9
  if (*type == "function") {
    auto closure = field(callback, L.function_func_closure);
    if (!closure || *closure == 0) return;
    auto cells = objects_.sequence_items(*closure, kMaxCallbacks);
    if (!cells) return;
    for (uint64_t cell : *cells) {
      if (auto value = field(cell, L.cell_ob_ref); value && *value)
        out.push_back({CallbackTarget::Kind::Captured, *value});
    }
    return;
  }
  if (*type == "functools.partial") {
    if (auto fn = field(callback, L.partial_fn); fn) targets_of(*fn, depth + 1, out);
    auto args = field(callback, L.partial_args);
    if (!args || *args == 0) return;
    if (auto items = objects_.sequence_items(*args, kMaxCallbacks)) {
      for (uint64_t a : *items) out.push_back({CallbackTarget::Kind::Captured, a});
    }
  }
}

}  // namespace pyxray
