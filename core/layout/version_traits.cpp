#include "layout/version_traits.hpp"

namespace pyxray {

namespace {

constexpr uint64_t KiB = 1024;

// A free-threaded build of the same version: no GIL, no PyGC_Head before objects (so the managed
// dict pointer is the word right before the object), and a whole byte for PyASCIIObject's
// `interned` (Include/cpython/unicodeobject.h, Include/internal/pycore_object.h).
VersionTraits free_threaded_variant(VersionTraits t) {
  t.has_gil = false;
  t.managed_dict_offset = -8;
  t.managed_values_offset = -16;
  t.unicode_kind_shift = 8;
  t.gc_head = false;
  t.mimalloc_heap = true;
  return t;
}

// The table: one row per version, each row the one before it plus what that version changed.
// Adding a version is adding a row here and a line to gil_traits_for().

VersionTraits row27() {
  VersionTraits t;
  t.frame_model = FrameModel::FrameObjects;
  t.dict_model = DictModel::Table27;
  t.instance_dict_model = InstanceDictModel::DictOffset;
  t.has_runtime = false;
  t.unicode_ready_bit = false;
  t.str_is_bytes = true;
  t.int_is_machine_word = true;
  t.builtins_module = "__builtin__";
  t.yield_from_rule = YieldFromRule::NoAwait;
  t.has_qualname = false;
  t.classic_reprs = true;
  t.set_dummy_exported = false;
  t.unicode_db_minor = 99;
  t.bytearray_escapes_quote = true;
  t.default_gc_head_size = 32;
  t.default_gc_generation_size = 48;
  t.gc_refs_in_head = true;
  t.gc_refs_shift = 0;
  t.gc_generations = GcGenerations::Generation0Symbol;
  t.gc_permanent = false;  // gc.freeze() came in 3.7
  t.deque_blocks_of_64 = false;
  t.has_type_sizeof = false;
  t.static_type_gc_header = StaticTypeGcHeader::NotCounted;
  t.pymalloc = {.model = ObmallocState::FileStatics,
                .geometry = {.arena_size = 256 * KiB, .pool_size = 4 * KiB, .alignment = 16, .threshold = 512},
                .alt_alignment = 8,
                .alt_threshold = 256,
                .has_arena_counters = false};
  t.allocator_api = false;
  t.allocators_are_statics = true;
  t.generator_code_flags = 0x20;  // CO_GENERATOR only: no coroutines or async generators
  t.with_block_type = 143;        // SETUP_WITH: 2.7's ceval sets its block up with the opcode's own number
  return t;
}

VersionTraits row36() {
  VersionTraits t = row27();
  t.dict_model = DictModel::Compact;
  t.unicode_ready_bit = true;
  t.str_is_bytes = false;
  t.int_is_machine_word = false;
  t.builtins_module = "builtins";
  t.has_qualname = true;
  t.classic_reprs = false;
  t.set_dummy_exported = true;
  t.unicode_db_minor = 6;
  t.loader_module_repr = true;
  t.gc_refs_shift = 1;
  t.deque_blocks_of_64 = true;
  t.has_type_sizeof = true;
  t.pymalloc = {.model = ObmallocState::FileStatics,
                .geometry = {.arena_size = 256 * KiB, .pool_size = 4 * KiB, .alignment = 16, .threshold = 512},
                .alt_alignment = 8,
                .alt_threshold = 512};
  t.allocator_api = true;
  t.generator_code_flags = VersionTraits{}.generator_code_flags;
  t.with_block_type = 122;  // SETUP_FINALLY, as for a try block: the handler tells them apart
  t.yield_from_rule = YieldFromRule::NextOpcode;
  return t;
}

VersionTraits row37() {
  VersionTraits t = row36();
  t.has_runtime = true;
  t.unicode_db_minor = 7;
  t.bytearray_subclass_name = true;
  t.gc_generations = GcGenerations::RuntimeState;
  t.gc_permanent = true;
  return t;
}

VersionTraits row38() {
  VersionTraits t = row37();
  t.unicode_db_minor = 8;
  t.default_gc_head_size = 16;
  t.default_gc_generation_size = 24;
  t.gc_refs_in_head = false;
  t.gc_refs_shift = 0;
  t.pymalloc = {.model = ObmallocState::FileStatics,
                .geometry = {.arena_size = 256 * KiB, .pool_size = 4 * KiB, .alignment = 16, .threshold = 512}};
  return t;
}

VersionTraits row39() {
  VersionTraits t = row38();
  t.unicode_db_minor = 9;
  t.gc_generations = GcGenerations::InterpreterState;
  t.with_handler_opcode = 49;  // WITH_EXCEPT_START
  return t;
}

VersionTraits row310() {
  VersionTraits t = row39();
  t.unicode_db_minor = 10;
  t.frame_lasti_in_code_units = true;
  t.pymalloc = {.model = ObmallocState::FileStatics,
                .geometry = {.arena_size = 1024 * KiB, .pool_size = 16 * KiB, .alignment = 16, .threshold = 512},
                .alt_pool_size = 4 * KiB};
  return t;
}

VersionTraits row311() {
  VersionTraits t = row310();
  t.frame_model = FrameModel::CFrame;
  t.instance_dict_model = InstanceDictModel::ManagedSplit311;
  t.tpflags_managed_dict = 1 << 4;
  t.frame_owned_by_generator = 1;
  t.frame_lasti_in_code_units = false;
  t.unicode_db_minor = 11;
  t.managed_preheader = true;
  t.int_sizeof_min_one_digit = true;
  t.frames_sized_by_code = true;
  t.code_sizeof_rounded = true;
  t.static_type_gc_header = StaticTypeGcHeader::Counted;
  t.chain_root = ChainRoot::EntryFlag;
  t.with_block_type = -1;  // no block stack: the exception table says where handlers are
  t.frame_max_blocks = 0;
  t.with_handler_opcode = 35;       // PUSH_EXC_INFO
  t.with_handler_next_opcode = 49;  // WITH_EXCEPT_START
  t.yield_from_rule = YieldFromRule::ResumeOparg;
  t.yield_from_opcode = 151;  // RESUME
  return t;
}

VersionTraits row312() {
  VersionTraits t = row311();
  t.instance_dict_model = InstanceDictModel::DictOrValues312;
  t.unicode_ready_bit = false;
  t.hidden_frame_owners = 1u << 3;
  t.unicode_db_minor = 12;
  t.loader_module_repr = false;
  t.tpflags_managed_weakref = 1 << 3;
  t.int_size_in_lv_tag = true;
  t.pymalloc.model = ObmallocState::InterpEmbedded;
  t.allocators_are_statics = false;
  t.chain_root = ChainRoot::HiddenFrame;
  return t;
}

VersionTraits row313() {
  VersionTraits t = row312();
  t.frame_model = FrameModel::CurrentFrame;
  t.instance_dict_model = InstanceDictModel::InlineValues313;
  t.tpflags_inline_values = 1 << 2;
  t.unicode_db_minor = 13;
  t.static_type_gc_header = StaticTypeGcHeader::CountedUnlessExact;
  t.pymalloc.model = ObmallocState::InterpPointer;
  t.with_handler_opcode = 33;  // renumbered: PUSH_EXC_INFO, WITH_EXCEPT_START as dis.opmap has them
  t.with_handler_next_opcode = 44;
  t.yield_from_rule = YieldFromRule::FrameState;
  t.generator_created = -3;
  t.generator_yield_from_first = t.generator_yield_from_last = -1;
  return t;
}

VersionTraits row314() {
  VersionTraits t = row313();
  t.hidden_frame_owners = 1u << 3 | 1u << 4;
  t.stackref_tagged = true;
  t.refcount_mask = 0x0000'ffff'ffff'ffff;
  t.unicode_db_minor = 14;
  t.with_handler_opcode = 32;       // PUSH_EXC_INFO
  t.with_handler_next_opcode = 43;  // WITH_EXCEPT_START
  t.with_exit_slots = 2;            // LOAD_SPECIAL leaves __exit__ and its self
  return t;
}

// 3.14.0-3.14.4: the incremental collector (3.14.5 went back to three generations, keeping the struct's
// shape: young is generations[0], old[0] and old[1] generations[1] and [2]).
VersionTraits row314a() {
  VersionTraits t = row314();
  t.gc_model = GcModel::Incremental314;
  t.gc_list_names = {"young", "old-visited", "old-pending", "permanent"};
  t.gc_old_space_bit = 0;
  t.gc_visited_space_from_collecting = 40;
  return t;
}

VersionTraits row315() {
  VersionTraits t = row314();
  t.unicode_db_minor = 15;
  t.bytearray_escapes_quote = false;
  t.generator_executing = 4;  // 3.15 renumbered the generator states (FRAME_CREATED is 0, FRAME_EXECUTING 4)
  t.generator_created = 0;
  t.generator_yield_from_first = 2;  // FRAME_SUSPENDED_YIELD_FROM, then _LOCKED
  t.generator_yield_from_last = 3;
  t.generator_finished = 5;  // FRAME_CLEARED: 3.15 has no FRAME_COMPLETED
  t.yield_from_depth = 2;
  t.with_handler_opcode = 30;       // PUSH_EXC_INFO
  t.with_handler_next_opcode = 41;  // WITH_EXCEPT_START
  return t;
}

const VersionTraits& gil_traits_for(const PyVersion& v) {
  static const VersionTraits v27 = row27(), v36 = row36(), v37 = row37(), v38 = row38(), v39 = row39(), v310 = row310(),
                             v311 = row311(), v312 = row312(), v313 = row313(), v314 = row314(), v314a = row314a(),
                             v315 = row315();
  if (v.major == 2) return v27;
  if (v.before(3, 7)) return v36;
  if (v.before(3, 8)) return v37;
  if (v.before(3, 9)) return v38;
  if (v.before(3, 10)) return v39;
  if (v.before(3, 11)) return v310;
  if (v.before(3, 12)) return v311;
  if (v.before(3, 13)) return v312;
  if (v.before(3, 14)) return v313;
  // The one split within a minor version: the micro is known for every 3.14 (_Py_DebugOffsets).
  if (v.before(3, 15)) return v.micro_known && v.micro < 5 ? v314a : v314;
  return v315;
}

}  // namespace

const VersionTraits& traits_for(const PyVersion& v, bool free_threaded) {
  const VersionTraits& gil = gil_traits_for(v);
  if (!free_threaded || v.before(3, 13)) return gil;
  static const VersionTraits ft313 = free_threaded_variant(gil_traits_for(PyVersion{3, 13}));
  static const VersionTraits ft314 = free_threaded_variant(gil_traits_for(PyVersion{3, 14}));
  static const VersionTraits ft315 = free_threaded_variant(gil_traits_for(PyVersion{3, 15}));
  return v.before(3, 14) ? ft313 : v.before(3, 15) ? ft314 : ft315;
}

}  // namespace pyxray
