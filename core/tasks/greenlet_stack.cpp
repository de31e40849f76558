#include "tasks/greenlet_stack.hpp"

#include <utility>
#include <vector>

#include "base/limits.hpp"
#include "interp/frame_rules.hpp"
#include "interp/frames.hpp"
#include "interp/python_process.hpp"

namespace pyxray {
namespace {

// The [start, end) ranges of a data-stack chunk list, newest first, within the data-stack limits.
std::vector<std::pair<uint64_t, uint64_t>> chunk_ranges(PythonProcess& proc, uint64_t chunk) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  const auto max_bytes = static_cast<uint64_t>(limits().data_stack);
  for (int64_t i = 0; chunk && i < limits().data_stack_chunks; ++i) {
    uint64_t size = m.read<uint64_t>(chunk + L.chunk_size).value_or(0);
    if (size == 0 || size > max_bytes) break;
    ranges.emplace_back(chunk, chunk + size);
    chunk = m.read_ptr(chunk + L.chunk_previous).value_or(0);
  }
  return ranges;
}

// Keeps the frames of `stack` up to the first one that is not this greenlet's.
void keep_own_frames(PythonProcess& proc, PyStack stack, const std::vector<std::pair<uint64_t, uint64_t>>& chunks,
                     Greenlet& out) {
  const Layout& L = proc.layout();
  if (L.iframe_owner == kAbsent || L.chunk_size == kAbsent) {  // frame objects (<= 3.10): no chunks to judge by
    out.stack = std::move(stack.frames);
    if (stack.warning) out.warnings.push_back(*stack.warning);
    return;
  }
  FrameRules rules(L, proc.traits());
  std::size_t kept = 0;
  for (; kept < stack.frames.size(); ++kept) {
    const uint64_t frame = stack.frames[kept].addr;
    bool own = false;
    for (const auto& [start, end] : chunks) own = own || (frame >= start && frame < end);
    if (!own) {
      auto owner = proc.mem().read<uint8_t>(frame + L.iframe_owner);
      own = owner && rules.generator_owned(*owner);
    }
    if (!own) break;
  }
  const bool cut = kept < stack.frames.size();
  stack.frames.resize(kept);
  out.stack = std::move(stack.frames);
  // A walk that failed past the cut was reading another greenlet's frames: not this one's problem.
  if (stack.warning && !cut) out.warnings.push_back(*stack.warning);
}

}  // namespace

void greenlet_saved_stack(PythonProcess& proc, CodeCache& codes, uint64_t current_frame, uint64_t first_chunk,
                          int max_frames, Greenlet& out) {
  if (!current_frame) return;  // suspended before any Python frame ran in it
  keep_own_frames(proc, walk_frames_from(proc, codes, current_frame, max_frames), chunk_ranges(proc, first_chunk),
                  out);
}

void greenlet_running_stack(PythonProcess& proc, CodeCache& codes, const ThreadState& thread, int max_frames,
                            Greenlet& out) {
  const Layout& L = proc.layout();
  uint64_t chunk = 0;
  if (L.tstate_datastack_chunk != kAbsent) chunk = proc.mem().read_ptr(thread.addr + L.tstate_datastack_chunk).value_or(0);
  keep_own_frames(proc, walk_stack(proc, codes, thread, max_frames), chunk_ranges(proc, chunk), out);
}

}  // namespace pyxray
