// The Python frame the user is looking at: the selected thread's stack and the frame py-up/py-down
// chose in it (the innermost one until they move).
#pragma once

#include <memory>

#include "code.hpp"
#include "expected.hpp"
#include "frames.hpp"
#include "objects.hpp"
#include "thread_report.hpp"

namespace pyxray {

class Session;
class PythonProcess;

// Everything needed to decode one frame, alive for one command.
struct FrameContext {
  PythonProcess* proc = nullptr;
  std::unique_ptr<Objects> objects;
  std::unique_ptr<CodeCache> codes;
  ThreadReport thread;
  int index = 0;
  const PyFrame& frame() const { return thread.stack.frames[static_cast<std::size_t>(index)]; }
};

// The selected thread's stack with the selection applied (reset to the innermost frame when the
// thread or its stack changed). Fails when the thread has no Python frames.
Expected<FrameContext> selected_frame(Session& session);

// "#2 File "x.py", line 7, in f" and, when readable, the source line under it.
std::string describe_frame(Target& target, const PyFrame& frame, int index);

}  // namespace pyxray
