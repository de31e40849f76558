// Two profiles compared (py-sample-diff): BASE, the one before, and NEW. Two views, after Brendan
// Gregg's differential flame graphs (FlameGraph's difffolded.pl and flamegraph.pl):
// - a flame graph with NEW's widths (BASE's with `negate`) whose frames are coloured by the change
//   of their own (self) samples: red grew, blue shrank, white unchanged, deeper the larger;
// - per function (name and file, every line together), its share of own and total samples in each
//   profile, compared as shares so that profiles of different lengths compare.
// BASE is scaled to NEW's number of samples by default (`normalize`), in floating point: two runs
// never take the same number of samples, and unscaled everything would look grown or shrunk.
#pragma once

#include <string>
#include <vector>

#include "sample/flamegraph_svg.hpp"
#include "sample/folded_reader.hpp"

namespace pyxray {

struct DiffOptions {
  bool normalize = true;
  bool negate = false;  // widths from BASE, so that what vanished shows; colours keep their meaning
};

struct FunctionChange {
  std::string function;
  std::string file;
  // Samples as in the files (never scaled): where the function is the innermost frame (own), and
  // where it is anywhere on the stack, once per sample however deep it recurses (total).
  double base_own = 0, base_total = 0;
  double new_own = 0, new_total = 0;
  // The change of its share of each profile's samples, in percentage points (NEW - BASE).
  double own_change = 0, total_change = 0;
  bool in_base() const { return base_total > 0; }
  bool in_new() const { return new_total > 0; }
};

struct SampleDiff {
  double base_samples = 0, new_samples = 0;
  double scale = 1;  // what BASE's counts are multiplied by before colouring
  // Every function of either profile, the largest own change first (then total, then name).
  std::vector<FunctionChange> functions;
};

SampleDiff diff_profiles(const FoldedProfile& base, const FoldedProfile& now, const DiffOptions& options);

// A change smaller than this (percentage points) shows as 0.0% and is no change.
inline constexpr double kShownChange = 0.05;

// The functions in both profiles or either whose own (or total) share changed visibly, the largest
// change first, at most `limit`.
std::vector<const FunctionChange*> top_changes(const SampleDiff& d, bool by_total, std::size_t limit);

// The differential flame graph's tree: boxes of the width profile's stacks (NEW, or BASE with
// negate), each with its fill by the change of its self samples and a hover text with both counts.
FlameNode diff_flame_tree(const FoldedProfile& base, const FoldedProfile& now, const DiffOptions& options);

// Gregg's colour for a change `delta` of the largest `max_delta` (both in samples): red for growth,
// blue for shrinking (green and blue, or red and green, from 210 down to 0 at the largest change),
// white for none. A change under half a sample is none: scaling makes fractions that no count has.
std::string diff_fill(double delta, double max_delta);

}  // namespace pyxray
