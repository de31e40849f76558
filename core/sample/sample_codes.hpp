// Code objects as py-sample sees them: decoded once per address, checked at every use against what
// was decoded (its type and its co_name pointer), with the frame each bytecode offset maps to
// memoized, so that a sample of known code costs no decoding at all.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "interp/line_table.hpp"

namespace pyxray {

class PythonProcess;
class TickReader;
class FrameTable;

struct SampledCode {
  uint64_t addr = 0;
  uint64_t name_ptr = 0;   // co_name at decoding: another pointer means another code object
  double checked_at = -1;  // when the check last read the object (SampleCodes::set_now's clock)
  std::string function;    // co_qualname (3.11+), else co_name
  std::string filename;
  int first_line = 0;
  LineTableFormat format{};
  std::vector<std::byte> line_table;
  bool lines_known = true;                         // false: the table was longer than the line-table limit (no lines)
  uint64_t code_start = 0;                         // 3.11+: address of the first instruction
  int64_t code_bytes = -1;                         // 3.11+: length of the bytecode; -1 when unknown
  int first_traceable = 0;                         // 3.11+: in code units
  bool generator = false;                          // a generator's, coroutine's or async generator's code (co_flags)
  bool coroutine = false;                          // an `async def` function's code (CO_COROUTINE)
  std::vector<uint32_t> frame_ids;                 // by byte offset + 2: frame id + 1, 0 until computed
  std::unordered_map<int, uint32_t> traced_lines;  // line -> frame id, for traced frames
};

enum class CodeCheck { Ok, NotCode, Unreadable };

class SampleCodes {
 public:
  // Largest bytecode offset whose frame is memoized (larger ones are looked up every time).
  static constexpr int kMaxMemoOffset = 1 << 20;

  // Needs the type object of code (PyCode_Type); resolve it before sampling starts.
  SampleCodes(PythonProcess& proc, FrameTable& frames, uint64_t code_type);
  ~SampleCodes();

  // A known code object is read again (type and co_name) when it was last checked longer ago than
  // this: a code object lives at least as long as a frame running it, so what can go wrong in
  // between is only its address being freed and reused for another code object within that time.
  static constexpr double kRecheck = 0.001;  // seconds

  // The time of the current sample, for kRecheck (seconds, any steady origin).
  void set_now(double now) { now_ = now; }
  // The code object at `addr`: checked against the cache through `reader`, decoded on first sight
  // (with the process's own memory reader, never the debugger). nullptr with the reason otherwise.
  SampledCode* lookup(TickReader& reader, uint64_t addr, CodeCheck& why);
  // The frame id for a byte offset into the code (negative: the frame has not started); nullopt
  // when the line table gives an impossible line.
  std::optional<uint32_t> frame_id(SampledCode& code, int byte_offset);
  // The frame id for a line the frame itself reports (a traced frame's f_lineno).
  std::optional<uint32_t> frame_id_for_line(SampledCode& code, int line);

  std::size_t decoded() const { return decoded_; }

 private:
  SampledCode* decode(uint64_t addr, uint64_t name_ptr);

  PythonProcess& proc_;
  FrameTable& frames_;
  uint64_t code_type_;
  int64_t check_lo_ = 0, check_len_ = 0;  // the span holding ob_type and co_name
  std::unordered_map<uint64_t, std::unique_ptr<SampledCode>> by_addr_;
  std::size_t decoded_ = 0;
  double now_ = 0;
};

}  // namespace pyxray
