// py-sample-diff's parts: folded stacks read back (core/sample/folded_reader.cpp), the comparison of
// two profiles and the differential flame graph's colours (core/sample/sample_diff.cpp). The command
// itself, under gdb and LLDB with nothing attached, is in tests/integration/sample_diff_test.cpp.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "sample/flamegraph_svg.hpp"
#include "sample/folded_reader.hpp"
#include "sample/sample_diff.hpp"

namespace pyxray {
namespace {

constexpr const char* kHint = "give folded stacks, as py-sample -o X.folded writes them";

FoldedProfile parsed(const std::string& text) {
  auto p = parse_folded(text, "test.folded");
  EXPECT_TRUE(p) << p.error().message;
  return p ? *p : FoldedProfile{};
}

std::string error_of(const std::string& text) {
  auto p = parse_folded(text, "bad.folded");
  return p ? "(parsed)" : p.error().message;
}

TEST(FoldedReader, PyxraysOwnFramesWithSpaces) {
  // What py-sample -o X.folded writes: frames "function (file:line)", the count last.
  FoldedProfile p = parsed(
      "<module> (/srv/app/work.py:30);main (/srv/app/work.py:25);part_a (/srv/app/work.py:12) 2250\n"
      "<module> (/srv/app/work.py:30);main (/srv/app/work.py:26);part_b (/srv/app/work.py:18) 5001\n");
  ASSERT_EQ(p.stacks.size(), 2u);
  EXPECT_EQ(p.stacks[0].frames,
            (std::vector<std::string>{"<module> (/srv/app/work.py:30)", "main (/srv/app/work.py:25)",
                                      "part_a (/srv/app/work.py:12)"}));
  EXPECT_EQ(p.stacks[0].count, 2250);
  EXPECT_EQ(p.stacks[1].count, 5001);
  EXPECT_EQ(p.total, 7251);
  EXPECT_EQ(p.name, "test.folded");
}

TEST(FoldedReader, CommentsBlankLinesTabsCrlfAndFractions) {
  FoldedProfile p = parsed("# a comment\n\na;b\t3\r\n  c 1.5  \nd;e  12.\nf 0\n[unknown];{x} 2\n");
  ASSERT_EQ(p.stacks.size(), 5u);
  EXPECT_EQ(p.stacks[0].frames, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.stacks[0].count, 3);
  EXPECT_EQ(p.stacks[1].frames, (std::vector<std::string>{"c"}));
  EXPECT_EQ(p.stacks[1].count, 1.5);
  EXPECT_EQ(p.stacks[2].count, 12);
  EXPECT_EQ(p.stacks[3].count, 0);
  EXPECT_EQ(p.stacks[4].frames, (std::vector<std::string>{"[unknown]", "{x}"}));  // perf's, not JSON
  EXPECT_EQ(p.total, 18.5);
}

TEST(FoldedReader, BadInputIsOneLineNamingFileAndLine) {
  EXPECT_EQ(error_of("a;b 3\nc;d 4\nmain (/srv/app/work.py:25)\n"),
            std::string("bad.folded is not a profile (line 3: no sample count at the end): ") + kHint);
  EXPECT_EQ(error_of("a;b 3\na;b -4\n"),
            std::string("bad.folded is not a profile (line 2: no sample count at the end): ") + kHint);
  EXPECT_EQ(error_of("a;b 3x\n"),
            std::string("bad.folded is not a profile (line 1: no sample count at the end): ") + kHint);
  EXPECT_EQ(error_of("17\n"),
            std::string("bad.folded is not a profile (line 1: no sample count at the end): ") + kHint);
  EXPECT_EQ(error_of(""), std::string("bad.folded is empty: ") + kHint);
  EXPECT_EQ(error_of("\n  \n"), std::string("bad.folded is empty: ") + kHint);
  EXPECT_EQ(error_of("# only\n# comments\n"), std::string("bad.folded has no stacks, only comments: ") + kHint);
  EXPECT_EQ(error_of("a 0\nb 0\n"), "bad.folded has no samples: every count is 0");
  // Another profile format: said what it looks like.
  EXPECT_EQ(error_of("\x1f\x8b\x08\x00 junk\n"),
            std::string("bad.folded is not a profile (line 1: gzip data (a pprof profile?)): ") + kHint);
  EXPECT_EQ(error_of("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\"}\n"),
            std::string("bad.folded is not a profile (line 1: JSON (a speedscope profile?)): ") + kHint);
  EXPECT_EQ(error_of("<?xml version=\"1.0\"?>\n<svg>\n"),
            std::string("bad.folded is not a profile (line 1: XML (a flame graph SVG?)): ") + kHint);
}

TEST(FoldedReader, MissingFileAndDirectory) {
  auto missing = read_folded_file("/nonexistent/base.folded");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "cannot read /nonexistent/base.folded: No such file or directory");
  auto dir = read_folded_file("/");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, "cannot read /: it is a directory");
  auto device = read_folded_file("/dev/zero");
  ASSERT_FALSE(device);
  EXPECT_EQ(device.error().message, "cannot read /dev/zero: not a regular file");
}

TEST(FoldedReader, FunctionOfFrame) {
  auto fn = [](const char* frame) {
    FoldedFunction f = function_of_frame(frame);
    return f.function + "|" + f.file;
  };
  EXPECT_EQ(fn("part_a (/srv/app/work.py:12)"), "part_a|/srv/app/work.py");
  EXPECT_EQ(fn("Widget.run (/srv/app/work.py)"), "Widget.run|/srv/app/work.py");
  EXPECT_EQ(fn("f(int, char) (/usr/lib/libx.so)"), "f(int, char)|/usr/lib/libx.so");
  EXPECT_EQ(fn("task main"), "task main|");
  EXPECT_EQ(fn("0x7f3a12"), "0x7f3a12|");
  EXPECT_EQ(fn("g (C:x)"), "g|C:x");  // not a line number: part of the file
}

// Boxes of a flame graph SVG: label -> fill.
std::map<std::string, std::string> fills_of(const std::string& svg) {
  std::map<std::string, std::string> out;
  static const std::regex box(R"re(<title>([^<]*?) \([^<(]*\)</title><rect [^>]*fill="([^"]+)")re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), box); it != std::sregex_iterator(); ++it)
    out[(*it)[1]] = (*it)[2];
  return out;
}

// Three stacks, of which NEW doubles one (the `c` leaf): the rest is equal.
constexpr const char* kBase =
    "main (w.py:1);a (w.py:5) 300\n"
    "main (w.py:1);b (w.py:9);c (w.py:20) 100\n"
    "main (w.py:1);b (w.py:9);d (w.py:30) 250\n"
    "main (w.py:1) 50\n";
constexpr const char* kDoubled =
    "main (w.py:1);a (w.py:5) 300\n"
    "main (w.py:1);b (w.py:9);c (w.py:20) 200\n"
    "main (w.py:1);b (w.py:9);d (w.py:30) 250\n"
    "main (w.py:1) 50\n";

TEST(SampleDiff, ItselfIsAllWhiteAndNoChange) {
  FoldedProfile p = parsed(kBase);
  SampleDiff d = diff_profiles(p, p, {});
  EXPECT_EQ(d.scale, 1);
  EXPECT_TRUE(top_changes(d, false, 8).empty());
  EXPECT_TRUE(top_changes(d, true, 8).empty());
  ASSERT_EQ(d.functions.size(), 5u);
  for (const auto& f : d.functions) {
    EXPECT_EQ(f.own_change, 0) << f.function;
    EXPECT_EQ(f.total_change, 0) << f.function;
    EXPECT_TRUE(f.in_base() && f.in_new()) << f.function;
  }
  const std::string svg = flamegraph_svg(diff_flame_tree(p, p, {}), {});
  auto fills = fills_of(svg);
  ASSERT_EQ(fills.size(), 6u) << svg;  // all, main, a, b, c, d
  for (const auto& [label, fill] : fills) EXPECT_EQ(fill, "rgb(255,255,255)") << label;
  EXPECT_NE(svg.find("<title>c (w.py:20) (100 \u2192 100 samples, +0.0%; self 100 \u2192 100, +0.0%)</title>"),
            std::string::npos)
      << svg;
}

TEST(SampleDiff, DoubledStackIsReddestAndTopsTheList) {
  FoldedProfile base = parsed(kBase), now = parsed(kDoubled);
  SampleDiff d = diff_profiles(base, now, {});
  EXPECT_DOUBLE_EQ(d.scale, 800.0 / 700.0);
  auto own = top_changes(d, false, 8);
  ASSERT_FALSE(own.empty());
  EXPECT_EQ(own[0]->function, "c");
  EXPECT_EQ(own[0]->file, "w.py");
  EXPECT_EQ(own[0]->base_own, 100);
  EXPECT_EQ(own[0]->new_own, 200);
  // Shares: 100/700 = 14.29% -> 200/800 = 25%.
  EXPECT_NEAR(own[0]->own_change, 25.0 - 100.0 / 7, 1e-9);
  // The others' shares fell: a 300/700 -> 300/800.
  for (std::size_t i = 1; i < own.size(); ++i) EXPECT_LT(own[i]->own_change, 0) << own[i]->function;
  auto total = top_changes(d, true, 8);
  ASSERT_FALSE(total.empty());
  // By total: c as well (+10.7), before its caller b (50% -> 56.25%).
  EXPECT_EQ(total[0]->function, "c");
  EXPECT_NEAR(total[0]->total_change, 25.0 - 100.0 / 7, 1e-9);
  ASSERT_GE(total.size(), 2u);
  EXPECT_EQ(total[1]->function, "b");
  EXPECT_NEAR(total[1]->total_change, 56.25 - 50, 1e-9);

  auto fills = fills_of(flamegraph_svg(diff_flame_tree(base, now, {}), {}));
  // c grew by 200 - 100 * 8/7 = 85.7 scaled samples, the most: full red. The others shrank in
  // proportion (a by 300/7 = 42.9: half as deep), their callers with no own samples stay white.
  EXPECT_EQ(fills["c (w.py:20)"], "rgb(255,0,0)");
  const double scale = 800.0 / 700.0;
  EXPECT_EQ(fills["a (w.py:5)"], diff_fill(300 - scale * 300, 200 - scale * 100));
  EXPECT_TRUE(fills["a (w.py:5)"] == "rgb(105,105,255)" || fills["a (w.py:5)"] == "rgb(104,104,255)")
      << fills["a (w.py:5)"];
  EXPECT_EQ(fills["b (w.py:9)"], "rgb(255,255,255)");
  EXPECT_EQ(fills["all"], "rgb(255,255,255)");
  for (const auto& [label, fill] : fills) {
    if (label != "c (w.py:20)") EXPECT_NE(fill, "rgb(255,0,0)") << label;
  }

  // Unscaled, only c changed.
  DiffOptions raw;
  raw.normalize = false;
  auto raw_fills = fills_of(flamegraph_svg(diff_flame_tree(base, now, raw), {}));
  EXPECT_EQ(raw_fills["c (w.py:20)"], "rgb(255,0,0)");
  for (const char* same : {"a (w.py:5)", "d (w.py:30)", "main (w.py:1)", "b (w.py:9)"})
    EXPECT_EQ(raw_fills[same], "rgb(255,255,255)") << same;
}

TEST(SampleDiff, SharesCompareWhateverTheLength) {
  // NEW ran twice as long with the same shares: no change, BASE scaled x2, all white.
  FoldedProfile base = parsed("m;a 30\nm;b 70\n"), now = parsed("m;a 60\nm;b 140\n");
  SampleDiff d = diff_profiles(base, now, {});
  EXPECT_EQ(d.scale, 2);
  EXPECT_TRUE(top_changes(d, false, 8).empty());
  for (const auto& [label, fill] : fills_of(flamegraph_svg(diff_flame_tree(base, now, {}), {})))
    EXPECT_EQ(fill, "rgb(255,255,255)") << label;
  // Unscaled, everything looks grown.
  DiffOptions raw;
  raw.normalize = false;
  auto fills = fills_of(flamegraph_svg(diff_flame_tree(base, now, raw), {}));
  EXPECT_EQ(fills["b"], "rgb(255,0,0)");
  EXPECT_EQ(fills["a"], diff_fill(30, 70));
}

TEST(SampleDiff, NewAndGoneFunctionsAndNegate) {
  FoldedProfile base = parsed("m;a 50\nm;old 50\n"), now = parsed("m;a 50\nm;fresh 50\n");
  SampleDiff d = diff_profiles(base, now, {});
  std::map<std::string, const FunctionChange*> by_name;
  for (const auto& f : d.functions) by_name[f.function] = &f;
  ASSERT_TRUE(by_name["fresh"] && by_name["old"]);
  EXPECT_FALSE(by_name["fresh"]->in_base());
  EXPECT_TRUE(by_name["fresh"]->in_new());
  EXPECT_DOUBLE_EQ(by_name["fresh"]->own_change, 50);
  EXPECT_FALSE(by_name["old"]->in_new());
  EXPECT_DOUBLE_EQ(by_name["old"]->own_change, -50);
  EXPECT_DOUBLE_EQ(by_name["a"]->own_change, 0);
  EXPECT_EQ(top_changes(d, false, 8).size(), 2u);
  EXPECT_EQ(top_changes(d, false, 1).size(), 1u);

  // NEW's widths: what is gone has none, what is new is red.
  auto fills = fills_of(flamegraph_svg(diff_flame_tree(base, now, {}), {}));
  EXPECT_EQ(fills.count("old"), 0u);
  EXPECT_EQ(fills["fresh"], "rgb(255,0,0)");
  EXPECT_EQ(fills["a"], "rgb(255,255,255)");
  // --negate: BASE's widths, so the gone stack shows, blue (colours keep their meaning).
  DiffOptions negate;
  negate.negate = true;
  const std::string svg = flamegraph_svg(diff_flame_tree(base, now, negate), {});
  fills = fills_of(svg);
  EXPECT_EQ(fills.count("fresh"), 0u);
  EXPECT_EQ(fills["old"], "rgb(0,0,255)");
  EXPECT_NE(svg.find("<title>old (50 \u2192 0 samples, -50.0%; self 50 \u2192 0, -50.0%)</title>"), std::string::npos)
      << svg;
}

TEST(SampleDiff, GreggsColourScale) {
  EXPECT_EQ(diff_fill(10, 10), "rgb(255,0,0)");
  EXPECT_EQ(diff_fill(-10, 10), "rgb(0,0,255)");
  EXPECT_EQ(diff_fill(5, 10), "rgb(255,105,105)");
  EXPECT_EQ(diff_fill(-2, 10), "rgb(168,168,255)");
  EXPECT_EQ(diff_fill(0, 10), "rgb(255,255,255)");
  EXPECT_EQ(diff_fill(0.4, 10), "rgb(255,255,255)");  // under half a sample: scaling's fractions
  EXPECT_EQ(diff_fill(3, 0), "rgb(255,255,255)");
}

TEST(SampleDiff, PlainFlameGraphUnchangedByTheRefactor) {
  // The usual graph still says "N samples, P%" and colours by its palette.
  FlameNode root;
  root.label = "all";
  root.kind = FlameNode::kRoot;
  root.count = 4;
  FlameNode& f = root.child(FlameNode::kPython, "f (x.py:1)");
  f.count = 3;
  root.child(FlameNode::kNative, "g").count = 1;
  const std::string svg = flamegraph_svg(root, {});
  EXPECT_NE(svg.find("data-total=\"4\""), std::string::npos);
  EXPECT_NE(svg.find("<g data-s=\"0\" data-n=\"3\" data-d=\"1\"><title>f (x.py:1) (3 samples, 75.00%)</title>"),
            std::string::npos)
      << svg;
  EXPECT_NE(svg.find("<g data-s=\"3\" data-n=\"1\" data-d=\"1\"><title>g (1 sample, 25.00%)</title>"),
            std::string::npos)
      << svg;
  EXPECT_NE(svg.find("<title>all (4 samples, 100.00%)</title><rect x=\"10.0\" y=\"88.0\" width=\"1180.0\" "
                     "height=\"15.0\" fill=\"rgb(200,200,200)\""),
            std::string::npos)
      << svg;
}

}  // namespace
}  // namespace pyxray
