// The variables of a Python frame: locals (arguments first, cells dereferenced), and the frame's
// globals and builtins for name lookups.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;
class Objects;
struct PyFrame;

struct LocalVar {
  std::string name;
  uint64_t value = 0;  // PyObject*
  bool is_argument = false;
};

// Whether a code object's frames keep variables in fast slots (functions) rather than in a dict
// (module and class bodies, and 2.7 functions made unoptimized by `exec` or `import *`).
Expected<bool> has_fast_locals(PythonProcess& proc, uint64_t code);

// The frame's bound locals in CPython's order (arguments first); unbound ones are left out.
Expected<std::vector<LocalVar>> frame_locals(PythonProcess& proc, Objects& objects, const PyFrame& frame);

// Every slot of the frame's fast locals and value stack, untagged, bound or not: live values and stale
// ones above the stack top alike. Only for searches that confirm what they find by other means (a
// lock is the one a thread waits on when its futex is that lock's).
Expected<std::vector<uint64_t>> frame_slots(PythonProcess& proc, const PyFrame& frame);

// Where py-print NAME looks: the frame's locals, then its globals, then its builtins.
struct NameLookup {
  uint64_t value = 0;
  std::string scope;  // "local", "global" or "builtin"
};
Expected<std::optional<NameLookup>> lookup_name(PythonProcess& proc, Objects& objects, const PyFrame& frame,
                                                std::string_view name);

}  // namespace pyxray
