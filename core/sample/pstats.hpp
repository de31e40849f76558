// The profile as cProfile's `Profile.dump_stats` writes it: what `pstats.Stats`, snakeviz and
// flameprof read. A marshal'd dict
//   {(file, first line, function): (cc, nc, tottime, cumtime, {caller key: (nc, cc, tottime, cumtime)})}
// made from samples: a function's calls (nc = cc) are the samples with it on the stack, counted once
// per sample however often it recurses; tottime is its own samples and cumtime those samples, each
// times the mean interval; a caller is the frame below it in a sampled stack, each edge counted the
// same way. A native frame is (library, 0, symbol); a frame without a file (an --async task's root)
// is ('~', 0, name), as cProfile names built-ins. A profile without samples is one entry
// ('~', 0, '<no samples>') with zeros: pstats refuses to load an empty dict.
#pragma once

#include <string>

#include "sample/stack_aggregate.hpp"

namespace pyxray {

// `interval_seconds`: the mean time one thread sample stands for (elapsed / rounds).
std::string pstats_file(const StackAggregate& agg, const FrameTable& frames, double interval_seconds);

}  // namespace pyxray
