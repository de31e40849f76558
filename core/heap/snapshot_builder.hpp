// A heap snapshot built from one heap walk: the per-type table and, with `objects`, the object
// columns, fed one object at a time by the walk's on_object and finished with the walk's totals and
// the identity of the process. Shared by py-heap-summary --save and py-heap-diff's "now".
#pragma once

#include <string>
#include <vector>

#include "base/expected.hpp"
#include "heap/gc_generations.hpp"
#include "heap/heap_snapshot.hpp"
#include "heap/heap_walk.hpp"

namespace pyxray {

class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(bool objects) : objects_(objects) {}
  void add(const HeapObject& o);
  // `gens`: the walk's generations (GenerationCensus), kept per type and, with objects, per object.
  HeapSnapshot finish(PythonProcess& proc, const HeapWalkStats& stats, const GenerationResult* gens = nullptr);

 private:
  bool objects_;
  std::vector<int32_t> index_by_type_id_;  // TypeInfo::id -> index in types_ (-1: none yet)
  std::vector<SnapshotType> types_;
  std::vector<uint32_t> type_ids_;  // index in types_ -> TypeInfo::id
  ObjectColumns columns_;
};

// One walk of the process now, as a snapshot (for py-heap-diff against the live process or core);
// with `objects`, every object and its generation. Fails when the process goes away during the walk.
Expected<HeapSnapshot> take_snapshot(PythonProcess& proc, bool objects);

// Now as "2026-12-07T18:59:01Z", and as seconds since the epoch in `epoch_seconds`.
std::string now_utc_text(double& epoch_seconds);

}  // namespace pyxray
