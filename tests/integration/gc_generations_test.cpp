// End-to-end tests of py-heap-summary --generations (tests/workloads/gc_generations.py): classes whose
// instances the workload staged in known GC generations (Frozen: gc.freeze()'s permanent generation,
// Old and OldDict: gen2 after gc.collect(), Young and BigYoung: gen0, with automatic collection off),
// counted per generation by the process itself (gc.get_objects(generation=N), 3.8+) and by pyxray
// from outside:
//
//  - each staged class exactly, per generation: nothing can move them once counted;
//  - every generation's total against len(gc.get_objects(N)) and gc.get_freeze_count(): the
//    permanent generation exactly (nothing enters or leaves it after gc.freeze()), gen1 and gen2
//    within 20 (the workload only allocates young objects after counting, but frees what it likes),
//    gen0 within 500 (the report's own objects: its dict, the JSON text, the file, the frames' state);
//  - no tracked object whose list could not be followed ("unknown" 0 for the staged classes, at most
//    2 in all (see compare()), no warning that a list is broken);
//  - the text has the generation columns and the totals line.
// On every interpreter as installed (3.8+ get the totals; older ones only the staged classes, by
// construction), in gdb and LLDB, live and from a core.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compare.hpp"
#include "front_end.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "lldb_harness.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kCommand = "py-heap-summary --generations --json";

std::vector<Variant> installed_variants() {
  std::vector<Variant> out;
  for (auto& v : all_variants())
    if (v.has_debuginfo()) out.push_back(v);
  return out;
}

uint64_t count_of(const json& gens, const std::string& name) {
  return gens.contains(name) ? gens.at(name).get<uint64_t>() : 0;
}

// Every difference between pyxray's generations and the workload's truth, as lines.
std::vector<std::string> compare(const json& truth, const json& got) {
  std::vector<std::string> diffs;
  if (!got.contains("generations")) return {"no \"generations\" in the summary"};
  std::map<std::string, json> rows;
  for (const auto& t : got.at("types")) rows[t.at("type").get<std::string>()] = t;
  const bool permanent = truth.at("has_freeze").get<bool>();
  for (const auto& [type, want] : truth.at("counts").items()) {
    auto it = rows.find(type);
    if (it == rows.end()) {
      diffs.push_back(type + ": not in the summary");
      continue;
    }
    const json& g = it->second.value("generations", json::object());
    for (const auto& [gen, n] : want.items()) {
      if (gen == "permanent" && !permanent) continue;
      if (count_of(g, gen) != n.get<uint64_t>())
        diffs.push_back(type + " " + gen + ": " + std::to_string(count_of(g, gen)) + ", expected " + n.dump());
    }
    if (count_of(g, "unknown") != 0) diffs.push_back(type + ": unknown " + g.at("unknown").dump());
  }
  // Not understood yet: on sid's 3.14 and 3.15 one encodings.utf_8.IncrementalEncoder (of the report's
  // closed file) is tracked (_gc_next set) yet on no list the heads lead to. So outside the staged
  // classes (exactly 0 above) a few unknown objects are tolerated.
  constexpr uint64_t kUnknownTolerance = 2;
  const json& total = got.at("generations");
  if (count_of(total, "unknown") > kUnknownTolerance) diffs.push_back("unknown generation: " + total.dump());
  if (!permanent && total.contains("permanent")) diffs.push_back("a permanent generation before 3.7");
  if (truth.at("totals").is_object()) {
    const std::map<std::string, uint64_t> tolerance = {{"gen0", 500}, {"gen1", 20}, {"gen2", 20}, {"permanent", 0}};
    for (const auto& [gen, tol] : tolerance) {
      const int64_t want = truth.at("totals").at(gen).get<int64_t>();
      const int64_t have = static_cast<int64_t>(count_of(total, gen));
      if (std::llabs(have - want) > static_cast<int64_t>(tol))
        diffs.push_back("total " + gen + ": " + std::to_string(have) + ", in-process " + std::to_string(want) +
                        " (tolerance " + std::to_string(tol) + ")");
    }
  }
  // Warnings that the lists themselves could not be followed. Not among them: "N node(s) on the
  // generation lists ... are not objects the walk counted" (2.7: ~355), which is about the walk
  // missing objects, not about their generations; the lists are followed through them.
  for (const auto& w : got.value("warnings", json::array())) {
    const std::string text = w.get<std::string>();
    if (text.find("generation list(s) lead") != std::string::npos ||
        text.find("other space's bit") != std::string::npos || text.find("gc.visited_space") != std::string::npos)
      diffs.push_back("warning: " + text);
  }
  return diffs;
}

class GcGenerations : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup_ = setup_for(GetParam());
      workload_ = ScriptWorkload::start(setup_.executable, setup_.env, "gc_generations.py");
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }

  void expect_matches(const std::string& out, const std::string& what, const std::string& describe) {
    std::string error;
    auto got = find_json_line(out, &error, "{\"objects\"");
    ASSERT_TRUE(got) << what << ": " << error << describe;
    auto diffs = compare(workload_->truth(), *got);
    std::ostringstream rows;
    for (const auto& t : got->at("types"))
      if (t.at("type").get<std::string>().rfind("__main__.", 0) == 0) rows << t.dump() << "\n";
    EXPECT_TRUE(diffs.empty()) << what << ":\n"
                               << join_diffs(diffs) << "\n--- truth ---\n"
                               << workload_->truth().dump() << "\n--- pyxray's rows ---\n"
                               << rows.str() << "totals " << got->value("generations", json()).dump() << "\n"
                               << describe;
  }

  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
};

TEST_P(GcGenerations, GdbMatchesTheProcess) {
  auto r = run_gdb(workload_->pid(), {kCommand, "py-heap-summary --generations --limit 5"}, workload_->dir(), 120s,
                   setup_.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  expect_matches(r.out, "gdb", r.describe());
  const bool permanent = workload_->truth().at("has_freeze").get<bool>();
  EXPECT_NE(r.out.find(permanent ? "gen2  permanent  " : "gen2  Kind"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("GC generations: untracked "), std::string::npos) << r.describe();
  const auto left = left_running_problems(workload_->pid());
  EXPECT_TRUE(left.empty()) << join_diffs(left);
}

TEST_P(GcGenerations, LldbMatchesTheProcess) {
  ASSERT_TRUE(fs::exists(front_end_plugin(FrontEnd::Lldb))) << "LLDB plugin not found";
  auto run = run_front_end(FrontEnd::Lldb, workload_->pid(), {kCommand}, workload_->dir());
  ASSERT_TRUE(run.problems.empty()) << join_diffs(run.problems) << run.raw.describe();
  ASSERT_EQ(run.outputs.size(), 1u) << run.raw.describe();
  expect_matches(run.outputs[0], "lldb", run.raw.describe());
}

TEST_P(GcGenerations, CoreFileMatchesTheProcess) {
  CoreRuns runs;
  try {
    runs = run_on_core(GetParam(), setup_, workload_->pid(), [&] { return workload_->alive(); }, workload_->dir(),
                       {kCommand});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const auto problems = gdb_run_problems(runs.gdb, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << runs.gdb.describe();
  expect_matches(runs.gdb.out, "gdb on the core", runs.gdb.describe());
  if (runs.lldb) {
    const auto lp = lldb_run_problems(*runs.lldb, true);
    EXPECT_TRUE(lp.empty()) << join_diffs(lp) << runs.lldb->describe();
    if (lp.empty()) expect_matches(runs.lldb->out, "LLDB on the core", runs.lldb->describe());
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GcGenerations, testing::ValuesIn(installed_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
