#include <gtest/gtest.h>

#include "version.hpp"
#include "version_traits.hpp"

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

}  // namespace
}  // namespace pyxray
