#include "version_traits.hpp"

namespace pyxray {

namespace {

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

const VersionTraits& gil_traits_for(const PyVersion& v) {
  using F = FrameModel;
  using D = DictModel;
  using I = InstanceDictModel;
  static const VersionTraits v27 = {.frame_model = F::FrameObjects, .dict_model = D::Table27,
                                    .instance_dict_model = I::DictOffset, .has_runtime = false,
                                    .generator_code_flags = 0x20};
  static const VersionTraits v36 = {.frame_model = F::FrameObjects, .dict_model = D::Compact,
                                    .instance_dict_model = I::DictOffset, .has_runtime = false,
                                    .unicode_ready_bit = true};
  static const VersionTraits v37 = {.frame_model = F::FrameObjects, .dict_model = D::Compact,
                                    .instance_dict_model = I::DictOffset, .has_runtime = true,
                                    .unicode_ready_bit = true};
  static const VersionTraits v310 = {.frame_model = F::FrameObjects, .dict_model = D::Compact,
                                     .instance_dict_model = I::DictOffset, .has_runtime = true,
                                     .unicode_ready_bit = true, .frame_lasti_in_code_units = true};
  static const VersionTraits v311 = {.frame_model = F::CFrame, .dict_model = D::Compact,
                                     .instance_dict_model = I::ManagedSplit311, .has_runtime = true,
                                     .unicode_ready_bit = true, .tpflags_managed_dict = 1 << 4,
                                     .frame_owned_by_generator = 1, .chain_root = ChainRoot::EntryFlag};
  static const VersionTraits v312 = {.frame_model = F::CFrame, .dict_model = D::Compact,
                                     .instance_dict_model = I::DictOrValues312, .has_runtime = true,
                                     .tpflags_managed_dict = 1 << 4, .frame_owned_by_generator = 1,
                                     .hidden_frame_owners = 1u << 3, .chain_root = ChainRoot::HiddenFrame};
  static const VersionTraits v313 = {.frame_model = F::CurrentFrame, .dict_model = D::Compact,
                                     .instance_dict_model = I::InlineValues313, .has_runtime = true,
                                     .tpflags_managed_dict = 1 << 4, .tpflags_inline_values = 1 << 2,
                                     .frame_owned_by_generator = 1, .hidden_frame_owners = 1u << 3,
                                     .chain_root = ChainRoot::HiddenFrame};
  static const VersionTraits v314 = {.frame_model = F::CurrentFrame, .dict_model = D::Compact,
                                     .instance_dict_model = I::InlineValues313, .has_runtime = true,
                                     .tpflags_managed_dict = 1 << 4, .tpflags_inline_values = 1 << 2,
                                     .frame_owned_by_generator = 1, .hidden_frame_owners = 1u << 3 | 1u << 4,
                                     .stackref_tagged = true, .refcount_mask = 0x0000'ffff'ffff'ffff,
                                     .chain_root = ChainRoot::HiddenFrame};
  // 3.15 renumbered the generator states (FRAME_CREATED is 0, FRAME_EXECUTING 4).
  static const VersionTraits v315 = [] {
    VersionTraits t = v314;
    t.generator_executing = 4;
    return t;
  }();
  if (v.major == 2) return v27;
  if (v.before(3, 7)) return v36;
  if (v.before(3, 10)) return v37;
  if (v.before(3, 11)) return v310;
  if (v.before(3, 12)) return v311;
  if (v.before(3, 13)) return v312;
  if (v.before(3, 14)) return v313;
  if (v.before(3, 15)) return v314;
  return v315;
}

}  // namespace

const VersionTraits& traits_for(const PyVersion& v, bool free_threaded) {
  const VersionTraits& gil = gil_traits_for(v);
  if (!free_threaded || v.before(3, 13)) return gil;
  static const VersionTraits ft313 = free_threaded_variant(gil_traits_for(PyVersion{3, 13}));
  static const VersionTraits ft314 = free_threaded_variant(gil_traits_for(PyVersion{3, 14}));
  return v.before(3, 14) ? ft313 : ft314;
}

}  // namespace pyxray
