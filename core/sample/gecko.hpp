// The Firefox Profiler's file (profiler.firefox.com, "Load a profile from file"): its *processed*
// profile format (firefox-devtools/profiler src/types/profile.ts) at preprocessedProfileVersion 57,
// the version CPython 3.15's `profiling.sampling --gecko` writes. The profiler upgrades any older
// version when it loads a file and refuses only newer ones, so an old version loads in every
// deployment, and 57 takes the upgrade path CPython's files already exercise.
//
// One thread per sampled thread, named by its threading name: its samples at their rounds' times,
// its own stack/frame/func/resource tables (the v57 layout), and the rounds in which it held the GIL
// as "HasGIL" interval markers drawn in its track.
#pragma once

#include <string>

#include "sample/stack_aggregate.hpp"

namespace pyxray {

struct GeckoInfo {
  int pid = 0;               // the target's: groups the threads under one process
  std::string process_name;  // e.g. "python 3.12.1 (pid 4242)"
  std::string python;        // e.g. "3.12.1"
  double start_ms = 0;       // when sampling began, milliseconds since the epoch
  double interval_ms = 0;    // the mean gap between sampling rounds
  double duration_ms = 0;    // how long it sampled
};

std::string gecko_json(const StackAggregate& agg, const FrameTable& frames, const GeckoInfo& info);

}  // namespace pyxray
