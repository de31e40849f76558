// Walking a thread's Python frames, innermost first, in each of CPython's three frame models.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;
class CodeCache;
struct CodeInfo;
struct ThreadState;

struct PyFrame {
  uint64_t addr = 0;               // PyFrameObject or _PyInterpreterFrame
  const CodeInfo* code = nullptr;  // owned by the CodeCache
  uint64_t code_addr = 0;
  std::optional<int> line;
  // 3.11+: this frame was entered from C (the evaluation loop's outermost frame for one C call), the
  // boundary used when Python frames are merged into a native stack.
  bool is_entry = false;
  // Byte offset of the frame's instruction in its code, -1 before the first: <= 3.10 f_lasti (the
  // instruction running, or last run), 3.11-3.12 prev_instr (the instruction running, or one of its
  // inline cache entries), 3.13+ instr_ptr (the instruction running). Even from 3.6 on.
  int instr_offset = -1;
};

struct PyStack {
  std::vector<PyFrame> frames;
  std::optional<std::string> warning;  // why the walk stopped early, if it did
};

// Stops after max_frames (the `frames` limit by default: Python's recursion limit many times over)
// with a warning.
PyStack walk_stack(PythonProcess& proc, CodeCache& codes, const ThreadState& thread, int max_frames);

// The same walk from a frame that no thread is running: a suspended generator's or coroutine's own
// frame (its chain ends there: a suspended frame has no caller), or a greenlet's saved top frame.
// `first_frame` is a PyFrameObject (<= 3.10) or a _PyInterpreterFrame (3.11+).
PyStack walk_frames_from(PythonProcess& proc, CodeCache& codes, uint64_t first_frame, int max_frames);

}  // namespace pyxray
