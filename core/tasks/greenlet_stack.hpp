// A greenlet's Python frames: the ones it saved when it last switched out, or, for the greenlet
// running on a thread, that thread's own.
#pragma once

#include <cstdint>

#include "interp/threads.hpp"
#include "tasks/task_model.hpp"

namespace pyxray {

class PythonProcess;
class CodeCache;

// A suspended greenlet: its saved innermost frame (3.11+: a _PyInterpreterFrame) and the chain
// below it, as far as the frames are its own. On 3.11 greenlet gives each greenlet data-stack
// chunks of its own, and the oldest frame's `previous` still names the frame that first switched
// to it, in another greenlet; so the chain is cut at the first frame that lies in none of this
// greenlet's chunks and is not a generator's. Fills out.stack and out.warnings.
void greenlet_saved_stack(PythonProcess& proc, CodeCache& codes, uint64_t current_frame, uint64_t first_chunk,
                          int max_frames, Greenlet& out);

// The running greenlet: the thread's frames, cut the same way with the chunks the thread uses now.
void greenlet_running_stack(PythonProcess& proc, CodeCache& codes, const ThreadState& thread, int max_frames,
                            Greenlet& out);

}  // namespace pyxray
