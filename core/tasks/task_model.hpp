// What py-tasks reports: the stacks that are not threads. asyncio tasks (each one a chain of suspended
// coroutines hanging off a Task object) and greenlets (each one a saved slice of a thread's stack).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "interp/frames.hpp"

namespace pyxray {

// A Task's fut_state, as asyncio names it; Running is a pending task whose coroutine is on a thread's
// stack now.
enum class TaskState { Pending, Running, Cancelled, Done, Unknown };
const char* task_state_name(TaskState s);  // "pending", "running", "cancelled", "done", "unknown"

// A future a task is suspended on, when it is not itself a task: a plain Future (a queue's getter, a
// sleep's timer), a gather's outer future, a shield's.
struct AwaitedFuture {
  uint64_t address = 0;
  std::string type;
};

struct AsyncTask {
  uint64_t address = 0;
  std::string type;  // "_asyncio.Task", or a subclass's name
  std::string name;  // Task.get_name(); "" before 3.8, where tasks have no names
  TaskState state = TaskState::Unknown;
  uint64_t loop = 0;
  // The thread whose event loop runs it (its native id, else its pthread ident in thread_ident), or
  // nullopt when no thread is running that loop now.
  std::optional<int64_t> thread;
  std::optional<uint64_t> thread_ident;
  bool running = false;  // its coroutine is on that thread's stack now
  // Its coroutine chain, innermost first: for a suspended task, each awaiting coroutine's own frame
  // following cr_await; for the running task, the thread's frames down to the task's coroutine.
  std::vector<PyFrame> stack;
  std::optional<AwaitedFuture> waiting_on;  // the future its innermost await is on (fut_waiter)
  std::vector<uint64_t> awaits;             // tasks it waits for (directly, gather, TaskGroup, shield, wait_for)
  std::vector<uint64_t> awaited_by;         // tasks waiting for it
  std::vector<std::string> warnings;        // what could not be read about this task
};

struct Greenlet {
  uint64_t address = 0;
  std::string type;               // "greenlet.greenlet", "gevent._gevent_cgreenlet.Greenlet", ...
  std::string name;               // gevent's Greenlet.name, a greenlet's own name where it has one, else ""
  std::string state;              // "running", "suspended", "not_started", "dead"
  std::optional<int64_t> thread;  // the thread it belongs to (native id), when known
  bool running = false;           // it is the greenlet running on that thread now
  std::vector<PyFrame> stack;     // innermost first: its saved frames, or the thread's when running
  std::vector<std::string> warnings;
};

struct TasksReport {
  bool asyncio = false;   // the process imported asyncio
  bool greenlet = false;  // the process imported greenlet
  std::vector<AsyncTask> tasks;
  std::vector<Greenlet> greenlets;
  std::vector<std::vector<uint64_t>> deadlocks;  // cycles of tasks awaiting each other
  std::vector<std::string> warnings;
};

}  // namespace pyxray
