// A flame graph as one self-contained SVG file: the sampled stacks merged into a tree, drawn root at
// the bottom, each frame as wide as its share of the samples. The frames are plain SVG (they show
// without scripts); a small embedded script adds hover details, click-to-zoom and a regex search
// that highlights matching frames and says what share of the samples they cover.
#pragma once

#include <string>

#include "sample/stack_aggregate.hpp"

namespace pyxray {

struct FlameGraphInfo {
  std::string title = "py-sample";
  std::string subtitle;  // one line under the title: process, duration, rate
};

std::string flamegraph_svg(const StackAggregate& agg, const FrameTable& frames, const FlameGraphInfo& info);

}  // namespace pyxray
