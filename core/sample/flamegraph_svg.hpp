// A flame graph as one self-contained SVG file: the sampled stacks merged into a tree, drawn root at
// the bottom, each frame as wide as its share of the samples. The frames are plain SVG (they show
// without scripts); a small embedded script adds hover details, click-to-zoom and a regex search
// that highlights matching frames and says what share of the samples they cover.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "sample/stack_aggregate.hpp"

namespace pyxray {

struct FlameGraphInfo {
  std::string title = "py-sample";
  std::string subtitle;  // one line under the title: process, duration, rate
};

std::string flamegraph_svg(const StackAggregate& agg, const FrameTable& frames, const FlameGraphInfo& info);

// The merged tree a flame graph is drawn from, for a caller that builds its own (py-sample-diff):
// children by kind and label, so equal frames of different samples are one box, drawn left to right
// in label order.
struct FlameNode {
  enum Kind { kPython = 0, kNative = 1, kThread = 2, kRoot = 3 };
  std::string label;
  int kind = kPython;
  double count = 0;  // samples: the box's width
  // The box's colour, "rgb(R,G,B)"; "" for the usual ones (warm Python frames, cool native frames,
  // a hue per function name).
  std::string fill;
  // The hover text after the label, inside the parentheses; "" for "N samples, P%". It must not
  // hold " (": the script takes the label to be what comes before the last one.
  std::string details;
  std::map<std::pair<int, std::string>, std::unique_ptr<FlameNode>> children;

  FlameNode& child(int kind, const std::string& label);
};

// The same picture, search and zoom for a tree built by the caller; `root` is the "all" box.
std::string flamegraph_svg(const FlameNode& root, const FlameGraphInfo& info);

}  // namespace pyxray
