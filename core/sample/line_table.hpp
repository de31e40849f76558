// py-sample's per-line table (-o X.lines, --format lines): the hottest lines by own samples with
// their source, then a line_profiler-style listing of each hot function with every line's share.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sample/line_costs.hpp"

namespace pyxray {

class SourceLines;

// The run the views describe, for their header.
struct LineViewInfo {
  std::string title;  // "py-sample of process 123, Python 3.12.1"
  double seconds = 0;
  double interval = 0;  // mean seconds a sample stands for
  std::string mode;     // cpu, wall or gil
  // Whether a file changed since the process started (its lines may have moved); unset: never.
  std::function<bool(const std::string&)> changed;
};

inline constexpr const char* kChangedNote = "changed since the process started, lines may not match";

// The first line of both views: "N samples over S s (mean interval I ms), mode M".
std::string line_view_summary(const LineCosts& costs, const LineViewInfo& info);

// Ranges [first, last] (1-based, inclusive) of the lines within `context` of any of `lines` (sorted),
// clipped to 1..line_count and merged where they touch.
std::vector<std::pair<int, int>> line_windows(const std::vector<int>& lines, int context, int line_count);

std::string line_table(const LineCosts& costs, SourceLines& sources, const LineViewInfo& info);

}  // namespace pyxray
