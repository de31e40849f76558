// py-sample's per-line views: the own/total counting over the stack tree (core/sample/line_costs.cpp),
// the text table's rows (core/sample/line_table.cpp) and the HTML heat view's escaping
// (core/sample/line_heat_html.cpp), the page parsed by Python's html.parser in Debian's python3.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "report/source_lines.hpp"
#include "sample/line_costs.hpp"
#include "sample/line_heat_html.hpp"
#include "sample/line_table.hpp"
#include "sample/stack_aggregate.hpp"

namespace pyxray {
namespace {

namespace fs = std::filesystem;

const LineCost* find_line(const LineCosts& c, const std::string& file, int line) {
  for (const auto& l : c.lines)
    if (l.file == file && l.line == line) return &l;
  return nullptr;
}

const FunctionLines* find_function(const LineCosts& c, const std::string& function) {
  for (const auto& f : c.functions)
    if (f.function == function) return &f;
  return nullptr;
}

// <module>:3 -> f:10 -> f:12 -> f:12 (recursion on one line) x4; <module>:3 -> f:10 x2;
// <module>:3 -> g:21 under a native leaf x3; <module>:3 -> h (no line) x1; in another file, a
// generator expression sharing its line with the function around it, x5.
struct Profile {
  FrameTable frames;
  StackAggregate agg;
  Profile() {
    const uint32_t mod = frames.intern({"<module>", "app.py", 3, false, 1});
    const uint32_t f10 = frames.intern({"f", "app.py", 10, false, 9});
    const uint32_t f12 = frames.intern({"f", "app.py", 12, false, 9});
    const uint32_t g21 = frames.intern({"g", "app.py", 21, false, 20});
    const uint32_t h = frames.intern({"h", "app.py", -1, false, 30});
    const uint32_t native = frames.intern({"memcpy", "libc.so.6", -1, true, -1});
    const uint32_t outer = frames.intern({"outer", "lib.py", 5, false, 4});
    const uint32_t genexpr = frames.intern({"<genexpr>", "lib.py", 5, false, 5});
    const uint32_t t = agg.add_thread({1, 100, "main"});
    auto add = [&](std::vector<uint32_t> innermost_first, int times) {
      for (int i = 0; i < times; ++i) agg.add(t, innermost_first);
    };
    add({f12, f12, f10, mod}, 4);
    add({f10, mod}, 2);
    add({native, g21, mod}, 3);
    add({h, mod}, 1);
    add({genexpr, outer, mod}, 5);
  }
};

TEST(LineCosts, OwnIsTheInnermostPythonLineAndTotalCountsOncePerSample) {
  Profile p;
  const LineCosts c = line_costs(p.agg, p.frames);
  EXPECT_EQ(c.samples, 15u);

  const LineCost* f12 = find_line(c, "app.py", 12);
  ASSERT_NE(f12, nullptr);
  EXPECT_EQ(f12->own, 4u);
  EXPECT_EQ(f12->total, 4u);  // twice on each of those stacks, counted once
  const LineCost* f10 = find_line(c, "app.py", 10);
  ASSERT_NE(f10, nullptr);
  EXPECT_EQ(f10->own, 2u);
  EXPECT_EQ(f10->total, 6u);
  // The native leaf's samples go to the Python line under it, and say so.
  const LineCost* g21 = find_line(c, "app.py", 21);
  ASSERT_NE(g21, nullptr);
  EXPECT_EQ(g21->own, 3u);
  EXPECT_EQ(g21->own_in_native, 3u);
  // A frame without a line gives no line its own, but the lines under it keep their total.
  const LineCost* mod = find_line(c, "app.py", 3);
  ASSERT_NE(mod, nullptr);
  EXPECT_EQ(mod->own, 0u);
  EXPECT_EQ(mod->total, 15u);
  EXPECT_EQ(find_line(c, "libc.so.6", -1), nullptr);
  // One line, two functions on the stack: counted once, named after the one its samples ran in.
  const LineCost* lib5 = find_line(c, "lib.py", 5);
  ASSERT_NE(lib5, nullptr);
  EXPECT_EQ(lib5->own, 5u);
  EXPECT_EQ(lib5->total, 5u);
  EXPECT_EQ(lib5->function, "<genexpr>");

  // Most own first.
  ASSERT_EQ(c.lines.size(), 5u);
  EXPECT_EQ(c.lines[0].file, "lib.py");
  EXPECT_EQ(c.lines[1].line, 12);
  EXPECT_EQ(c.lines[2].line, 21);
  EXPECT_EQ(c.lines[3].line, 10);
  EXPECT_EQ(c.lines[4].line, 3);

  // Per function, from inside it: f's recursion counts once, its lines as f sees them.
  const FunctionLines* f = find_function(c, "f");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->own, 6u);
  EXPECT_EQ(f->total, 6u);
  EXPECT_EQ(f->first_line, 9);
  ASSERT_EQ(f->lines.size(), 2u);
  EXPECT_EQ(f->lines.at(10).own, 2u);
  EXPECT_EQ(f->lines.at(10).total, 6u);
  EXPECT_EQ(f->lines.at(12).own, 4u);
  EXPECT_EQ(f->lines.at(12).total, 4u);
  const FunctionLines* outer = find_function(c, "outer");
  ASSERT_NE(outer, nullptr);
  EXPECT_EQ(outer->own, 0u);
  EXPECT_EQ(outer->total, 5u);

  // Per file: app.py's lines are on 10 stacks (h's has <module>:3), lib.py's on 5.
  ASSERT_EQ(c.files.size(), 2u);
  EXPECT_EQ(c.files[0].file, "app.py");
  EXPECT_EQ(c.files[0].own, 9u);
  EXPECT_EQ(c.files[0].total, 15u);
  EXPECT_EQ(c.files[1].file, "lib.py");
  EXPECT_EQ(c.files[1].own, 5u);
  EXPECT_EQ(c.files[1].total, 5u);
}

TEST(LineCosts, WindowsAroundLinesMergeAndClip) {
  EXPECT_EQ(line_windows({2, 5, 30}, 3, 31), (std::vector<std::pair<int, int>>{{1, 8}, {27, 31}}));
  EXPECT_EQ(line_windows({10, 17}, 3, 100), (std::vector<std::pair<int, int>>{{7, 20}}));
  EXPECT_EQ(line_windows({10, 18}, 3, 100), (std::vector<std::pair<int, int>>{{7, 13}, {15, 21}}));
  EXPECT_TRUE(line_windows({}, 3, 100).empty());
}

TEST(LineCosts, PrintableSourceLine) {
  EXPECT_EQ(printable_source_line("a\tb"), "a       b");
  EXPECT_EQ(printable_source_line("\xc3\xa9\tb"), "\xc3\xa9       b");  // é is one column
  EXPECT_EQ(printable_source_line(std::string("a\0b\x1b", 4)),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_EQ(printable_source_line("\xff"), "\xEF\xBF\xBD");
}

LineViewInfo view_info(const std::string& title) {
  LineViewInfo info;
  info.title = title;
  info.seconds = 1.0;
  info.interval = 0.01;
  info.mode = "cpu";
  return info;
}

fs::path temp_dir() {
  std::string templ = (fs::temp_directory_path() / "pyxray-lines-XXXXXX").string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  return templ;
}

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// A profile of one file whose hot line is `</script><b>&amp;"'`, under a directory named with < and &.
struct HostileSource {
  fs::path dir = temp_dir();
  fs::path file = dir / "a<b&c" / "hot.py";
  FrameTable frames;
  StackAggregate agg;
  HostileSource() {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << "def hot():\n    s = '</script><b>&amp;\"\\''\n    return s\n";
    const uint32_t hot = frames.intern({"hot<&>", file.string(), 2, false, 1});
    const uint32_t t = agg.add_thread({1, 100, "main"});
    for (int i = 0; i < 7; ++i) agg.add(t, std::vector<uint32_t>{hot});
  }
  ~HostileSource() { fs::remove_all(dir); }
};

TEST(LineHeatHtml, EscapesSourcePathsAndNamesAndParses) {
  HostileSource h;
  SourceLines sources;
  const std::string html = line_heat_html(line_costs(h.agg, h.frames), sources, view_info("py-sample of <test>"));
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_EQ(html.find("</script>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_NE(html.find("s = '&lt;/script&gt;&lt;b&gt;&amp;amp;\"\\''"), std::string::npos);
  EXPECT_NE(html.find("a&lt;b&amp;c/hot.py"), std::string::npos);
  EXPECT_NE(html.find("hot&lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(html.find("\xE2\x8B\xAF"), std::string::npos);  // a short file: whole, no gaps

  // html.parser's view: only the page's own elements, the source line's text as it is in the file,
  // the path as text, the hot row's heat and every link a same-page anchor that exists.
  const fs::path page = h.dir / "page.html";
  std::ofstream(page) << html;
  const fs::path script = h.dir / "check.py";
  std::ofstream(script) << "import sys\n"
                           "from html.parser import HTMLParser\n"
                           "class P(HTMLParser):\n"
                           "    def __init__(self):\n"
                           "        super().__init__(); self.tags = set(); self.text = []; self.ids = set();"
                           " self.links = []; self.hot = None\n"
                           "    def handle_starttag(self, tag, attrs):\n"
                           "        self.tags.add(tag); a = dict(attrs)\n"
                           "        if 'id' in a: self.ids.add(a['id'])\n"
                           "        if 'href' in a: self.links.append(a['href'])\n"
                           "        if tag == 'tr' and a.get('style'): self.hot = (a.get('id'), a['style'])\n"
                           "    def handle_data(self, d): self.text.append(d)\n"
                           "p = P(); p.feed(open(sys.argv[1], encoding='utf-8').read()); p.close()\n"
                           "print('TAGS', ' '.join(sorted(p.tags)))\n"
                           "text = ''.join(p.text)\n"
                           "print('SOURCE', \"s = '</script><b>&amp;\\\"\\\\''\" in text)\n"
                           "print('PATH', sys.argv[2] in text)\n"
                           "print('LINKS', all(l.startswith('#') and l[1:] in p.ids for l in p.links), len(p.links))\n"
                           "print('HOT', p.hot)\n";
  const std::string out =
      run("/usr/bin/python3 " + script.string() + " " + page.string() + " '" + h.file.string() + "' 2>&1");
  EXPECT_NE(out.find("TAGS a body code h1 h2 head html input label main meta p section style table td th title tr\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("SOURCE True\n"), std::string::npos) << out;
  EXPECT_NE(out.find("PATH True\n"), std::string::npos) << out;
  EXPECT_NE(out.find("LINKS True 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("HOT ('f1-L2', '--o:0.800;--t:0.800')\n"), std::string::npos) << out;
}

TEST(LineTable, RowsAndFunctionListingWithSource) {
  HostileSource h;
  SourceLines sources;
  const std::string text = line_table(line_costs(h.agg, h.frames), sources, view_info(""));
  EXPECT_EQ(text.rfind("py-sample lines: 7 samples over 1.00 s (mean interval 10.000 ms), mode cpu\n", 0), 0u) << text;
  const std::string where = h.file.string() + ":2";
  EXPECT_NE(
      text.find(fmt::format("      7 100.0%       7 100.0%  {}  hot<&>    s = '</script><b>&amp;\"\\''\n", where)),
      std::string::npos)
      << text;
  // line_profiler's listing: the def line blank, the hot line with its share, the rest of the body.
  EXPECT_NE(text.find("Function: hot<&> at line 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("      1                              def hot():\n"), std::string::npos) << text;
  EXPECT_NE(text.find("      2         7         7  100.0%      s = '</script>"), std::string::npos) << text;
  EXPECT_NE(text.find("      3                                  return s\n"), std::string::npos) << text;

  EXPECT_EQ(text.find("changed since"), std::string::npos) << text;

  // A file changed since the process started says so, in the table and the function's listing.
  LineViewInfo changed = view_info("");
  changed.changed = [&](const std::string& file) { return file == h.file.string(); };
  const std::string noted = line_table(line_costs(h.agg, h.frames), sources, changed);
  EXPECT_NE(noted.find("changed since the process started, lines may not match: " + h.file.string() + "\n"),
            std::string::npos)
      << noted;
  EXPECT_NE(noted.find("changed since the process started, lines may not match\n\n"), std::string::npos) << noted;

  // Unreadable source: the numbers stay, and it says so.
  fs::remove(h.file);
  SourceLines fresh;
  const std::string missing = line_table(line_costs(h.agg, h.frames), fresh, view_info(""));
  EXPECT_NE(missing.find("source not readable: " + h.file.string() + "\n"), std::string::npos) << missing;
  EXPECT_NE(missing.find(fmt::format("      7 100.0%       7 100.0%  {}", where)), std::string::npos) << missing;
}

}  // namespace
}  // namespace pyxray
