// _Py_DebugOffsets blocks of free-threaded builds (3.13t, 3.14t), for synthetic process images. No
// free-threaded interpreter can be had on the test machine, so these are derived from the blocks
// of default builds by what CPython's headers say changes under Py_GIL_DISABLED:
//
//  - every object starts with a 32-byte header {ob_tid, ob_flags, ob_mutex, ob_gc_bits,
//    ob_ref_local, ob_ref_shared, ob_type} instead of 16 bytes, so every member of an object section
//    (and its size) grows by 16, and pyobject.ob_type is 24;
//  - 3.14t: PyCodeObject gains `_PyCodeArray *co_tlbc` right before co_code_adaptive, and
//    _PyInterpreterFrame an int32 tlbc_index after stackpointer (owner moves by 4, localsplus stays);
//  - struct _gil_runtime_state begins with `int enabled` (0, the block's gil_runtime_state_enabled),
//    moving last_holder and locked by 8.
#pragma once

#include "synthetic_image.hpp"

namespace pyxray::synthetic {

// The block of the real 3.13.0 x86-64 GIL build (tests/data/debug_offsets), member by member.
DebugOffsetsMembers debug_offsets_313();

// The members of the free-threaded build of the same version as `gil` (minor 13 or 14).
DebugOffsetsMembers free_threaded_members(DebugOffsetsMembers gil, int minor);

}  // namespace pyxray::synthetic
