// The speedscope file format (https://www.speedscope.app/file-format-schema.json): one "sampled"
// profile per thread, its samples in time order (consecutive equal stacks as one weighted sample),
// weights in samples.
#pragma once

#include <string>

#include "sample/stack_aggregate.hpp"

namespace pyxray {

struct SpeedscopeInfo {
  std::string name;  // of the profile group: "python PID"
};

std::string speedscope_json(const StackAggregate& agg, const FrameTable& frames, const SpeedscopeInfo& info);

}  // namespace pyxray
