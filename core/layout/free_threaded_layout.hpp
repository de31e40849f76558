// A free-threaded build's (3.13t, 3.14t) struct offsets where neither debuginfo nor _Py_DebugOffsets
// gives them, derived from the built-in table of the default build of the same version by rules
// read from CPython's headers. The block covers the frame walk; these rows cover the rest that
// py-bt-all needs (dicts for sys.modules and threading's names, strings, ints) and the reprs.
//
// In a Py_GIL_DISABLED build the object header is {ob_tid, ob_flags, ob_mutex, ob_gc_bits,
// ob_ref_local, ob_ref_shared, ob_type}: 32 bytes instead of 16, so every field of a struct that
// begins with it moves by 16. Structs that are not objects and have no free-threading-only members
// keep their offsets. Everything else (the runtime, interpreter and thread states, the allocator and
// GC state, which differ in ways no rule captures) is left out, so it comes from the block,
// debuginfo, or nowhere.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "layout/layout_tables.hpp"

namespace pyxray {

// Whether the rules are known for this version (3.13 and 3.14).
bool free_threaded_rules_known(const PyVersion& v);

// The free-threaded rows for `v` from the default build's table (key -> offset, as LayoutTable).
std::map<std::string, int64_t> free_threaded_rows(const PyVersion& v, const LayoutTable& gil_table);

}  // namespace pyxray
