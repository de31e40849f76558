// A greenlet's Python frames: the ones it saved when it last switched out, or, for the greenlet
// running on a thread, that thread's own.
#pragma once

#include <cstdint>

#include "interp/threads.hpp"
#include "tasks/task_model.hpp"

namespace pyxray {

class PythonProcess;
class CodeCache;

// What a suspended greenlet saved: its innermost frame (3.11+: a _PyInterpreterFrame), its own
// data-stack chunks, and its slice of the C stack. greenlet shares one C stack among a thread's
// greenlets: when another one runs, the bytes of this one's slice that the other needs are copied
// to the heap ([start, start + saved) lives at `copy`), and the stack there holds someone else's.
struct SavedGreenlet {
  uint64_t current_frame = 0;
  uint64_t datastack_chunk = 0;
  uint64_t stack_start = 0;
  uint64_t stack_saved = 0;
  uint64_t stack_copy = 0;
};

// A suspended greenlet's stack, innermost first. 3.12+ links each entry into the evaluation loop
// through a frame on the C stack (hidden by Python): its `previous` is read through the heap copy
// when the greenlet's slice was copied there. On 3.11 the oldest frame's `previous` still names the
// frame that first switched to the greenlet, in another greenlet; so the chain is cut at the first
// shown frame that lies in none of this greenlet's chunks and is not a generator's.
// Fills out.stack and out.warnings.
void greenlet_saved_stack(PythonProcess& proc, CodeCache& codes, const SavedGreenlet& saved, int max_frames,
                          Greenlet& out);

// The running greenlet: the thread's frames, cut the same way with the chunks the thread uses now.
void greenlet_running_stack(PythonProcess& proc, CodeCache& codes, const ThreadState& thread, int max_frames,
                            Greenlet& out);

}  // namespace pyxray
