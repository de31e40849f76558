// The profile as pprof's profile.proto (github.com/google/pprof, proto/profile.proto), gzipped: what
// `go tool pprof`, Pyroscope, Grafana, Parca and Cloud Profiler read. Two values per sample: the
// sample count and the wall time it stands for (count x the mean interval, in nanoseconds); each
// thread's name is a "thread" label on its samples. The protobuf wire format is written by hand
// here: the message is small and fixed, and a protoc build step would cost more than it saves.
#pragma once

#include <cstdint>
#include <string>

#include "base/expected.hpp"
#include "sample/stack_aggregate.hpp"

namespace pyxray {

struct PprofInfo {
  double interval_seconds = 0;  // the mean time one thread sample stands for: elapsed / rounds
  int64_t time_nanos = 0;       // when sampling began, nanoseconds since the epoch
  int64_t duration_nanos = 0;   // how long it sampled
  std::string comment;          // e.g. "py-sample of process 4242, Python 3.12.1"
  std::string binary;           // what pprof names the profile's one mapping: "python3.12.1"
};

// The Profile message, not compressed.
std::string pprof_proto(const StackAggregate& agg, const FrameTable& frames, const PprofInfo& info);
// The file: pprof_proto gzipped.
Expected<std::string> pprof_file(const StackAggregate& agg, const FrameTable& frames, const PprofInfo& info);

}  // namespace pyxray
