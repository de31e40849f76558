// Code objects: the names, file and line table behind every Python frame, decoded once per address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"
#include "interp/line_table.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
class Memory;
struct Layout;

struct CodeInfo {
  std::string name;                     // co_name
  std::optional<std::string> qualname;  // co_qualname (3.11+)
  std::string filename;                 // co_filename
  int first_line = 0;                   // co_firstlineno
  LineTableFormat format{};
  std::vector<std::byte> line_table;
  // The table was longer than the line-table limit and was not read whole: its lines are unknown
  // (a partial table would give later instructions an earlier line), and frames say so.
  std::optional<std::size_t> line_table_cut_from;  // the table's real size, when cut
  uint64_t code_start = 0;                         // 3.11+: address of the first instruction
  int first_traceable = 0;                         // 3.11+: _co_firsttraceable, in code units

  // Line for a byte offset into the bytecode, as CPython reports it (nullopt: no line, or a table
  // cut at the limit).
  std::optional<int> line_at(int byte_offset) const;
  // Why this code object's frames have no line, when its table was cut: a warning naming the limit.
  std::optional<std::string> line_warning() const;
};

// Where the bytecode a frame runs begins. A free-threaded 3.14+ build may give a thread its own
// copy of a code object's bytecode (per-thread bytecode): the frame's tlbc_index picks the copy in
// the code object's co_tlbc array, whose entry 0 is the code object's own bytecode (code_start).
// The instruction pointer points into that copy, so offsets are taken from its start.
Expected<uint64_t> bytecode_start(Memory& m, const Layout& L, uint64_t code, uint64_t code_start, int64_t tlbc_index);

class CodeCache {
 public:
  CodeCache(PythonProcess& proc, Objects& objects) : proc_(proc), objects_(objects) {}
  // Cached by address: valid while the target does not run (one command, or one sample).
  Expected<const CodeInfo*> get(uint64_t code);
  void clear() { cache_.clear(); }

 private:
  Expected<CodeInfo> decode(uint64_t code);
  PythonProcess& proc_;
  Objects& objects_;
  std::unordered_map<uint64_t, std::unique_ptr<CodeInfo>> cache_;
};

}  // namespace pyxray
