// GenerationLabeler on hand-made rings: which list each tracked object is on, per type, and what a
// broken ring or a wrong old-space bit gives. The rings are addresses only: no process is needed.
#include "heap/gc_generations.hpp"

#include <gtest/gtest.h>

#include "layout/version.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

// A ring through `head` of objects at `nodes` (PyGC_Head addresses), with `flags` or'ed into each
// node's _gc_next; each node added to `lab` with the next ordinal and `type`.
struct Rings {
  GenerationLabeler lab;
  uint32_t ordinal = 0;
  std::vector<GcListHead> heads;
  void ring(uint64_t head, uint8_t code, const std::vector<uint64_t>& nodes, uint32_t type, uint64_t flags = 0,
            int8_t space_bit = -1) {
    heads.push_back({head, nodes.empty() ? head : nodes.front(), code, space_bit});
    for (std::size_t i = 0; i < nodes.size(); ++i)
      lab.add(ordinal++, type, nodes[i], (i + 1 < nodes.size() ? nodes[i + 1] : head) | flags);
  }
};

TEST(GcGenerations, EachObjectGetsItsListsGeneration) {
  Rings r;
  r.ring(0x1000, 1, {0x9000, 0x5000, 0x7000}, /*type=*/0);
  r.ring(0x1018, 2, {0x6000}, 1);
  r.ring(0x1030, 3, {}, 1);  // an empty generation: the head points at itself
  r.ring(0x1060, kGenPermanent, {0x8000, 0x4000}, 0, /*flags: NEXT_MASK_UNREACHABLE=*/1);
  GenerationResult g = r.lab.label(r.heads, /*objects=*/8, /*old_space_bit=*/-1);
  EXPECT_TRUE(g.warnings.empty());
  ASSERT_EQ(g.gen_by_ordinal.size(), 8u);
  EXPECT_EQ(g.gen_by_ordinal[0], 1);
  EXPECT_EQ(g.gen_by_ordinal[2], 1);
  EXPECT_EQ(g.gen_by_ordinal[3], 2);
  EXPECT_EQ(g.gen_by_ordinal[4], kGenPermanent);
  EXPECT_EQ(g.gen_by_ordinal[5], kGenPermanent);
  EXPECT_EQ(g.gen_by_ordinal[6], kGenUntracked);  // not added: untracked or not a GC type
  ASSERT_EQ(g.by_type.size(), 2u);
  EXPECT_EQ(g.by_type[0][1], 3u);
  EXPECT_EQ(g.by_type[0][kGenPermanent], 2u);
  EXPECT_EQ(g.by_type[1][2], 1u);
  EXPECT_EQ(g.total[1], 3u);
  EXPECT_EQ(g.total[kGenUnknown], 0u);
}

TEST(GcGenerations, BrokenRingLeavesTheRestUnknown) {
  Rings r;
  r.lab.add(0, 0, 0x5000, 0x6000);  // 0x6000 was never walked
  r.lab.add(1, 0, 0x7000, 0x1000);  // after the break: no ring reaches it
  r.heads.push_back({0x1000, 0x5000, 1, -1});
  GenerationResult g = r.lab.label(r.heads, 2, -1);
  EXPECT_EQ(g.gen_by_ordinal[0], 1);
  EXPECT_EQ(g.gen_by_ordinal[1], kGenUnknown);
  EXPECT_EQ(g.total[kGenUnknown], 1u);
  ASSERT_EQ(g.warnings.size(), 2u);
  EXPECT_NE(g.warnings[0].find("0x6000"), std::string::npos);
}

TEST(GcGenerations, ANodeTheWalkMissedIsReadThrough) {
  Rings r;
  r.lab.add(0, 0, 0x5000, 0x6000);  // 0x6000 was not walked, but can be read: it links to 0x7000
  r.lab.add(1, 0, 0x7000, 0x1000);
  r.heads.push_back({0x1000, 0x5000, 2, -1});
  GenerationResult g = r.lab.label(r.heads, 2, -1, [](uint64_t node) -> std::optional<uint64_t> {
    if (node == 0x6000) return 0x7000 | 1;
    return std::nullopt;
  });
  EXPECT_EQ(g.gen_by_ordinal[0], 2);
  EXPECT_EQ(g.gen_by_ordinal[1], 2);
  ASSERT_EQ(g.warnings.size(), 1u);
  EXPECT_NE(g.warnings[0].find("not objects the walk counted"), std::string::npos);
}

TEST(GcGenerations, ALoopThatMissesItsHeadEnds) {
  Rings r;
  r.lab.add(0, 0, 0x5000, 0x6000);
  r.lab.add(1, 0, 0x6000, 0x5000);  // back to the first node, never to the head
  r.heads.push_back({0x1000, 0x5000, 1, -1});
  GenerationResult g = r.lab.label(r.heads, 2, -1);
  EXPECT_EQ(g.total[1], 2u);
  EXPECT_EQ(g.warnings.size(), 1u);
}

// 3.14.0-3.14.4: old[0]'s objects carry old-space bit 0, old[1]'s bit 1; with visited_space 1 old[1]
// is the visited space (code 2) and old[0] the pending one (code 3).
TEST(GcGenerations, IncrementalOldSpaces) {
  Rings r;
  r.ring(0x1000, 1, {0x5000}, 0, 1);                     // young: the bit of the space it will join
  r.ring(0x1018, 3, {0x6000, 0x6100}, 0, 0, /*bit=*/0);  // old[0], pending
  r.ring(0x1030, 2, {0x7000}, 0, 1, /*bit=*/1);          // old[1], visited
  GenerationResult g = r.lab.label(r.heads, 4, /*old_space_bit=*/0);
  EXPECT_TRUE(g.warnings.empty());
  EXPECT_EQ(g.total[1], 1u);
  EXPECT_EQ(g.total[2], 1u);
  EXPECT_EQ(g.total[3], 2u);

  Rings bad;
  bad.ring(0x1018, 2, {0x6000}, 0, 1, /*bit=*/0);  // on old[0] with old[1]'s bit
  GenerationResult b = bad.lab.label(bad.heads, 1, 0);
  ASSERT_EQ(b.warnings.size(), 1u);
  EXPECT_NE(b.warnings[0].find("other space's bit"), std::string::npos);
}

TEST(GcGenerations, NamesComeFromTheVersionRow) {
  auto names = [](PyVersion v) { return generation_names(traits_for(v)); };
  EXPECT_EQ(names({3, 12, 1, true})[1], "gen0");
  EXPECT_EQ(names({3, 12, 1, true})[4], "permanent");
  EXPECT_EQ(names({3, 14, 3, true})[1], "young");
  EXPECT_EQ(names({3, 14, 3, true})[2], "old-visited");
  EXPECT_EQ(names({3, 14, 10, true})[1], "gen0");  // 3.14.5 went back to generations
  EXPECT_EQ(names({3, 15, 2, true})[3], "gen2");
  EXPECT_FALSE(traits_for({3, 6, 15, true}).gc_permanent);
  EXPECT_TRUE(traits_for({3, 7, 16, true}).gc_permanent);
  EXPECT_EQ(traits_for({3, 14, 0, true}).gc_model, GcModel::Incremental314);
  EXPECT_EQ(traits_for({3, 14, 0, false}).gc_model, GcModel::Generational);
}

}  // namespace
}  // namespace pyxray
