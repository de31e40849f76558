// Per-line costs of a sampled profile: for every `file:line` the samples spent on that line itself
// (own) and the samples with that line anywhere on the stack (total), plus the same per function and
// per file. Computed from the aggregate py-sample already keeps (each distinct stack once, with its
// count), so it costs one walk of the stack tree, not another pass over the samples.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sample/stack_aggregate.hpp"

namespace pyxray {

// One source line. own: samples whose innermost Python frame was on it (a native leaf, with
// --native, gives its sample to the innermost Python frame under it: own_in_native counts those).
// total: samples with the line anywhere on the stack, once per sample however often it recurs.
struct LineCost {
  std::string file;
  int line = 0;
  std::string function;  // the function most of the line's samples ran in (a line may hold several)
  uint64_t own = 0;
  uint64_t own_in_native = 0;
  uint64_t total = 0;
};

// One function (name, file and first line) with its lines' costs as seen from inside it.
struct FunctionLines {
  std::string function;
  std::string file;
  int first_line = -1;
  uint64_t own = 0;
  uint64_t total = 0;
  struct Cost {
    uint64_t own = 0;
    uint64_t total = 0;
  };
  std::map<int, Cost> lines;
};

// One file: samples on any of its lines (own), and with any of its lines on the stack (total).
struct FileCost {
  std::string file;
  uint64_t own = 0;
  uint64_t total = 0;
};

struct LineCosts {
  uint64_t samples = 0;                  // every recorded sample, those without a Python line included
  std::vector<LineCost> lines;           // most own first, then most total, then by file and line
  std::vector<FunctionLines> functions;  // most own first
  std::vector<FileCost> files;           // most own first
};

// Native frames and frames without a line (-1) have no line; a sample whose innermost Python frame
// has none adds to no line's own (but to the totals of the lines below it).
LineCosts line_costs(const StackAggregate& agg, const FrameTable& frames);

}  // namespace pyxray
