// Everything one heap command needs while it runs (the object readers, the type cache, the sizer
// and the reference decoder over one process), and the checks every heap command makes of an address.
#pragma once

#include <cstdint>

#include "base/expected.hpp"
#include "heap/heap_walk.hpp"
#include "heap/object_size.hpp"
#include "heap/referents.hpp"
#include "interp/objects.hpp"

namespace pyxray {

class PythonProcess;

struct HeapContext {
  PythonProcess& proc;
  Objects objects;
  TypeCache types;
  ObjectSizer sizer;
  Referents refs;
  explicit HeapContext(PythonProcess& p);

  // When the process goes away during the walk, py-heap-summary shows what was counted until then
  // (`counts_if_gone`); the others answer about particular objects, which can no longer be read.
  Expected<HeapWalkStats> walk(HeapWalkOptions opt, bool counts_if_gone = false);

  // The object's type facts, or why it is not an object.
  Expected<const TypeInfo*> object_type(uint64_t addr);

  // A referent worth following: a readable object with a plausible refcount and a valid type.
  const TypeInfo* validated(uint64_t addr);

  // Whether a str is interned (held by the interpreter's table of interned strings): the `interned`
  // bits of PyASCIIObject.state.
  bool interned_str(uint64_t addr);

  // Whether a dict is the interpreter's table of interned strings (3.12+: interp->cached_objects,
  // up to 3.11: unicodeobject.c's static `interned`, 2.7: stringobject.c's), which no name reaches:
  // its first entries map interned strs (2.7: strs) to themselves.
  bool interned_table(uint64_t dict);
};

}  // namespace pyxray
