// Every asyncio task of every event loop in the process: where each version keeps them, what each is
// doing (its coroutine chain), which thread's loop runs it, and who awaits whom.
//
// Where the tasks are (all that exist are read, so no version test is needed):
//   3.6         a C static WeakSet of _asyncio (no symbol for it): the heap is walked for Task objects
//   3.7-3.11    asyncio.tasks._all_tasks, a WeakSet
//   3.12-3.13   asyncio.tasks._scheduled_tasks (a WeakSet) and _eager_tasks (a set)
//   3.14+       a linked list per thread state (and one per interpreter for tasks of ended threads),
//               through each task's task_node; _scheduled_tasks holds tasks of other Task classes
//
// Who awaits whom is read the same way on every version, from what asyncio itself holds: a task's
// fut_waiter (the future its innermost await is on), and the done callbacks of each task and future,
// which name what is woken when it finishes: a task's wakeup method (that task awaits it directly), a
// TaskGroup's _on_task_done (its parent task), or a closure or partial holding another future (gather's
// outer future, shield's, wait_for's waiter, asyncio.wait's), which leads on to the task awaiting that.
#pragma once

#include <vector>

#include "base/expected.hpp"
#include "interp/frames.hpp"
#include "interp/threads.hpp"
#include "tasks/task_model.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
class CodeCache;

struct TaskOptions {
  bool include_done = false;  // also tasks that have finished but are still alive
};

// Fills report.asyncio, report.tasks and report.deadlocks. `stacks` are the threads' Python stacks,
// indexed like `threads`: how a running loop's thread and a running task are found.
Expected<void> find_tasks(PythonProcess& proc, Objects& objects, CodeCache& codes,
                          const std::vector<ThreadState>& threads, const std::vector<PyStack>& stacks,
                          const TaskOptions& options, TasksReport& report);

}  // namespace pyxray
