// Interpreters and their thread states: the list every per-thread command starts from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;

struct ThreadState {
  uint64_t addr = 0;
  uint64_t interp = 0;
  uint64_t thread_id = 0;            // pthread_t, what threading.get_ident() returns
  bool readable = true;              // false when the thread state itself could not be read
  std::optional<int64_t> native_id;  // kernel tid, 3.8+
  bool holds_gil = false;
  // 3.13+: PyThreadState.state (kThreadDetached / Attached / Suspended), when the layout has it.
  // Without a GIL (free-threaded builds) it is what tells a thread running Python from an idle one.
  std::optional<int> run_state;
};

struct ThreadStates {
  std::vector<ThreadState> threads;
  std::optional<std::string> warning;  // a walk cut short by a loop or unreadable memory
};

// Both walks stop at their limits (`interpreters`, `threads`), so that a corrupt or changing target
// cannot hang the debugger.
Expected<std::vector<uint64_t>> interpreters(PythonProcess& proc);
Expected<ThreadStates> thread_states(PythonProcess& proc);

}  // namespace pyxray
