// The context managers whose `with` / `async with` block a frame is inside, read from the frame's
// value stack where CPython itself keeps them for the whole block: the bound __exit__ (<= 3.13) or
// the __exit__ function and the manager (3.14+). Only slots the interpreter provably still holds are
// read (under a block's level, <= 3.10; under the exception handler's depth, 3.11+), never stale ones
// above the stack top: py-locks names a lock's holder from this, and a wrong holder is worse than none.
#pragma once

#include <cstdint>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
struct PyFrame;

struct EnteredContext {
  uint64_t manager = 0;  // the object the with statement entered (e.g. the lock): __exit__'s self
  uint64_t exit = 0;     // the stack entry it was found through (bound method, function or descriptor)
  int depth = 0;         // value-stack slot index of that entry
};

// The context managers of the frame's active `with` / `async with` blocks, outermost first. Empty when
// it has none (or is still inside a manager's __enter__: it holds nothing yet). A block whose __exit__
// is not a method named __exit__ / __aexit__ bound to its manager is left out. An error when the
// frame's block stack or exception table cannot be read soundly.
Expected<std::vector<EnteredContext>> entered_contexts(PythonProcess& proc, Objects& objects, const PyFrame& frame);

}  // namespace pyxray
