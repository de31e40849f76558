// Where the evaluation loop's machine code lies when the debugger cannot name it.
//
// GCC (Debian sid's 3.14 and 3.15, built with GCC 16 and PGO) splits _PyEval_EvalFrameDefault: the
// exported symbol covers a small entry part, and the loop's body is a separate part that only
// .symtab names. In a stripped build a native frame there has no name, so neither the native merge
// nor the GIL-wait check would find the loop. The body is by far the largest function of the
// interpreter's object (82 KiB of 3.14's code against 34 KiB for the next one), so its range is the
// largest gap between function starts in .eh_frame_hdr's search table, read from the target's own
// memory (the table lies in a loaded segment).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "target/target.hpp"

namespace pyxray {

class PythonProcess;

struct EvalLoopCode {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // runtime addresses, [begin, end)
  bool contains(uint64_t pc) const;
};

// Empty when the loop's symbol, its object's file or its .eh_frame_hdr cannot be found.
EvalLoopCode locate_eval_loop(PythonProcess& proc);

// Gives the unnamed frames inside the loop the name the debugger would give them with symbols.
void name_eval_loop_frames(const EvalLoopCode& code, std::vector<NativeFrame>& frames);

}  // namespace pyxray
