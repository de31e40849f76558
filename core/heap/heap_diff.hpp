// What changed between heap snapshots, objgraph's show_growth() from outside: per type the change in
// count and bytes from the first snapshot to the last, largest growth first, and with three or more
// snapshots the leak suspects: the types whose count grew in every interval.
//
// Types are matched by (module, qualified name), never by address: a type object's address means
// nothing in another process, and a class redefined (a reload) is the same kind to whoever hunts a
// leak. Several type objects of one name in a snapshot count as one row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heap/heap_snapshot.hpp"

namespace pyxray {

struct DiffRow {
  std::string module, qualname, name;
  uint64_t count_old = 0, count_new = 0, bytes_old = 0, bytes_new = 0;
  int64_t count_delta = 0, bytes_delta = 0;
  std::vector<uint64_t> counts;  // in every snapshot, oldest first
  bool suspect = false;          // grew between every pair of consecutive snapshots (3 or more)
  uint32_t classes = 1;          // type objects of this name in the newest snapshot (>1: merged)
  // Suspects only: the newest snapshot's objects of this type per generation (named; empty when it
  // has none), and one of its objects to ask "why is it alive" of (0: the snapshot lists no objects).
  std::vector<std::pair<std::string, uint64_t>> generations;
  uint64_t sample = 0;
  std::string sample_generation;  // the sample's generation, when known
  bool sample_is_new = false;     // the sample is at an address the oldest snapshot had no object of this type at
};

struct HeapDiff {
  std::vector<DiffRow> rows;      // every type whose count or bytes changed; growth first
  std::vector<DiffRow> suspects;  // the suspect rows, by total count growth
  DiffRow total;
};

// Snapshots oldest first (at least two). Suspects get their generations and a sample object from the
// newest snapshot: one not in the oldest (when it has objects), of the oldest generation it can find,
// since an object that survived many collections and is new since the first look is what leaks.
HeapDiff diff_snapshots(const std::vector<const HeapSnapshot*>& snapshots);

}  // namespace pyxray
