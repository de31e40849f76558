#include "version_traits.hpp"

namespace pyxray {

const VersionTraits& traits_for(const PyVersion& v) {
  using F = FrameModel;
  using D = DictModel;
  using I = InstanceDictModel;
  //                                frames           dict        instance dict          rt     ready  managed  inline gen cstack interp lasti16 tagged
  static const VersionTraits v27 = {F::FrameObjects, D::Table27, I::DictOffset,         false, false, 0,       0,     -1, -1,    -1,    false,  false};
  static const VersionTraits v36 = {F::FrameObjects, D::Compact, I::DictOffset,         false, true,  0,       0,     -1, -1,    -1,    false,  false};
  static const VersionTraits v37 = {F::FrameObjects, D::Compact, I::DictOffset,         true,  true,  0,       0,     -1, -1,    -1,    false,  false};
  static const VersionTraits v310 = {F::FrameObjects, D::Compact, I::DictOffset,        true,  true,  0,       0,     -1, -1,    -1,    true,   false};
  static const VersionTraits v311 = {F::CFrame,      D::Compact, I::ManagedSplit311,    true,  true,  1 << 4,  0,     1,  -1,    -1,    false,  false};
  static const VersionTraits v312 = {F::CFrame,      D::Compact, I::DictOrValues312,    true,  false, 1 << 4,  0,     1,  3,     -1,    false,  false};
  static const VersionTraits v313 = {F::CurrentFrame, D::Compact, I::InlineValues313,   true,  false, 1 << 4,  1 << 2, 1, 3,     -1,    false,  false};
  static const VersionTraits v314 = {F::CurrentFrame, D::Compact, I::InlineValues313,   true,  false, 1 << 4,  1 << 2, 1, 3,     4,     false,  true};
  if (v.major == 2) return v27;
  if (v.before(3, 7)) return v36;
  if (v.before(3, 10)) return v37;
  if (v.before(3, 11)) return v310;
  if (v.before(3, 12)) return v311;
  if (v.before(3, 13)) return v312;
  if (v.before(3, 14)) return v313;
  return v314;
}

}  // namespace pyxray
