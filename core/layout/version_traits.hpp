// The per-version facts that are not struct offsets: which frame model a version uses, flag bits,
// enum values, object sizing rules, repr conventions, where the GC lists and pymalloc's state live.
// Keeping them here as data, one row per version, means decoders branch on a named property, not on
// scattered version comparisons.
#pragma once

#include <array>
#include <cstdint>

#include "layout/version.hpp"

namespace pyxray {

enum class FrameModel {
  FrameObjects,  // <= 3.10: PyFrameObject chain from tstate->frame
  CFrame,        // 3.11-3.12: _PyInterpreterFrame chain from tstate->cframe->current_frame
  CurrentFrame,  // 3.13+: _PyInterpreterFrame chain from tstate->current_frame
};

// Where a thread's frame chain, read whole, ends: py-sample checks it, since a chain read while the
// thread runs on can be cut short (a generator's frame unlinked as it yields) and end anywhere else.
enum class ChainRoot {
  NullBack,     // <= 3.10: a NULL f_back, at a frame that is not a generator's
  EntryFlag,    // 3.11: a NULL previous, at a frame the evaluation loop was entered with (is_entry)
  HiddenFrame,  // 3.12+: a NULL previous, at a C-stack shim or base frame (a hidden owner)
};

// How a suspended generator or coroutine shows what it is awaiting (`await`, `yield from`), as CPython's
// own _PyGen_yf tells: the awaited object is on top of the frame's value stack when this holds.
enum class YieldFromRule {
  NoAwait,      // 2.7: no awaits
  NextOpcode,   // <= 3.10: the instruction after the last one run is YIELD_FROM (yield_from_opcode)
  ResumeOparg,  // 3.11-3.12: the next instruction is RESUME (yield_from_opcode) with an oparg of 2 or more
  FrameState,   // 3.13+: the generator's gi_frame_state is FRAME_SUSPENDED_YIELD_FROM
};

enum class DictModel {
  Table27,  // 2.7: open-addressing ma_table
  Compact,  // 3.6+: dk_indices + entries
};

enum class InstanceDictModel {
  DictOffset,       // <= 3.10: tp_dictoffset
  ManagedSplit311,  // 3.11: values at obj[-4], dict at obj[-3]
  DictOrValues312,  // 3.12: tagged dict-or-values at obj[-3]
  InlineValues313,  // 3.13+: values inline after tp_basicsize, dict at obj[-3]
};

// Where the GC's generation list heads live.
enum class GcGenerations {
  Generation0Symbol,  // 2.7-3.6: the `_PyGC_generation0` pointer
  RuntimeState,       // 3.7-3.8: _PyRuntime.gc.generations
  InterpreterState,   // 3.9+: PyInterpreterState.gc.generations, per interpreter
};

// How the collector keeps its tracked objects (Include/internal/pycore_interp_structs.h, pycore_gc.h).
enum class GcModel {
  Generational,    // gen0, gen1, gen2 (+ the permanent generation from 3.7): an object is on one list
  Incremental314,  // 3.14.0-3.14.4: young, old[0], old[1] (+ permanent); one old space is "visited"
                   // this round (gc.visited_space), the other waits; 3.14.5 reverted to Generational
};

// Whether sys.getsizeof adds a GC header for a static (non-heap) type object.
enum class StaticTypeGcHeader {
  NotCounted,          // <= 3.10: type's tp_is_gc says a static type is not GC-tracked
  Counted,             // 3.11-3.12: the header is added all the same
  CountedUnlessExact,  // 3.13+: not added when the object's type is `type` itself
};

// Where pymalloc's state lives (Objects/obmalloc.c, Include/internal/pycore_obmalloc.h).
enum class ObmallocState {
  FileStatics,     // <= 3.11: `arenas`, `maxarenas`, ... are static variables of obmalloc.c
  InterpEmbedded,  // 3.12: struct _obmalloc_state embedded in PyInterpreterState as `obmalloc`
  InterpPointer,   // 3.13+: `obmalloc` is a pointer (the main interpreter's -> obmalloc_state_main)
};

// pymalloc's arena and pool geometry, 64-bit builds.
struct PymallocGeometry {
  uint64_t arena_size = 0;
  uint64_t pool_size = 0;
  unsigned alignment = 0;
  unsigned threshold = 0;  // SMALL_REQUEST_THRESHOLD
  unsigned classes() const { return threshold / alignment; }
  bool operator==(const PymallocGeometry&) const = default;
};

struct PymallocTraits {
  ObmallocState model = ObmallocState::FileStatics;
  PymallocGeometry geometry;
  // What other builds of the same version use: releases before the 16-byte alignment backport (2.7,
  // 3.6, 3.7) have 8-byte alignment (with a 256-byte threshold on 2.7: 32 classes either way; 64
  // classes on 3.x); 3.10+ built without the radix tree keep 4 KiB pools.
  uint64_t alt_pool_size = 0;
  unsigned alt_alignment = 0;
  unsigned alt_threshold = 0;
  bool has_arena_counters = true;  // ntimes_arena_allocated, narenas_highwater in release builds
};

struct VersionTraits {
  FrameModel frame_model = FrameModel::FrameObjects;
  DictModel dict_model = DictModel::Compact;
  InstanceDictModel instance_dict_model = InstanceDictModel::DictOffset;
  bool has_runtime = true;         // _PyRuntime exists (3.7+)
  bool unicode_ready_bit = false;  // PyASCIIObject.state has `ready` (3.3-3.11)
  uint64_t tpflags_managed_dict = 0;
  uint64_t tpflags_inline_values = 0;
  int frame_owned_by_generator = -1;
  // Frame owners whose frames Python never shows, as a bit mask of owner values: the C-stack shim
  // frames of 3.12-3.13 (3); in 3.14 FRAME_OWNED_BY_INTERPRETER (3) and FRAME_OWNED_BY_CSTACK (4);
  // in 3.15 the interpreter's frames (3) and the thread state's sentinel base frame (4).
  unsigned hidden_frame_owners = 0;
  bool frame_lasti_in_code_units = false;  // 3.10: f_lasti counts code units, not bytes
  bool stackref_tagged = false;            // 3.14+: _PyStackRef / tagged f_executable
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
  // 3.11+ generator states (Include/internal/pycore_frame.h): not started (FRAME_CREATED), suspended in
  // an await (FRAME_SUSPENDED_YIELD_FROM, and 3.15's _LOCKED one above it, both as a range), and the
  // first state of a finished frame (FRAME_COMPLETED, or 3.15's FRAME_CLEARED).
  int generator_created = -2;
  int generator_yield_from_first = 1, generator_yield_from_last = 0;  // an empty range: no such state
  int generator_finished = 1;
  YieldFromRule yield_from_rule = YieldFromRule::NextOpcode;
  int yield_from_opcode = 72;  // YIELD_FROM (<= 3.10), RESUME (3.11-3.12)
  // Where the awaited object sits on the suspended frame's stack, counted down from the top: 1, or 2
  // in 3.15, which keeps a NULL above it.
  int yield_from_depth = 1;

  // How a frame shows the `with` blocks it is inside (interp/with_blocks.cpp). <= 3.10: a with block is
  // a block of type with_block_type on the frame's block stack (at most CO_MAXBLOCKS of them):
  // SETUP_WITH (143) in 2.7, SETUP_FINALLY (122) in 3.x, where try blocks have it too; its handler is
  // this opcode: WITH_CLEANUP (2.7), WITH_CLEANUP_START (3.6-3.8), WITH_EXCEPT_START (3.9-3.10).
  // b_handler counts code units where f_lasti does (frame_lasti_in_code_units). 3.11+: a with
  // block's exception handler begins with these two instructions, PUSH_EXC_INFO then
  // WITH_EXCEPT_START (renumbered in 3.13, 3.14 and 3.15). -1: not in this version.
  int with_block_type = 122;
  int frame_max_blocks = 20;
  int with_handler_opcode = 81;
  int with_handler_next_opcode = -1;
  // Value-stack entries a with statement keeps below its exception handler's depth for the whole
  // body: the bound __exit__ (<= 3.13, BEFORE_WITH / SETUP_WITH), or (3.14+, LOAD_SPECIAL) the __exit__
  // function and the manager itself, its `self` (NULL when __exit__ is not a method).
  int with_exit_slots = 1;

  // The builtin types and how their reprs are spelled.
  bool str_is_bytes = false;                 // 2.x: `str` is the byte string, text is `unicode` (PyString_Type, ...)
  bool int_is_machine_word = false;          // 2.x: `int` holds a C long in ob_ival, `long` is the big int
  const char* builtins_module = "builtins";  // the module a repr leaves out ("__builtin__" in 2.x)
  bool has_qualname = true;                  // classes and functions have __qualname__ (2.x: only __name__)
  bool classic_reprs = false;            // 2.x reprs: <type 'x'> for a static type, set([...]), a module's raw strings,
                                         // code names cut at %.100s/%.300s, <bound method Class.name of ...>
  bool set_dummy_exported = true;        // `_PySet_Dummy` points at the dummy (2.x: a str "<dummy key>")
  int unicode_db_minor = 99;             // the 3.x minor whose Unicode database decides printability
  bool bytearray_subclass_name = false;  // MyBytes(b'..'), not bytearray(b'..'), for a subclass (3.7+)
  bool loader_module_repr = false;       // a module's __loader__.module_repr() speaks first (3.4-3.11)
  bool bytearray_escapes_quote = false;  // bytearray(b"it\'s") escapes ' even in "..." (up to 3.14)

  // Object sizes (sys.getsizeof) and the words around an object.
  uint32_t default_gc_head_size = 16;        // sizeof(PyGC_Head) when no layout says (<= 3.7: 32)
  uint32_t default_gc_generation_size = 24;  // sizeof(struct gc_generation) when no layout says (<= 3.7: 48)
  bool gc_refs_in_head = false;              // <= 3.7: PyGC_Head has a gc_refs word
  int gc_refs_shift = 0;                     // 3.6-3.7: gc_refs is shifted by _PyGC_REFS_SHIFT (1)
  GcGenerations gc_generations = GcGenerations::InterpreterState;
  // The generation lists and how py-heap-summary --generations names them. gc_list_names[i] is the
  // i-th head of the generations block, then the permanent generation; with Incremental314 the old
  // spaces are named by what they are this round ("old-visited", "old-pending"), from visited_space.
  GcModel gc_model = GcModel::Generational;
  bool gc_permanent = true;  // gc.freeze()'s permanent generation (3.7+)
  std::array<const char*, 4> gc_list_names = {"gen0", "gen1", "gen2", "permanent"};
  int gc_old_space_bit = -1;  // Incremental314: _gc_next's bit 0 is the object's old space
  // Incremental314, without a layout for gc.visited_space (3.14's _Py_DebugOffsets publishes only
  // gc.collecting): the int sits this many bytes after gc.collecting (collecting, garbage,
  // callbacks, heap_size, work_to_do, then visited_space).
  int64_t gc_visited_space_from_collecting = -1;
  bool managed_preheader = false;         // 3.11+: two words before an object (after any PyGC_Head) for a
                                          // managed dict or weakref list, which sys.getsizeof counts
  uint64_t tpflags_managed_weakref = 0;   // Py_TPFLAGS_MANAGED_WEAKREF (3.12+)
  bool deque_blocks_of_64 = true;         // a deque's blocks hold 64 items (2.x: 62, not sized specially)
  bool int_size_in_lv_tag = false;        // 3.12+: an int's digit count is in lv_tag, it has no ob_size
  bool int_sizeof_min_one_digit = false;  // 3.11+: int.__sizeof__ counts one digit even for 0
  bool frames_sized_by_code = false;      // 3.11+: a generator's or frame's size adds its code's slots, no ob_size
  bool code_sizeof_rounded = false;       // 3.11+: code.__sizeof__ is rounded up to a pointer
  bool has_type_sizeof = true;            // type.__sizeof__ exists (2.x: object's counts tp_basicsize)
  StaticTypeGcHeader static_type_gc_header = StaticTypeGcHeader::NotCounted;

  // pymalloc and the allocators.
  PymallocTraits pymalloc;
  bool allocator_api = true;            // PyMem_SetAllocator can switch allocators (3.4+)
  bool allocators_are_statics = false;  // the allocator records are statics of obmalloc.c (<= 3.11),
                                        // not fields of _PyRuntime

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
