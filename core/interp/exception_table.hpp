// A 3.11+ code object's exception table (co_exceptiontable): which handler catches an exception raised
// by each instruction, and how deep the value stack is kept for it (Objects/exception_handling_notes.txt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

// One entry; offsets and the target in code units (2-byte instructions), [start, end).
struct ExceptionHandler {
  int start = 0, end = 0;
  int target = 0;
  int depth = 0;       // value-stack entries kept (live all through [start, end))
  bool lasti = false;  // the raising instruction's offset is pushed too
};

// The whole table, checked as CPython builds it: entries in order without overlap, every offset and
// target inside the code's `code_units`. An error for anything else (a damaged or foreign table).
Expected<std::vector<ExceptionHandler>> parse_exception_table(std::span<const std::byte> table, int code_units);

// The entry covering the instruction at `index` (code units), as get_exception_handler in
// Python/ceval.c finds it; nullptr when no handler covers it.
const ExceptionHandler* handler_at(const std::vector<ExceptionHandler>& table, int index);

}  // namespace pyxray
