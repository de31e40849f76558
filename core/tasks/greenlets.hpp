// Greenlets (the greenlet package, gevent's Greenlet and hub): every greenlet object in the heap, its
// state, and its saved stack.
#pragma once

#include <vector>

#include "base/expected.hpp"
#include "interp/threads.hpp"
#include "tasks/task_model.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
class CodeCache;

// Every greenlet, or an empty list when the process has not imported greenlet (report.greenlet
// says which). Bounded like every walk; what cannot be read is a warning on the greenlet or the list.
Expected<void> find_greenlets(PythonProcess& proc, Objects& objects, CodeCache& codes,
                              const std::vector<ThreadState>& threads, TasksReport& report);

}  // namespace pyxray
