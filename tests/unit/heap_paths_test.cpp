// find_paths on a synthetic process (tests/synthetic/scene.cpp): two objects of the scene's root
// dict, searched for together in one backward search, each get its own shortest chain (the dict is
// a local of the main thread's frame `main`), labelled with where the dict holds it.
#include <gtest/gtest.h>

#include <algorithm>

#include "heap/heap_context.hpp"
#include "heap/heap_paths.hpp"
#include "interp/python_process.hpp"
#include "scene.hpp"
#include "version_param.hpp"

namespace pyxray {
namespace {

using namespace synthetic;

class HeapPaths : public testing::TestWithParam<uint32_t> {};

uint64_t object_with_repr(const Scene& s, const std::string& repr) {
  auto it = std::find_if(s.reprs.begin(), s.reprs.end(), [&](const auto& r) { return r.second == repr; });
  return it == s.reprs.end() ? 0 : it->first;
}

TEST_P(HeapPaths, SeveralTargetsInOneSearch) {
  Scene scene = standard_scene(GetParam(), /*pymalloc=*/true);
  auto target = scene.builder->target();
  auto proc = PythonProcess::open(*target);
  ASSERT_TRUE(proc) << proc.error().message;
  HeapContext ctx(**proc);
  const uint64_t list = object_with_repr(scene, "[42, 3.25, [[0]]]");
  const uint64_t frozen = object_with_repr(scene, "frozenset({'hello'})");
  ASSERT_TRUE(list && frozen);
  PathSearch opt;
  opt.more_roots = true;
  auto found = find_paths(ctx, {list, frozen}, opt);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->direct.size(), 2u);
  for (std::size_t t = 0; t < 2; ++t) {
    auto chain =
        std::find_if(found->chains.begin(), found->chains.end(), [&](const HeapPath& p) { return p.target == t; });
    ASSERT_NE(chain, found->chains.end()) << "no chain for target " << t;
    ASSERT_EQ(chain->objects.size(), 2u);
    EXPECT_EQ(chain->objects[0], scene.root);
    EXPECT_EQ(chain->objects[1], t == 0 ? list : frozen);
    EXPECT_EQ(chain->root.kind, PathRoot::Kind::Local);
    // "thread 4242 frame main"; before 3.11 the scene's thread states have no native id: its pthread id.
    const std::string& holder = chain->root.holder;
    EXPECT_TRUE(holder == "thread 4242 frame main" || holder == "thread 0x7f3a5d9e8740 frame main") << holder;
    EXPECT_EQ(edge_label(ctx, scene.root, chain->objects[1]), t == 0 ? "['l']" : "['fs']");
    EXPECT_NE(std::find(found->direct[t].begin(), found->direct[t].end(), scene.root), found->direct[t].end());
  }
  EXPECT_EQ(found->depth, 1);
  EXPECT_TRUE(found->heap_walked);
}

INSTANTIATE_TEST_SUITE_P(Versions, HeapPaths, testing::ValuesIn(kBuilderVersions), version_name);

}  // namespace
}  // namespace pyxray
