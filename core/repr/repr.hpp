// repr() of a Python object decoded from the target's memory, as the target's own Python would print
// it, but bounded (depth, items, string length, total size) and safe: any pointer, however wrong,
// yields text — "<invalid object at 0x...>" — never a crash or an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/expected.hpp"
#include "base/limits.hpp"

namespace pyxray {

class Objects;
class PythonProcess;

// By default the repr-* limits in force (a 32-wide tree three levels deep could otherwise print
// megabytes); a caller may narrow them for a table cell.
struct ReprLimits {
  int max_depth = static_cast<int>(limits().repr_depth);  // containers nested deeper print as [...], {...}, (...)
  int max_items = static_cast<int>(limits().repr_items);  // items shown per container, then ", ..."
  // Code points (bytes for bytes) shown, then '...' after the quote.
  std::size_t max_string = static_cast<std::size_t>(limits().repr_string);
  std::size_t max_output =
      static_cast<std::size_t>(limits().repr_length);  // the whole repr is cut here, ending in "..."
};

// A repr that names a thing rather than shows it (a dict key in a chain, a node of a graph): one
// level, a few items, short strings, one short line.
inline ReprLimits label_repr_limits() {
  ReprLimits l;
  l.max_depth = 1;
  l.max_items = 4;
  l.max_string = 40;
  l.max_output = 80;
  return l;
}

// repr(obj) as the target's Python would print it (with the limits above). A cycle prints as [...] /
// {...} like Python. An instance of a class whose repr is object.__repr__ or would run Python code
// (a class defining __repr__) shows its attributes, <module.Qualname(a=1, b=[2]) at 0x...>, or, with
// none, prints as object.__repr__ would: <module.Qualname object at 0x...>.
std::string safe_repr(PythonProcess& proc, Objects& objects, uint64_t addr, const ReprLimits& limits = {});

// Whether `addr` looks like a live object (readable header, positive refcount, a type whose type is a
// type); returns the object's type address, or why not.
Expected<uint64_t> check_object(PythonProcess& proc, Objects& objects, uint64_t addr);

}  // namespace pyxray
