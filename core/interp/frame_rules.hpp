// The rules of a CPython frame, in one place for both stack readers: frames.cpp (the commands: target
// stopped, through the page cache) and live_stacks.cpp (the sampler: target running, through the tick
// reader). Each rule takes values its reader already got; none reads memory, so a rule fixed here is
// fixed for both.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>

#include "layout/layout.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {

class FrameRules {
 public:
  FrameRules(const Layout& L, const VersionTraits& traits)
      : code_field(L.iframe_f_executable != kAbsent ? L.iframe_f_executable : L.iframe_f_code),
        instr_field(L.iframe_instr_ptr != kAbsent ? L.iframe_instr_ptr : L.iframe_prev_instr),
        has_owner_(L.iframe_owner != kAbsent),
        has_entry_flag_(L.iframe_is_entry != kAbsent),
        traits_(traits) {}

  // 3.11+ interpreter frames: where the running code object and the instruction pointer are.
  const int64_t code_field, instr_field;

  // A frame its owner hides (3.12+ C-stack shims, 3.14+ interpreter-owned frames, 3.15's base frame):
  // not shown; the frame just newer than it is where a C call entered Python.
  bool hidden(int owner) const {
    return has_owner_ && owner >= 0 && owner < 32 && ((traits_.hidden_frame_owners >> owner) & 1);
  }
  bool generator_owned(int owner) const { return has_owner_ && owner == traits_.frame_owned_by_generator; }

  // The code object a frame runs, without 3.14's _PyStackRef tag bits.
  uint64_t executable(uint64_t field_value) const {
    return traits_.stackref_tagged ? field_value & ~uint64_t{3} : field_value;
  }

  // The current instruction in bytes from the code's start. Modular, then signed: both pointers come
  // from the target and may be anywhere, and subtracting them as int64_t could overflow.
  static int64_t instruction_offset(uint64_t instr, uint64_t code_start) {
    return static_cast<int64_t>(instr - code_start);
  }

  // A frame pushed for a call that has not reached its first traceable instruction yet: Python does
  // not show it (_PyFrame_IsIncomplete). A generator's frame always counts as started.
  // `first_traceable` comes from the target: doubled in 64 bits, it cannot overflow.
  bool not_started(int owner, int64_t offset, int first_traceable) const {
    return !generator_owned(owner) && offset < int64_t{first_traceable} * 2;
  }

  // ≤3.10: a frame object's f_lasti as the byte offset a line table takes (3.10 counts code units;
  // 2.7's instructions may start at odd offsets, so it is not rounded); -1 before the first one.
  int lasti_offset(int64_t lasti) const {
    if (lasti < 0) return -1;
    return static_cast<int>(std::min<int64_t>(traits_.frame_lasti_in_code_units ? lasti * 2 : lasti, INT_MAX & ~1));
  }

  // The offset a line table takes for an instruction at `offset`: -1 before the code, else the
  // instruction's (even) offset, kept within an int (past INT_MAX is past the end of any code).
  // prev_instr (≤3.12) points at the last executed instruction, instr_ptr (3.13+) at the current one:
  // either way CPython reports the line of that instruction.
  static int line_offset(int64_t offset) {
    if (offset < 0) return -1;
    return static_cast<int>(std::min<int64_t>(offset & ~int64_t{1}, INT_MAX & ~1));
  }

  // A frame whose `previous` is NULL ends a thread's chain only where the thread began: 3.11's entry
  // flag on a frame that is not a generator's (a generator resumed from C is flagged too, but then its
  // previous is the frame that resumed it), 3.12+ a hidden frame (every entry from C pushes a shim;
  // 3.15's base frame is below them all), frame objects (≤3.10) any frame.
  bool ends_chain(int owner, bool entry_flag) const {
    switch (traits_.chain_root) {
      case ChainRoot::NullBack: return true;
      case ChainRoot::EntryFlag: return !has_entry_flag_ || (entry_flag && !generator_owned(owner));
      case ChainRoot::HiddenFrame: return !has_owner_ || hidden(owner);
    }
    return true;
  }

 private:
  bool has_owner_, has_entry_flag_;
  const VersionTraits& traits_;
};

}  // namespace pyxray
