#include "tasks/greenlet_stack.hpp"

#include <fmt/format.h>

#include <unordered_set>
#include <utility>
#include <vector>

#include "base/limits.hpp"
#include "interp/frame_rules.hpp"
#include "interp/frames.hpp"
#include "interp/python_process.hpp"

namespace pyxray {
namespace {

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

// The [start, end) ranges of a data-stack chunk list, newest first, within the data-stack limits.
Ranges chunk_ranges(PythonProcess& proc, uint64_t chunk) {
  const Layout& L = proc.layout();
  Memory& m = proc.mem();
  Ranges ranges;
  if (L.chunk_size == kAbsent) return ranges;
  const auto max_bytes = static_cast<uint64_t>(limits().data_stack);
  for (int64_t i = 0; chunk && i < limits().data_stack_chunks; ++i) {
    uint64_t size = m.read<uint64_t>(chunk + L.chunk_size).value_or(0);
    if (size == 0 || size > max_bytes) break;
    ranges.emplace_back(chunk, chunk + size);
    chunk = m.read_ptr(chunk + L.chunk_previous).value_or(0);
  }
  return ranges;
}

// Whether a shown frame belongs to the greenlet whose chunks these are.
bool own_frame(PythonProcess& proc, const FrameRules& rules, const Ranges& chunks, uint64_t frame) {
  for (const auto& [start, end] : chunks) {
    if (frame >= start && frame < end) return true;
  }
  auto owner = proc.mem().read<uint8_t>(frame + proc.layout().iframe_owner);
  return owner && rules.generator_owned(*owner);
}

// Reads target memory as the suspended greenlet sees it: its copied slice of the C stack from the heap.
class SavedView {
 public:
  SavedView(Memory& m, const SavedGreenlet& s) : m_(m), s_(s) {}
  template <class T>
  Expected<T> read(uint64_t addr) {
    if (s_.stack_copy && addr >= s_.stack_start && addr - s_.stack_start < s_.stack_saved &&
        s_.stack_saved - (addr - s_.stack_start) >= sizeof(T))
      return m_.read<T>(s_.stack_copy + (addr - s_.stack_start));
    return m_.read<T>(addr);
  }

 private:
  Memory& m_;
  const SavedGreenlet& s_;
};

}  // namespace

void greenlet_saved_stack(PythonProcess& proc, CodeCache& codes, const SavedGreenlet& saved, int max_frames,
                          Greenlet& out) {
  const Layout& L = proc.layout();
  if (!saved.current_frame) return;  // suspended before any Python frame ran in it
  if (L.iframe_owner == kAbsent) {   // frame objects (<= 3.10): no greenlet row uses them yet
    PyStack stack = walk_frames_from(proc, codes, saved.current_frame, max_frames);
    out.stack = std::move(stack.frames);
    if (stack.warning) out.warnings.push_back(*stack.warning);
    return;
  }
  const FrameRules rules(L, proc.traits());
  const Ranges chunks = chunk_ranges(proc, saved.datastack_chunk);
  SavedView view(proc.mem(), saved);
  std::unordered_set<uint64_t> seen;
  for (uint64_t frame = saved.current_frame; frame;) {
    if (!seen.insert(frame).second) {
      out.warnings.push_back(fmt::format("the frame chain loops at 0x{:x}", frame));
      return;
    }
    if (static_cast<int>(out.stack.size()) >= max_frames) {
      out.warnings.push_back(fmt::format("stack cut at {} frames ({})", max_frames, raise_hint("frames")));
      return;
    }
    auto owner = view.read<uint8_t>(frame + L.iframe_owner);
    auto previous = view.read<uint64_t>(frame + L.iframe_previous);
    if (!owner || !previous) {
      out.warnings.push_back(fmt::format("frame 0x{:x} could not be read", frame));
      return;
    }
    // Frames Python hides (the C-stack entry frames) only link the chain; every frame it shows lies
    // in a data-stack chunk or a generator, where the frame walker reads it as any other.
    if (!rules.hidden(*owner)) {
      if (!own_frame(proc, rules, chunks, frame)) return;  // the frames of whoever first switched here
      PyStack one = walk_frames_from(proc, codes, frame, 1);
      if (one.frames.empty() && one.warning && one.warning->find("stack cut") == std::string::npos) {
        out.warnings.push_back(*one.warning);
        return;
      }
      if (!one.frames.empty()) out.stack.push_back(one.frames.front());
    }
    frame = *previous;
  }
}

void greenlet_running_stack(PythonProcess& proc, CodeCache& codes, const ThreadState& thread, int max_frames,
                            Greenlet& out) {
  const Layout& L = proc.layout();
  PyStack stack = walk_stack(proc, codes, thread, max_frames);
  if (L.iframe_owner == kAbsent || L.tstate_datastack_chunk == kAbsent) {
    out.stack = std::move(stack.frames);
    if (stack.warning) out.warnings.push_back(*stack.warning);
    return;
  }
  const FrameRules rules(L, proc.traits());
  const Ranges chunks = chunk_ranges(proc, proc.mem().read_ptr(thread.addr + L.tstate_datastack_chunk).value_or(0));
  std::size_t kept = 0;
  while (kept < stack.frames.size() && own_frame(proc, rules, chunks, stack.frames[kept].addr)) ++kept;
  const bool cut = kept < stack.frames.size();
  stack.frames.resize(kept);
  out.stack = std::move(stack.frames);
  // A walk that failed past the cut was reading another greenlet's frames: not this one's problem.
  if (stack.warning && !cut) out.warnings.push_back(*stack.warning);
}

}  // namespace pyxray
