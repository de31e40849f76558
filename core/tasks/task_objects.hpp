// Reading asyncio's C Future and Task objects (Modules/_asynciomodule.c): their state, name, loop,
// coroutine, the future a task waits on, and what their done callbacks would wake.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"
#include "tasks/task_model.hpp"

namespace pyxray {

class PythonProcess;
class Objects;

// What a done callback wakes when its future finishes.
struct CallbackTarget {
  enum class Kind {
    Bound,     // the `self` of a bound method: a task's wakeup, a TaskGroup's _on_task_done
    Captured,  // a value a closure's cell or a functools.partial's arguments hold
  };
  Kind kind = Kind::Bound;
  uint64_t object = 0;
};

class AsyncioObjects {
 public:
  // The _asyncio module's Task and Future types, from its dict; an error when it cannot be read.
  static Expected<AsyncioObjects> open(PythonProcess& proc, Objects& objects, uint64_t asyncio_module_dict);

  bool is_task(uint64_t obj) { return derives_from(obj, task_type_); }
  bool is_future(uint64_t obj) { return derives_from(obj, future_type_); }  // tasks too

  // fut_state, read the same way for a Task (whose C struct starts with a Future's).
  Expected<TaskState> state(uint64_t future);
  // A task's name: its str, "Task-N" for 3.12+'s lazily named tasks; "" before 3.8.
  Expected<std::string> name(uint64_t task);
  Expected<uint64_t> loop(uint64_t future);
  Expected<uint64_t> coroutine(uint64_t task);
  // The future the task's innermost await is on; 0 when none.
  Expected<uint64_t> waiter(uint64_t task);
  // What a future's (or task's) done callbacks reference, bounded; an unreadable callback is skipped.
  std::vector<CallbackTarget> callback_targets(uint64_t future);

 private:
  AsyncioObjects(PythonProcess& proc, Objects& objects) : proc_(proc), objects_(objects) {}
  bool derives_from(uint64_t obj, uint64_t base);
  void targets_of(uint64_t callback, int depth, std::vector<CallbackTarget>& out);
  Expected<uint64_t> field(uint64_t obj, int64_t offset);

  PythonProcess& proc_;
  Objects& objects_;
  uint64_t task_type_ = 0;
  uint64_t future_type_ = 0;
  uint64_t none_ = 0;
  std::unordered_map<uint64_t, std::vector<uint64_t>> bases_;  // type -> its tp_base chain
};

}  // namespace pyxray
