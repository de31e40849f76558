// The per-version facts that are not struct offsets: which frame model a version uses, flag bits,
// enum values. Keeping them here as data means decoders branch on a named property, not on scattered
// version comparisons.
#pragma once

#include <cstdint>

#include "version.hpp"

namespace pyxray {

enum class FrameModel {
  FrameObjects,       // <= 3.10: PyFrameObject chain from tstate->frame
  CFrame,             // 3.11-3.12: _PyInterpreterFrame chain from tstate->cframe->current_frame
  CurrentFrame,       // 3.13+: _PyInterpreterFrame chain from tstate->current_frame
};

// Where a thread's frame chain, read whole, ends: py-sample checks it, since a chain read while the
// thread runs on can be cut short (a generator's frame unlinked as it yields) and end anywhere else.
enum class ChainRoot {
  NullBack,           // <= 3.10: a NULL f_back, at a frame that is not a generator's
  EntryFlag,          // 3.11: a NULL previous, at a frame the evaluation loop was entered with (is_entry)
  HiddenFrame,        // 3.12+: a NULL previous, at a C-stack shim or base frame (a hidden owner)
};

enum class DictModel {
  Table27,            // 2.7: open-addressing ma_table
  Compact,            // 3.6+: dk_indices + entries
};

enum class InstanceDictModel {
  DictOffset,         // <= 3.10: tp_dictoffset
  ManagedSplit311,    // 3.11: values at obj[-4], dict at obj[-3]
  DictOrValues312,    // 3.12: tagged dict-or-values at obj[-3]
  InlineValues313,    // 3.13+: values inline after tp_basicsize, dict at obj[-3]
};

struct VersionTraits {
  FrameModel frame_model = FrameModel::FrameObjects;
  DictModel dict_model = DictModel::Compact;
  InstanceDictModel instance_dict_model = InstanceDictModel::DictOffset;
  bool has_runtime = true;             // _PyRuntime exists (3.7+)
  bool unicode_ready_bit = false;       // PyASCIIObject.state has `ready` (3.3-3.11)
  uint64_t tpflags_managed_dict = 0;
  uint64_t tpflags_inline_values = 0;
  int frame_owned_by_generator = -1;
  // Frame owners whose frames Python never shows, as a bit mask of owner values: the C-stack shim
  // frames of 3.12-3.13 (3); in 3.14 FRAME_OWNED_BY_INTERPRETER (3) and FRAME_OWNED_BY_CSTACK (4);
  // in 3.15 the interpreter's frames (3) and the thread state's sentinel base frame (4).
  unsigned hidden_frame_owners = 0;
  bool frame_lasti_in_code_units = false;  // 3.10: f_lasti counts code units, not bytes
  bool stackref_tagged = false;         // 3.14+: _PyStackRef / tagged f_executable
  // The bits of an object's first word that a plausible reference count may use. 3.14+ keeps
  // ob_flags (statically allocated, immortal) in its top 16 bits, set on the static objects (small
  // ints, one-character strings) that every heap references.
  uint64_t refcount_mask = ~uint64_t{0};
  ChainRoot chain_root = ChainRoot::NullBack;
  // co_flags bits of a code object whose frames belong to a generator, coroutine or async generator
  // (2.7 has only CO_GENERATOR).
  uint32_t generator_code_flags = 0x20 | 0x80 | 0x200;
  // A generator's gi_frame_state while it runs (FRAME_EXECUTING: 0 in 3.11-3.14, 4 in 3.15).
  int generator_executing = 0;

  // What differs in a free-threaded build (Py_GIL_DISABLED, 3.13+) of the same version:
  bool has_gil = true;                  // no GIL: a thread runs Python while its state is "attached"
  int64_t managed_dict_offset = -24;    // MANAGED_DICT_OFFSET from the object (no PyGC_Head in front: -8)
  int64_t managed_values_offset = -32;  // 3.11's values pointer, the word before the dict
  int unicode_kind_shift = 2;           // PyASCIIObject.state: `interned` is 2 bits (a whole byte: 8)
  bool gc_head = true;                  // a PyGC_Head precedes GC objects (free-threaded: ob_gc_bits)
  bool mimalloc_heap = false;           // objects live in mimalloc's heaps, which pyxray does not walk
};

// The one line every heap command gives for a heap it does not walk.
inline constexpr const char* kMimallocHeapNotWalked =
    "this is a free-threaded build: its objects live in mimalloc's heaps, which pyxray does not walk";

// Thread states' `state` values (3.13+, both builds).
inline constexpr int kThreadDetached = 0, kThreadAttached = 1, kThreadSuspended = 2;

// The facts of version `v`; of its free-threaded build with free_threaded.
const VersionTraits& traits_for(const PyVersion& v, bool free_threaded = false);

}  // namespace pyxray
