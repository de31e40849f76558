// One stack per thread with native and Python frames interleaved, like pystack --native: each
// evaluation-loop native frame is replaced by the Python frames it was running.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "interp/frames.hpp"
#include "target/target.hpp"

namespace pyxray {

struct MixedFrame {
  const PyFrame* python = nullptr;  // set for Python frames
  NativeFrame native;               // set for native frames
};

struct MixedStack {
  std::vector<MixedFrame> frames;
  // Set when the two stacks could not be matched soundly; frames then holds the Python frames only.
  std::optional<std::string> warning;
};

// Whether a native frame is CPython's evaluation loop (the frames it runs are Python frames).
bool is_eval_frame(const NativeFrame& f);

// native_truncated: the unwind stopped at its frame limit, so older evaluation loops are missing.
MixedStack merge_native(const PyStack& python, const std::vector<NativeFrame>& native, bool native_truncated);

}  // namespace pyxray
