// A heap snapshot: py-heap-summary's per-type table (and, with --objects, every object's address,
// type and size) with what identifies the process and its Python, kept in a file that py-heap-diff
// compares later with another snapshot or with the process as it is then.
//
// The file: a fixed preamble and one CBOR document (RFC 8949, readable by any CBOR tool).
//
//   bytes 0-7    "PYXHEAP\0"
//   bytes 8-11   u32 LE format version (kSnapshotFormat)
//   bytes 12-19  u64 LE length L of the CBOR body
//   L bytes      the CBOR body
//   4 bytes      u32 LE CRC-32 (zlib) of the body
//
// The preamble tells "not a snapshot", "a newer format" and "truncated" apart before anything is
// parsed, and the CRC catches a damaged file. Per-object data are three CBOR byte strings of
// LEB128 columns, not one CBOR item per object: a few bytes per object instead of 30+, and no
// allocation per object when writing or reading.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "target/process_identity.hpp"

namespace pyxray {

inline constexpr uint32_t kSnapshotFormat = 1;

struct SnapshotType {
  std::string module;    // "builtins" for builtins, the __module__ of classes
  std::string qualname;  // "dict", "Outer.Inner"
  std::string name;      // as py-heap-summary prints it: "dict", "app.Widget", "collections.OrderedDict"
  uint64_t addr = 0;     // the type object's address in that process (never used to match types)
  uint64_t count = 0, bytes = 0, max = 0;
  std::vector<uint64_t> gens;  // with generations: its objects per generation code (heap/gc_generations.hpp)
};

struct SnapshotObject {
  uint64_t addr = 0;
  uint32_t type = 0;  // index into HeapSnapshot::types
  uint64_t size = 0;
  uint8_t gen = 0;  // its generation code, when the snapshot has them (else 0)
};

struct HeapSnapshot {
  ProcessIdentity process;
  std::string python_version;  // "3.11.7"
  bool free_threaded = false;
  std::string pyxray_version;
  std::string taken_at;  // "2026-12-07T18:59:01Z"
  double time = 0;       // seconds since the epoch, for durations between snapshots
  double seconds = 0;    // how long the walk took
  uint64_t objects = 0, bytes = 0;
  bool partial = false;
  std::vector<std::string> warnings;
  std::vector<SnapshotType> types;
  // With generations (--generations or --objects): the name of each generation code, as that
  // version names its lists ("untracked", "gen0", ..., "unknown"); empty without.
  std::vector<std::string> generation_names;
  // --objects: the columns, as written (see heap_snapshot.cpp); empty otherwise.
  bool has_objects = false;
  uint64_t object_count = 0;
  std::vector<uint8_t> addr_col, type_col, size_col;
  std::vector<uint8_t> gen_col;  // one generation code per object, when generation_names is set
};

// Builds the object columns as objects arrive (walk order), without keeping the objects.
class ObjectColumns {
 public:
  void add(uint64_t addr, uint32_t type, uint64_t size);
  // Moves the columns into `s`.
  void finish(HeapSnapshot& s);

 private:
  std::vector<uint8_t> addr_, type_, size_;
  uint64_t prev_ = 0, count_ = 0;
};

// The file's bytes, and back. decode_snapshot's errors are one phrase, without the file name
// ("is not a pyxray heap snapshot", "is truncated: ...").
std::string encode_snapshot(const HeapSnapshot& s);
Expected<HeapSnapshot> decode_snapshot(std::span<const uint8_t> bytes);
// Every object of a snapshot taken with --objects, decoded from its columns.
Expected<std::vector<SnapshotObject>> snapshot_objects(const HeapSnapshot& s);

// Reading a file: errors name it ("pyxray: s1.heap is truncated: 1,024 of 40,960 bytes").
Expected<HeapSnapshot> read_snapshot_file(const std::string& path);

}  // namespace pyxray
