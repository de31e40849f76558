// End-to-end tests of `py-sample-diff` in the debuggers with nothing attached: gdb and LLDB load the
// plugin, read two folded profiles written as py-sample writes them (NEW doubles one stack, drops a
// function and adds one), and the summary, the JSON and the differential flame graph's fills must be
// what the counts say. Bad input fails in one line and leaves no file behind. No process and no
// sampling: each debugger runs once, for a second.
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "lldb_harness.hpp"
#include "workload.hpp"

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// BASE: 720 samples. NEW: 820, part_c's stack doubled, old_path gone, fresh new.
constexpr const char* kBase =
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:25);part_a (/srv/app/work.py:12) 300\n"
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:26);helper (/srv/app/util.py:9);part_c "
    "(/srv/app/work.py:20) 100\n"
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:27);part_b (/srv/app/work.py:18) 250\n"
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:25) 50\n"
    "<module> (/srv/app/work.py:30);old_path (/srv/app/work.py:40) 20\n";
constexpr const char* kNew =
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:25);part_a (/srv/app/work.py:12) 300\n"
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:26);helper (/srv/app/util.py:9);part_c "
    "(/srv/app/work.py:20) 200\n"
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:27);part_b (/srv/app/work.py:18) 250\n"
    "<module> (/srv/app/work.py:30);main (/srv/app/work.py:25) 50\n"
    "<module> (/srv/app/work.py:30);fresh (/srv/app/work.py:50) 20\n";
constexpr const char* kPartC = "part_c (/srv/app/work.py:20)";

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// The boxes of a flame graph SVG: (label, fill) in drawing order.
std::vector<std::pair<std::string, std::string>> boxes_of(const std::string& svg) {
  std::vector<std::pair<std::string, std::string>> out;
  static const std::regex box(R"re(<title>([^<]*?) \([^<(]*\)</title><rect [^>]*fill="([^"]+)")re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), box); it != std::sregex_iterator(); ++it)
    out.emplace_back((*it)[1], (*it)[2]);
  return out;
}

// The doubled stack's leaf, and nothing else, is full red; the box of what is gone is not drawn.
void check_diff_svg(const fs::path& path) {
  auto xml =
      run_command({"python3", "-c", "import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])", path.string()},
                  path.parent_path(), 60s);
  EXPECT_EQ(xml.exit_code, 0) << "not well-formed XML\n" << xml.describe();
  const std::string svg = read_text(path);
  auto boxes = boxes_of(svg);
  // all, <module>, main at three lines, part_a, helper, part_c, part_b, fresh
  ASSERT_EQ(boxes.size(), 10u) << svg.substr(0, 3000);
  for (const auto& [label, fill] : boxes) {
    EXPECT_NE(label, "old_path (/srv/app/work.py:40)");
    if (label == kPartC) {
      EXPECT_EQ(fill, "rgb(255,0,0)");
    } else {
      EXPECT_NE(fill, "rgb(255,0,0)") << label;
    }
    // Callers without own samples stay white; what shrank is blue.
    if (label.starts_with("<module>") || label.starts_with("helper")) {
      EXPECT_EQ(fill, "rgb(255,255,255)") << label;
    }
    if (label.starts_with("part_a") || label.starts_with("part_b")) {
      EXPECT_TRUE(fill.ends_with(",255)")) << label;
    }
  }
  EXPECT_NE(svg.find("<title>part_c (/srv/app/work.py:20) (100 \u2192 200 samples, +10.5%; self 100 \u2192 200, "
                     "+10.5%)</title>"),
            std::string::npos);
}

TEST(SampleDiff, GdbWithoutAProcess) {
  TempDir dir;
  const fs::path d = dir.path();
  write_file(d / "base.folded", kBase);
  write_file(d / "new.folded", kNew);
  write_file(d / "notes.txt", "profile of the old build\nsee the wiki\n");
  write_file(d / "empty.folded", "");
  write_file(d / "broken.folded",
             std::string(kBase).substr(0, std::string(kBase).find("(/srv/app/work.py:18)")) + "\n" + kBase);
  write_file(d / "keep.svg", "old contents\n");
  const std::vector<std::string> good = {
      "py-sample-diff base.folded new.folded -o diff.svg",
      "py-sample-diff base.folded new.folded --json --top 1",
      "py-sample-diff base.folded base.folded -o same.svg",
      "py-sample-diff new.folded base.folded --top 1",
      "help py-sample-diff",
  };
  std::vector<std::string> commands = {"cd " + d.string()};
  for (const auto& c : marked_script(good)) commands.push_back(c);
  for (const char* bad :
       {"py-sample-diff base.folded missing.folded -o bad1.svg", "py-sample-diff base.folded notes.txt -o bad2.svg",
        "py-sample-diff empty.folded new.folded -o bad3.svg", "py-sample-diff broken.folded new.folded -o keep.svg",
        "py-sample-diff base.folded -o bad4.svg", "py-sample-diff base.folded new.folded -o diff.json",
        "py-sample-diff base.folded new.folded -o no/such/dir/x.svg"})
    commands.push_back(bad);
  std::vector<std::string> argv{
      gdb_program(), "-nx", "-batch", "-iex", "set debuginfod enabled off", "-x", gdb_plugin_path().string()};
  for (const auto& c : commands) {
    argv.push_back("-ex");
    argv.push_back(c);
  }
  auto r = run_command(argv, d, 60s);
  EXPECT_TRUE(gdb_run_problems(r, false).empty()) << r.describe();
  auto out = marked_outputs(r.out, good.size());

  // The summary: own and total share per function, the doubled stack's leaf first.
  const std::string& text = out[0];
  EXPECT_TRUE(
      text.starts_with("py-sample-diff: BASE base.folded 720 samples, NEW new.folded 820 samples (BASE "
                       "scaled x1.139)\nwrote differential flame graph to diff.svg (widths: NEW; red: more "
                       "own samples in NEW, blue: fewer)\ntop changes by own time (share of samples, BASE -> "
                       "NEW):\n    base     new   change  function\n"
                       "   13.9%   24.4%   +10.5%  part_c (/srv/app/work.py)\n"
                       "   41.7%   36.6%    -5.1%  part_a (/srv/app/work.py)\n"))
      << text;
  EXPECT_NE(text.find("top changes by total time (share of samples, BASE -> NEW):\n    base     new   change  "
                      "function\n   13.9%   24.4%   +10.5%  part_c (/srv/app/work.py)\n"
                      "   13.9%   24.4%   +10.5%  helper (/srv/app/util.py)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("       -    2.4%    +2.4%  fresh (/srv/app/work.py)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    2.8%       -    -2.8%  old_path (/srv/app/work.py)\n"), std::string::npos) << text;
  EXPECT_TRUE(
      text.ends_with("new in NEW: fresh (/srv/app/work.py) 2.4%\ngone from NEW: old_path "
                     "(/srv/app/work.py) 2.8%\n"))
      << text;
  check_diff_svg(d / "diff.svg");

  // --json: every change, whatever --top.
  std::string error;
  auto j = find_json_line(out[1], &error, "{");
  ASSERT_TRUE(j) << error << "\n" << out[1];
  EXPECT_EQ((*j)["base"], (json{{"file", "base.folded"}, {"samples", 720}, {"stacks", 5}}));
  EXPECT_EQ((*j)["new"], (json{{"file", "new.folded"}, {"samples", 820}, {"stacks", 5}}));
  EXPECT_NEAR((*j)["scale"].get<double>(), 820.0 / 720.0, 1e-12);
  EXPECT_EQ((*j)["normalized"], true);
  ASSERT_GE((*j)["changes"].size(), 6u) << j->dump(2);  // part_c, part_a, part_b, old_path, fresh, main, helper
  const json& top = (*j)["changes"][0];
  EXPECT_EQ(top["function"], "part_c");
  EXPECT_EQ(top["file"], "/srv/app/work.py");
  EXPECT_EQ(top["base_own"], 100);
  EXPECT_EQ(top["new_own"], 200);
  EXPECT_EQ(top["base_total"], 100);
  EXPECT_EQ(top["new_total"], 200);
  EXPECT_NEAR(top["own_change"].get<double>(), 100.0 * (200.0 / 820 - 100.0 / 720), 1e-9);
  EXPECT_EQ((*j)["new_only"], (json::parse(R"([{"function":"fresh","file":"/srv/app/work.py","own":20,"total":20}])")));
  EXPECT_EQ((*j)["gone"], (json::parse(R"([{"function":"old_path","file":"/srv/app/work.py","own":20,"total":20}])")));
  EXPECT_EQ((*j)["outputs"], json::array());

  // A profile compared with itself: no change, every box white.
  EXPECT_NE(out[2].find("(the same number of samples)\n"), std::string::npos) << out[2];
  EXPECT_NE(out[2].find("no function's share of own or total time changed by 0.1% or more\n"), std::string::npos)
      << out[2];
  auto same = boxes_of(read_text(d / "same.svg"));
  EXPECT_EQ(same.size(), 10u);
  for (const auto& [label, fill] : same) EXPECT_EQ(fill, "rgb(255,255,255)") << label;

  // The other way round (--top 1): what grew is what shrinks.
  EXPECT_NE(out[3].find("   24.4%   13.9%   -10.5%  part_c (/srv/app/work.py)\n"), std::string::npos) << out[3];
  EXPECT_EQ(out[3].find("part_a"), std::string::npos) << out[3];
  EXPECT_NE(out[3].find("new in NEW: old_path (/srv/app/work.py) 2.8%\n"), std::string::npos) << out[3];
  EXPECT_NE(out[4].find("Usage: py-sample-diff BASE.folded NEW.folded"), std::string::npos) << out[4];

  // Bad input: one line each, and no file written (an existing one as it was).
  const std::string hint = ": give folded stacks, as py-sample -o X.folded writes them\n";
  for (const std::string& line :
       {std::string("pyxray: py-sample-diff: cannot read missing.folded: No such file or directory\n"),
        "pyxray: py-sample-diff: notes.txt is not a profile (line 1: no sample count at the end)" + hint,
        "pyxray: py-sample-diff: empty.folded is empty" + hint,
        "pyxray: py-sample-diff: broken.folded is not a profile (line 3: no sample count at the end)" + hint,
        std::string("pyxray: py-sample-diff wants two folded profiles, BASE and NEW (see 'help py-sample-diff')\n"),
        std::string("pyxray: py-sample-diff: -o writes a differential flame graph: name it .svg, not 'diff.json'\n"),
        std::string("pyxray: py-sample-diff: cannot write no/such/dir/x.svg: no/such/dir is not a directory\n")})
    EXPECT_NE(r.err.find(line), std::string::npos) << line << r.describe();
  for (const char* f : {"bad1.svg", "bad2.svg", "bad3.svg", "bad4.svg", "diff.json"})
    EXPECT_FALSE(fs::exists(d / f)) << f;
  EXPECT_EQ(read_text(d / "keep.svg"), "old contents\n");
}

TEST(SampleDiff, LldbWithoutATarget) {
  TempDir dir;
  const fs::path d = dir.path();
  write_file(d / "base.folded", kBase);
  write_file(d / "new.folded", kNew);
  const std::string diff = "py-sample-diff " + (d / "base.folded").string() + " " + (d / "new.folded").string() +
                           " -o " + (d / "lldb.svg").string() + " --json";
  // Batch mode stops at a failing command: the bad input goes last.
  const std::string bad = "py-sample-diff " + (d / "base.folded").string() + " " + (d / "none.folded").string();
  auto r = run_lldb({}, {diff, bad}, d);
  EXPECT_TRUE(lldb_run_problems(r, false).empty()) << r.describe();
  std::string error;
  auto j = find_json_line(lldb_command_output(r.out, diff), &error, "{");
  ASSERT_TRUE(j) << error << "\n" << r.describe();
  EXPECT_EQ((*j)["changes"][0]["function"], "part_c");
  EXPECT_EQ((*j)["outputs"][0]["file"], (d / "lldb.svg").string());
  check_diff_svg(d / "lldb.svg");
  EXPECT_NE(
      (r.out + r.err)
          .find("pyxray: py-sample-diff: cannot read " + (d / "none.folded").string() + ": No such file or directory"),
      std::string::npos)
      << r.describe();
  EXPECT_EQ((r.out + r.err).find("no process"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace pyxray::it
