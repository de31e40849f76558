// End-to-end tests of py-referrers --path and py-biggest --deep on tests/workloads/heap_leak.py at
// stage 4 (3,579 leakapp.Widget objects in the list leakapp.CACHE['k'], 1,000 dicts in CACHE['meta'],
// then gc.freeze() and a frozen cycle holding a leakapp.Orphan), against what the workload says:
//
//  - py-referrers WIDGET --path --json: the chain's root is {global, leakapp, CACHE} and its
//    expression is sys.modules['leakapp'].CACHE['k'] -> list[777] -> <leakapp.Widget 0x...> for the
//    Widget the workload names (CACHE['k'][777]); the text form prints that same line;
//  - --path of leakapp.Marker, held by a class attribute: sys.modules['leakapp'].Widget.registry[0];
//    of the key 'k' (an interned str): root {interned}, "sys.intern('k') is <str 0x...>"; of the
//    Orphan: root {frozen}, "gc.freeze()d <list 0x...>[1] -> <leakapp.Orphan 0x...>";
//  - --dot FILE: a Graphviz digraph (parsed by dot when it is installed), the Widget in red;
//  - py-biggest --deep --json: leakapp.CACHE first, named sys.modules['leakapp'].CACHE, its deep size
//    what the workload measured by py-sizeof --deep's rule; CACHE['k'] (when listed) likewise; with
//    --max deep-visits=100 a warning names the limit.
//
// One debugger session per variant runs all of it: gdb live on every interpreter of the py-heap-diff
// tests (3.8, 3.11-3.13, sid's 3.14/3.15), and on the same six LLDB live and gdb and LLDB on a core.
#include "front_end.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "leak_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

namespace pyxray::it {
namespace {

std::vector<std::string> commands(const json& t, const fs::path& dot) {
  const std::string widget = hex(t.at("path_sample").get<uint64_t>());
  return {"py-referrers " + widget + " --path --json",
          "py-referrers " + widget + " --path --dot " + dot.string(),
          "py-biggest 5 --deep --json",
          "py-referrers " + hex(t.at("marker").get<uint64_t>()) + " --path",
          "py-referrers " + hex(t.at("interned_key").get<uint64_t>()) + " --path --json",
          "py-biggest 3 --deep --max deep-visits=100",
          "py-referrers " + hex(t.at("orphan").get<uint64_t>()) + " --path --json"};
}

std::optional<json> json_line(const std::string& out, const std::string& prefix) {
  for (const auto& line : split_lines(out))
    if (line.rfind(prefix, 0) == 0) try {
        return json::parse(line);
      } catch (const json::exception&) {
      }
  return std::nullopt;
}

std::optional<fs::path> dot_program() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t at = 0; at <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', at), dirs.size());
    const fs::path p = fs::path(dirs.substr(at, end - at)) / "dot";
    if (end > at && fs::exists(p)) return p;
    at = end + 1;
  }
  return std::nullopt;
}

// What is wrong with a run of commands() against the stage's truth (empty: nothing).
std::vector<std::string> check(const std::string& out, const json& t, const fs::path& dot, const fs::path& dir) {
  std::vector<std::string> bad;
  const uint64_t widget = t.at("path_sample").get<uint64_t>();
  const std::string line = "sys.modules['leakapp'].CACHE['k'] -> list[" +
                           std::to_string(t.at("path_index").get<int>()) + "] -> <leakapp.Widget " + hex(widget) + ">";
  // --path --json
  auto refs = json_line(out, "{\"address\":" + std::to_string(widget) + ",");
  if (!refs) {
    bad.push_back("no py-referrers --json line");
  } else if (refs->at("chains").empty()) {
    bad.push_back("no chain: " + refs->dump());
  } else {
    const json& c = refs->at("chains")[0];
    if (c.at("root") != json({{"kind", "global"}, {"module", "leakapp"}, {"name", "CACHE"}}))
      bad.push_back("root is " + c.at("root").dump());
    if (c.value("expression", "") != line) bad.push_back("expression is " + c.value("expression", "(none)"));
    if (c.at("path").back().at("address").get<uint64_t>() != widget) bad.push_back("the path ends elsewhere");
  }
  // A class attribute; an interned str (the key 'k').
  const std::string marker =
      "sys.modules['leakapp'].Widget.registry[0] -> <leakapp.Marker " + hex(t.at("marker").get<uint64_t>()) + ">";
  if (out.find("\n" + marker + "\n") == std::string::npos) bad.push_back("no line \"" + marker + "\" in the text");
  const std::string key = hex(t.at("interned_key").get<uint64_t>());
  auto interned = json_line(out, "{\"address\":" + std::to_string(t.at("interned_key").get<uint64_t>()) + ",");
  if (!interned || interned->at("chains").empty() ||
      interned->at("chains")[0].at("root") != json({{"kind", "interned"}, {"module", nullptr}, {"name", nullptr}}) ||
      interned->at("chains")[0].value("expression", "") != "sys.intern('k') is <str " + key + ">")
    bad.push_back("the key 'k' is not an interned root: " + (interned ? interned->dump() : std::string("(none)")));
  // Held only by a frozen cycle: the frozen list is the root.
  auto orphan = json_line(out, "{\"address\":" + std::to_string(t.at("orphan").get<uint64_t>()) + ",");
  const std::string frozen_line = "gc.freeze()d <list " + hex(t.at("frozen_list").get<uint64_t>()) + ">[1] -> " +
                                  "<leakapp.Orphan " + hex(t.at("orphan").get<uint64_t>()) + ">";
  if (!orphan || orphan->at("chains").empty() ||
      orphan->at("chains")[0].at("root") != json({{"kind", "frozen"}, {"module", nullptr}, {"name", nullptr}}) ||
      orphan->at("chains")[0].value("expression", "") != frozen_line)
    bad.push_back("the Orphan is not held by a frozen root (" + frozen_line +
                  "): " + (orphan ? orphan->dump() : std::string("(none)")));
  // The shared budget: a warning that names the limit.
  if (out.find("pyxray: warning: the deep sizes stopped after 100 objects visited in all: ") == std::string::npos ||
      out.find(" candidates not measured") == std::string::npos ||
      out.find("(raise it with --max deep-visits=N)\n") == std::string::npos)
    bad.push_back("no warning naming deep-visits");
  // --path text: the one line.
  if (out.find("\n" + line + "\n") == std::string::npos) bad.push_back("no line \"" + line + "\" in the text");
  // --dot
  const std::string graph = read_text(dot);
  if (graph.rfind("digraph ObjectGraph {\n", 0) != 0) bad.push_back("the graph does not start with digraph");
  const std::string node = "o" + hex(widget).substr(2) + " [";
  if (graph.find(node) == std::string::npos || graph.find("color=red", graph.find(node)) == std::string::npos)
    bad.push_back("the Widget is not a red node:\n" + graph);
  if (auto prog = dot_program()) {
    auto r = run_command({prog->string(), "-Tsvg", dot.string(), "-o", (dir / "paths.svg").string()}, dir, 60s);
    if (r.exit_code != 0) bad.push_back("dot refused the graph: " + r.describe());
  }
  // py-biggest --deep --json
  auto big = json_line(out, "{\"objects\":");
  if (!big || big->at("objects").empty()) {
    bad.push_back("no py-biggest --deep --json line");
    return bad;
  }
  const json& top = big->at("objects")[0];
  if (top.at("address").get<uint64_t>() != t.at("cache").get<uint64_t>() ||
      top.at("root") != "sys.modules['leakapp'].CACHE")
    bad.push_back("first is not leakapp.CACHE: " + big->dump());
  if (top.at("deep_size").get<uint64_t>() != t.at("cache_deep").get<uint64_t>())
    bad.push_back("CACHE's deep size is " + top.at("deep_size").dump() + ", the process says " +
                  t.at("cache_deep").dump());
  for (const auto& row : big->at("objects"))
    if (row.at("address").get<uint64_t>() == t.at("cache_list").get<uint64_t>() &&
        row.at("deep_size").get<uint64_t>() != t.at("cache_list_deep").get<uint64_t>())
      bad.push_back("CACHE['k']'s deep size is " + row.at("deep_size").dump() + ", the process says " +
                    t.at("cache_list_deep").dump());
  return bad;
}

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// Stage 4: every Widget leaked (3,579), the heap frozen, a frozen Orphan no root reaches.
std::unique_ptr<LeakWorkload> stage4(const Interpreter& interp) {
  auto w = LeakWorkload::start(interp);
  for (int i = 0; i < 3; ++i) w->next();
  return w;
}

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

class PyHeapPaths : public testing::TestWithParam<Interpreter> {};

TEST_P(PyHeapPaths, LeakedWidgetChainAndCacheDeepSize) {
  std::unique_ptr<LeakWorkload> w;
  try {
    w = stage4(GetParam());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const fs::path dot = w->dir() / "paths.dot";
  auto r = run_gdb(w->pid(), commands(w->truth(), dot), w->dir(), 240s);
  EXPECT_FALSE(r.timed_out) << r.describe();
  const auto bad = check(r.out, w->truth(), dot, w->dir());
  EXPECT_TRUE(bad.empty()) << join(bad) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyHeapPaths, testing::ValuesIn(leak_interpreters()), param_name);

// LLDB live, then a core of the same stage in gdb and LLDB (gcore; sid's by the kernel, which ends the
// workload: last), on every interpreter of the gdb tests: the chain and the sizes need no live process.
class PyHeapPathsFrontEnds : public testing::TestWithParam<Variant> {};

TEST_P(PyHeapPathsFrontEnds, LldbLiveAndCores) {
  const Variant& v = GetParam();
  std::unique_ptr<LeakWorkload> w;
  try {
    w = stage4(v.interp);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const fs::path dot = w->dir() / "paths.dot";
  auto run = run_front_end(FrontEnd::Lldb, w->pid(), commands(w->truth(), dot), w->dir());
  EXPECT_TRUE(run.problems.empty()) << join(run.problems) << run.raw.describe();
  auto bad = check(run.raw.out, w->truth(), dot, w->dir());
  EXPECT_TRUE(bad.empty()) << "LLDB live:\n" << join(bad) << run.raw.describe();
  CoreRuns cores;
  try {
    cores = run_on_core(
        v, setup_for(v), w->pid(), [&] { return w->running(); }, w->dir(), commands(w->truth(), dot));
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  EXPECT_FALSE(cores.gdb.timed_out) << cores.gdb.describe();
  bad = check(cores.gdb.out, w->truth(), dot, w->dir());
  EXPECT_TRUE(bad.empty()) << "gdb on the core:\n" << join(bad) << cores.gdb.describe();
  ASSERT_TRUE(cores.lldb.has_value());
  bad = check(cores.lldb->out, w->truth(), dot, w->dir());
  EXPECT_TRUE(bad.empty()) << "LLDB on the core:\n" << join(bad) << cores.lldb->describe();
}

INSTANTIATE_TEST_SUITE_P(Variants, PyHeapPathsFrontEnds, testing::ValuesIn(leak_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
