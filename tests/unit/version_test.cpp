#include <gtest/gtest.h>

#include <vector>

#include "layout/version.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

TEST(Version, ParsesFullAndShortForms) {
  auto v = parse_version("3.11.7 (main, Nov 23 2026, 00:00:00) [GCC 12.2.0]");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 3);
  EXPECT_EQ(v->minor, 11);
  EXPECT_EQ(v->micro, 7);
  EXPECT_EQ(v->text(), "3.11.7");
  auto s = parse_version("2.7");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->micro_known);
  EXPECT_EQ(s->text(), "2.7");
  EXPECT_FALSE(parse_version("python"));
}

TEST(Version, FromHex) {
  EXPECT_EQ(version_from_hex(0x030b07f0).text(), "3.11.7");
  EXPECT_EQ(version_from_hex(0x030d00f0).text(), "3.13.0");
}

TEST(Version, FromPath) {
  EXPECT_EQ(version_from_path("/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0")->text(), "3.11");
  EXPECT_EQ(version_from_path("/x/lib/libpython3.6m.so.1.0")->text(), "3.6");
  EXPECT_EQ(version_from_path("/usr/bin/python3.11")->text(), "3.11");
  EXPECT_EQ(version_from_path("/usr/lib/libpython2.7.so")->text(), "2.7");
  EXPECT_FALSE(version_from_path("/usr/bin/python3"));
  EXPECT_FALSE(version_from_path("/lib/x86_64-linux-gnu/libc.so.6"));
}

TEST(Version, SupportedRange) {
  EXPECT_TRUE(check_supported(PyVersion{2, 7, 18, true}));
  EXPECT_TRUE(check_supported(PyVersion{3, 15, 0, true}));
  auto old = check_supported(PyVersion{3, 5, 10, true});
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().message, "CPython 3.5.10 is not supported: 2.7 and 3.6–3.15 are");
  // Newer minor versions are decoded through their _Py_DebugOffsets (python_process.cpp), with a note.
  EXPECT_TRUE(check_supported(PyVersion{3, 16, 0, true}));
  EXPECT_TRUE(newer_than_known(PyVersion{3, 16, 0, true}));
  EXPECT_FALSE(newer_than_known(PyVersion{3, 15, 9, true}));
  EXPECT_FALSE(check_supported(PyVersion{4, 0, 0, true}));
}

TEST(VersionTraits, FrameModelsByVersion) {
  EXPECT_EQ(traits_for(PyVersion{3, 10}).frame_model, FrameModel::FrameObjects);
  EXPECT_EQ(traits_for(PyVersion{3, 11}).frame_model, FrameModel::CFrame);
  EXPECT_EQ(traits_for(PyVersion{3, 12}).frame_model, FrameModel::CFrame);
  EXPECT_EQ(traits_for(PyVersion{3, 13}).frame_model, FrameModel::CurrentFrame);
  EXPECT_TRUE(traits_for(PyVersion{3, 14}).stackref_tagged);
}

// The table's rows, property by property, against the version rules the heap, repr and GC code used
// before those facts became rows: a new row must say what its version changed, nothing else moves.
TEST(VersionTraits, RowsMatchTheVersionRules) {
  std::vector<PyVersion> versions{{2, 7}};
  for (int minor = 6; minor <= 16; ++minor) versions.push_back({3, minor});
  for (const PyVersion& v : versions) {
    for (bool ft : {false, true}) {
      SCOPED_TRACE(v.text() + (ft ? "t" : ""));
      const VersionTraits& t = traits_for(v, ft);
      const bool py2 = v.major == 2;
      EXPECT_EQ(t.str_is_bytes, py2);
      EXPECT_EQ(t.int_is_machine_word, py2);
      EXPECT_STREQ(t.builtins_module, py2 ? "__builtin__" : "builtins");
      EXPECT_EQ(t.has_qualname, !py2);
      EXPECT_EQ(t.classic_reprs, py2);
      EXPECT_EQ(t.set_dummy_exported, !py2);
      // Printability tables differ only up to 3.12 (repr_printable.cpp): later minors share them.
      if (py2 || v.minor <= 15) EXPECT_EQ(t.unicode_db_minor, py2 ? 99 : v.minor);
      else EXPECT_GE(t.unicode_db_minor, 12);
      EXPECT_EQ(t.bytearray_subclass_name, !py2 && v.at_least(3, 7));
      EXPECT_EQ(t.loader_module_repr, !py2 && v.before(3, 12));
      EXPECT_EQ(t.bytearray_escapes_quote, v.before(3, 15));
      EXPECT_EQ(t.default_gc_head_size, v.before(3, 8) ? 32u : 16u);
      EXPECT_EQ(t.default_gc_generation_size, v.before(3, 8) ? 48u : 24u);
      EXPECT_EQ(t.gc_refs_in_head, v.before(3, 8));
      EXPECT_EQ(t.gc_refs_shift, !py2 && v.before(3, 8) ? 1 : 0);
      EXPECT_EQ(t.gc_generations, py2 || v.before(3, 7) ? GcGenerations::Generation0Symbol
                                  : v.before(3, 9)      ? GcGenerations::RuntimeState
                                                        : GcGenerations::InterpreterState);
      EXPECT_EQ(t.managed_preheader, v.at_least(3, 11));
      EXPECT_EQ(t.tpflags_managed_weakref, v.at_least(3, 12) ? uint64_t{1} << 3 : 0);
      EXPECT_EQ(t.deque_blocks_of_64, !py2);
      EXPECT_EQ(t.int_size_in_lv_tag, v.at_least(3, 12));
      EXPECT_EQ(t.int_sizeof_min_one_digit, v.at_least(3, 11));
      EXPECT_EQ(t.frames_sized_by_code, v.at_least(3, 11));
      EXPECT_EQ(t.code_sizeof_rounded, v.at_least(3, 11));
      EXPECT_EQ(t.has_type_sizeof, !py2);
      EXPECT_EQ(t.static_type_gc_header, v.before(3, 11)   ? StaticTypeGcHeader::NotCounted
                                         : v.before(3, 13) ? StaticTypeGcHeader::Counted
                                                           : StaticTypeGcHeader::CountedUnlessExact);
      EXPECT_EQ(t.unicode_ready_bit, !py2 && v.before(3, 12));
      EXPECT_EQ(t.dict_model == DictModel::Table27, py2);
      EXPECT_EQ(t.instance_dict_model != InstanceDictModel::DictOffset, v.at_least(3, 11));
      EXPECT_EQ(t.allocator_api, !py2);
      EXPECT_EQ(t.allocators_are_statics, v.before(3, 12));
      const PymallocTraits& pm = t.pymalloc;
      EXPECT_EQ(pm.model, v.before(3, 12)   ? ObmallocState::FileStatics
                          : v.before(3, 13) ? ObmallocState::InterpEmbedded
                                            : ObmallocState::InterpPointer);
      const bool big = v.at_least(3, 10);
      EXPECT_EQ(pm.geometry, (PymallocGeometry{.arena_size = big ? 1024u * 1024 : 256u * 1024,
                                               .pool_size = big ? 16u * 1024 : 4u * 1024,
                                               .alignment = 16,
                                               .threshold = 512}));
      EXPECT_EQ(pm.alt_pool_size, big ? 4u * 1024 : 0u);
      EXPECT_EQ(pm.alt_alignment, v.before(3, 8) ? 8u : 0u);
      EXPECT_EQ(pm.alt_threshold, py2 ? 256u : v.before(3, 8) ? 512u : 0u);
      EXPECT_EQ(pm.has_arena_counters, !py2);
    }
  }
}

}  // namespace
}  // namespace pyxray
