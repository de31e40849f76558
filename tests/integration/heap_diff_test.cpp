// End-to-end tests of heap snapshots and py-heap-diff: tests/workloads/heap_leak.py leaks a known
// number of leakapp.Widget objects into a module global between stages, churning other objects that
// do not leak, and measures its own heap at each stage (gc.get_objects + gc.get_referents); from gdb:
//
//  - py-heap-summary --save at each stage (--objects at the first), and py-heap-diff OLD NEW --json
//    puts leakapp.Widget first with its count growth exact and its bytes exactly count x getsizeof;
//    every other type the process counts at least 1,000 of changes by what the process's own walk
//    says, within 5% of its count (churn leaves deltas near 0: 5% of the change would be no bound);
//  - the same against the process now (one file);
//  - three snapshots: leakapp.Widget is a leak suspect (0 -> 1,234 -> 3,579);
//  - bad files are one clear line each; a snapshot of another process is refused against the process
//    now and, between files, compared after a note that says so.
#include "front_end.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "leak_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 0.05;
constexpr int64_t kLeak2 = 1234, kLeak3 = 2345;

std::vector<json> json_lines(const std::string& out, const std::string& prefix) {
  std::vector<json> v;
  for (const auto& line : split_lines(out)) {
    if (line.rfind(prefix, 0) != 0) continue;
    try {
      v.push_back(json::parse(line));
    } catch (const json::exception&) {
    }
  }
  return v;
}

void expect_clean(const CommandResult& r) {
  EXPECT_FALSE(r.timed_out) << "gdb was killed after its timeout\n" << r.describe();
  for (const char* bad : {"Traceback", "Python Exception", "internal error", "Fatal signal"}) {
    EXPECT_EQ(r.out.find(bad), std::string::npos) << "\"" << bad << "\" on stdout\n" << r.describe();
    EXPECT_EQ(r.err.find(bad), std::string::npos) << "\"" << bad << "\" on stderr\n" << r.describe();
  }
}

std::map<std::string, std::pair<int64_t, int64_t>> truth_types(const json& t) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  for (const auto& [k, v] : t.at("heap").at("types").items())
    out[k] = {v.at("count").get<int64_t>(), v.at("bytes").get<int64_t>()};
  return out;
}

// A py-heap-diff --json of the stage-1 and stage-2 heaps against the two ground truths: difference
// lines (empty: it matches).
std::vector<std::string> compare_diff(const json& d, const json& t1, const json& t2) {
  std::vector<std::string> out;
  const auto& types = d.at("types");
  if (types.empty()) return {"no types in the diff"};
  const json& top = types[0];
  if (top.at("type") != "leakapp.Widget") out.push_back("first type is " + top.dump() + ", not leakapp.Widget");
  std::map<std::string, json> rows;
  for (const auto& r : types) rows[r.at("type").get<std::string>()] = r;
  const json widget = rows.count("leakapp.Widget") ? rows["leakapp.Widget"] : json::object();
  if (widget.value("count_delta", int64_t{-1}) != kLeak2)
    out.push_back("leakapp.Widget count_delta is not " + std::to_string(kLeak2) + ": " + widget.dump());
  const int64_t size = t2.at("widget_size").get<int64_t>();
  if (widget.value("bytes_delta", int64_t{-1}) != kLeak2 * size)
    out.push_back("leakapp.Widget bytes_delta is not " + std::to_string(kLeak2 * size) + ": " + widget.dump());
  const auto a = truth_types(t1), b = truth_types(t2);
  for (const auto& [name, nb] : b) {
    if (nb.first < 1000) continue;
    const int64_t want = nb.first - (a.count(name) ? a.at(name).first : 0);
    const int64_t got = rows.count(name) ? rows[name].at("count_delta").get<int64_t>() : 0;
    if (std::fabs(static_cast<double>(got - want)) > kTolerance * static_cast<double>(nb.first))
      out.push_back(name + ": count changed by " + std::to_string(got) + ", the process says " + std::to_string(want) +
                    " (of " + std::to_string(nb.first) + ")");
  }
  const int64_t want_total = t2.at("heap").at("objects").get<int64_t>() - t1.at("heap").at("objects").get<int64_t>();
  const int64_t got_total = d.at("total").at("count_delta").get<int64_t>();
  if (std::fabs(static_cast<double>(got_total - want_total)) >
      kTolerance * static_cast<double>(t2.at("heap").at("objects").get<int64_t>()))
    out.push_back("total changed by " + std::to_string(got_total) + ", the process says " + std::to_string(want_total));
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

class PyHeapDiff : public testing::TestWithParam<Interpreter> {};

TEST_P(PyHeapDiff, LeakedWidgetsFirstAndExact) {
  std::unique_ptr<LeakWorkload> w;
  try {
    w = LeakWorkload::start(GetParam());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const fs::path dir = w->dir();
  const std::string s1 = (dir / "s1.heap").string(), s2 = (dir / "s2.heap").string(), s3 = (dir / "s3.heap").string();
  const json t1 = w->truth();
  auto r = run_gdb(w->pid(), {"py-heap-summary --limit 3 --save " + s1 + " --objects"}, dir, 180s);
  expect_clean(r);
  ASSERT_TRUE(fs::exists(s1)) << r.describe();
  EXPECT_NE(r.out.find("snapshot saved to " + s1 + " ("), std::string::npos) << r.describe();

  ASSERT_NO_THROW(w->next());
  const json t2 = w->truth();
  r = run_gdb(w->pid(),
              {"py-heap-summary --json --save " + s2, "py-heap-diff --json " + s1 + " " + s2,
               "py-heap-diff --json " + s1, "py-heap-diff " + s1 + " " + s2},
              dir, 240s);
  expect_clean(r);
  auto diffs = json_lines(r.out, "{\"types\"");
  ASSERT_EQ(diffs.size(), 2u) << r.describe();
  EXPECT_TRUE(diffs[0].at("same_process").get<bool>()) << diffs[0].dump();
  const auto files = compare_diff(diffs[0], t1, t2);
  EXPECT_TRUE(files.empty()) << "s1 -> s2:\n" << join(files);
  const auto now = compare_diff(diffs[1], t1, t2);
  EXPECT_TRUE(now.empty()) << "s1 -> now:\n" << join(now);
  EXPECT_EQ(diffs[1].at("snapshots").at(1).at("file"), "now") << diffs[1].dump();
  // Text: objgraph's shape, Widget first.
  const auto lines = split_lines(r.out);
  auto header = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("Type ", 0) == 0; });
  ASSERT_NE(header, lines.end()) << r.describe();
  ASSERT_NE(header + 1, lines.end());
  EXPECT_EQ((header + 1)->rfind("leakapp.Widget ", 0), 0u) << *(header + 1);
  EXPECT_NE((header + 1)->find(" 1,234  "), std::string::npos) << *(header + 1);
  EXPECT_NE((header + 1)->find("+1,234  +"), std::string::npos) << *(header + 1);

  ASSERT_NO_THROW(w->next());
  // Bad files: not a snapshot, truncated.
  const std::string junk = (dir / "junk.heap").string(), cut = (dir / "cut.heap").string();
  std::ofstream(junk) << "not a heap snapshot\n";
  const std::string s1_bytes = read_text(s1);
  std::ofstream(cut, std::ios::binary) << s1_bytes.substr(0, s1_bytes.size() / 2);
  r = run_gdb(
      w->pid(),
      {"py-heap-summary --save " + s3 + " --objects", "py-heap-diff --json --paths " + s1 + " " + s2 + " " + s3,
       "py-heap-diff --paths " + s1 + " " + s2 + " " + s3, "py-heap-diff " + junk, "py-heap-diff " + s1 + " " + cut},
      dir, 240s);
  expect_clean(r);
  diffs = json_lines(r.out, "{\"types\"");
  ASSERT_EQ(diffs.size(), 1u) << r.describe();
  const auto& suspects = diffs[0].at("suspects");
  auto widget =
      std::find_if(suspects.begin(), suspects.end(), [](const json& s) { return s.at("type") == "leakapp.Widget"; });
  ASSERT_NE(widget, suspects.end()) << suspects.dump();
  EXPECT_EQ(widget->at("counts"), json({0, kLeak2, kLeak2 + kLeak3})) << widget->dump();
  // Every leaked Widget has lived through the workload's gc.collect(): all in the oldest generation,
  // and the sample is one of them, new since the first snapshot (which had no Widget).
  EXPECT_EQ(widget->value("generations", json::object()).value("gen2", int64_t{-1}), kLeak2 + kLeak3) << widget->dump();
  const json sample = widget->value("sample", json::object());
  EXPECT_GT(sample.value("address", uint64_t{0}), 0u) << widget->dump();
  EXPECT_EQ(sample.value("generation", ""), "gen2") << widget->dump();
  EXPECT_TRUE(sample.value("new", false)) << widget->dump();
  // --paths: the sample is held by the module global it leaked into.
  const json path = widget->value("path", json(nullptr));
  ASSERT_TRUE(path.is_object()) << widget->dump();
  EXPECT_EQ(path.at("root"), json({{"kind", "global"}, {"module", "leakapp"}, {"name", "CACHE"}})) << widget->dump();
  EXPECT_EQ(path.at("expression").get<std::string>().rfind("sys.modules['leakapp'].CACHE['k'] -> list[", 0), 0u)
      << widget->dump();
  EXPECT_NE(r.out.find("    held by sys.modules['leakapp'].CACHE['k'] -> list["), std::string::npos) << r.describe();
  EXPECT_EQ(diffs[0].at("types")[0].at("type"), "leakapp.Widget") << diffs[0].dump();
  EXPECT_EQ(diffs[0].at("types")[0].at("count_delta").get<int64_t>(), kLeak2 + kLeak3);
  EXPECT_NE(r.out.find("leak suspects (the count grew in each of the 2 intervals):\n"), std::string::npos)
      << r.describe();
  EXPECT_NE(r.out.find("  leakapp.Widget  0 -> 1,234 -> 3,579\n"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("pyxray: " + junk + " is not a pyxray heap snapshot\n"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("pyxray: " + cut + " is truncated: " + grouped_number(s1_bytes.size() / 2) + " of " +
                       grouped_number(s1_bytes.size()) + " bytes\n"),
            std::string::npos)
      << r.describe();

  // Another process: refused against the process now, compared file to file after a note.
  std::unique_ptr<LeakWorkload> other;
  try {
    other = LeakWorkload::start(GetParam());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const std::string so = (dir / "other.heap").string();
  r = run_gdb(other->pid(),
              {"py-heap-summary --save " + so, "py-heap-diff " + s1, "py-heap-diff --json " + s1 + " " + so,
               "py-heap-diff " + s1 + " " + so},
              dir, 240s);
  expect_clean(r);
  EXPECT_NE(r.err.find("pyxray: " + s1 + " is a snapshot of process " + std::to_string(w->pid()) + " ("),
            std::string::npos)
      << r.describe();
  diffs = json_lines(r.out, "{\"types\"");
  ASSERT_EQ(diffs.size(), 1u) << r.describe();
  EXPECT_FALSE(diffs[0].at("same_process").get<bool>()) << diffs[0].dump();
  ASSERT_FALSE(diffs[0].at("notes").empty()) << diffs[0].dump();
  const std::string note = "pyxray: note: " + s1 + " is process " + std::to_string(w->pid()) + " (";
  const auto at = r.out.find(note);
  ASSERT_NE(at, std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("comparing different processes, type by type\n", at), std::string::npos) << r.describe();
  EXPECT_LT(at, r.out.find("\nType ", at)) << "the note must come before the table\n" << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyHeapDiff, testing::ValuesIn(leak_interpreters()), param_name);

// The same workload through LLDB live, and from a core of stage 2 in gdb and LLDB: the stage-1
// snapshot (LLDB, live) against the stage-2 heap as each front end sees it, on every interpreter of
// the matrix (sid's core is the kernel's, which ends the workload: it comes last).
class PyHeapDiffFrontEnds : public testing::TestWithParam<Variant> {};

TEST_P(PyHeapDiffFrontEnds, LldbLiveAndCores) {
  const Variant& v = GetParam();
  std::unique_ptr<LeakWorkload> w;
  try {
    w = LeakWorkload::start(v.interp);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const fs::path dir = w->dir();
  const std::string s1 = (dir / "s1.heap").string(), s2 = (dir / "s2.heap").string(), sc = (dir / "core.heap").string();
  const json t1 = w->truth();
  auto run = run_front_end(FrontEnd::Lldb, w->pid(), {"py-heap-summary --limit 1 --save " + s1 + " --objects"}, dir);
  EXPECT_TRUE(run.problems.empty()) << join(run.problems) << run.raw.describe();
  ASSERT_TRUE(fs::exists(s1)) << run.raw.describe();
  ASSERT_NO_THROW(w->next());
  const json t2 = w->truth();
  run = run_front_end(
      FrontEnd::Lldb, w->pid(),
      {"py-heap-summary --limit 1 --save " + s2, "py-heap-diff --json " + s1 + " " + s2, "py-heap-diff --json " + s1},
      dir);
  EXPECT_TRUE(run.problems.empty()) << join(run.problems) << run.raw.describe();
  auto diffs = json_lines(run.raw.out, "{\"types\"");
  ASSERT_EQ(diffs.size(), 2u) << run.raw.describe();
  for (const auto& d : diffs) {
    const auto lines = compare_diff(d, t1, t2);
    EXPECT_TRUE(lines.empty()) << "LLDB live:\n" << join(lines);
  }

  CoreRuns cores;
  try {
    cores = run_on_core(v, setup_for(v), w->pid(), [&] { return w->running(); }, dir,
                        {"py-heap-summary --limit 1 --save " + sc, "py-heap-diff --json " + s1 + " " + sc});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto check_core = [&](const char* who, const CommandResult& r) {
    expect_clean(r);
    auto d = json_lines(r.out, "{\"types\"");
    ASSERT_EQ(d.size(), 1u) << who << "\n" << r.describe();
    const auto lines = compare_diff(d[0], t1, t2);
    EXPECT_TRUE(lines.empty()) << who << ": s1 -> core:\n" << join(lines);
    EXPECT_EQ(d[0].at("snapshots").at(1).at("source"), "core") << d[0].dump();
    EXPECT_TRUE(d[0].at("same_process").get<bool>()) << d[0].dump();
    EXPECT_FALSE(d[0].value("same_process_certain", true)) << d[0].dump();
  };
  check_core("gdb", cores.gdb);
  ASSERT_TRUE(cores.lldb.has_value());
  check_core("LLDB", *cores.lldb);
}

INSTANTIATE_TEST_SUITE_P(Variants, PyHeapDiffFrontEnds, testing::ValuesIn(leak_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
