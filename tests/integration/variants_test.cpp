// Every interpreter without debug information (a stripped copy of each pyenv installation,
// Debian's python3.11 without python3.11-dbg) must give exactly the stacks it gives with it; and,
// with debug information, the three layout sources (debuginfo, _Py_DebugOffsets, the built-in
// tables) must agree on every interpreter here.
#include "variants.hpp"
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "test_names.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string interp_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

std::string keys_of(const json& object) {
  std::string s;
  for (const auto& [k, v] : object.items()) s += " " + k;
  return s.empty() ? " (none)" : s;
}

// --- without debuginfo: the same py-bt-all --json comparison as BtAll.JsonMatchesGroundTruth ---

class NoDebuginfo : public testing::TestWithParam<Variant> {};

TEST_P(NoDebuginfo, JsonMatchesGroundTruth) {
  const Variant& v = GetParam();
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  VariantSetup setup;
  std::unique_ptr<Workload> w;
  try {
    setup = setup_for(v);
    w = Workload::start(v.interp, Launch{setup.executable, setup.env});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  // The process really runs the stripped copy (LD_LIBRARY_PATH beat RUNPATH), nothing unstripped.
  const auto mapped = check_mapped_files(v, setup, w->pid());
  ASSERT_TRUE(mapped.empty()) << join_diffs(mapped);

  auto r = run_gdb(w->pid(), {"py-layout --json", "py-bt-all --json"}, w->dir(), 60s, setup.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  EXPECT_TRUE(w->alive()) << "the workload died while gdb was attached";

  // gdb really had no debuginfo for CPython's structs: pyxray found none.
  std::string error;
  auto layout = find_json_line(r.out, &error, "{\"disagreements\"");
  ASSERT_TRUE(layout) << "py-layout --json: " << error << "\n" << r.describe();
  const json& debuginfo = (*layout)["sources"]["debuginfo"];
  EXPECT_TRUE(debuginfo.is_object() && debuginfo.empty())
      << "gdb still sees CPython's types, so this is not a run without debuginfo; debuginfo gives:"
      << keys_of(debuginfo);
  ASSERT_TRUE((*layout)["source"].is_string()) << layout->dump();
  const std::string source = (*layout)["source"].get<std::string>();
  EXPECT_EQ(source.find("debuginfo"), std::string::npos) << "layouts from \"" << source << "\"";
  EXPECT_FALSE(source.empty()) << "no layout source named";

  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();
  const auto diffs = compare_bt_all_json(w->truth(), *got, task_ids(w->pid()));
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --json without debuginfo (layouts from \"" << source
                             << "\") differs from the ground truth of " << setup.executable.string() << " ("
                             << diffs.size() << " differences):\n"
                             << join_diffs(diffs);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, NoDebuginfo, testing::ValuesIn(no_debuginfo_variants()), variant_name);

// --- the layout sources agree ---

class Layout : public testing::TestWithParam<Interpreter> {};

TEST_P(Layout, SourcesAgree) {
  const Interpreter& interp = GetParam();
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  std::unique_ptr<Workload> w;
  try {
    w = Workload::start(interp);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto r = run_gdb(w->pid(), {"py-layout --json"}, w->dir());
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  std::string error;
  auto j = find_json_line(r.out, &error, "{\"disagreements\"");
  ASSERT_TRUE(j) << "py-layout --json: " << error << "\n" << r.describe();
  const json& sources = (*j)["sources"];
  ASSERT_TRUE(sources.is_object()) << j->dump();
  const json& debuginfo = sources["debuginfo"];
  const json& table = sources["table"];
  const json& offsets = sources["debug_offsets"];
  ASSERT_TRUE(debuginfo.is_object() && table.is_object() && offsets.is_object()) << sources.dump();

  EXPECT_EQ((*j)["python"], w->truth().python);
  EXPECT_TRUE((*j)["disagreements"].is_array() && (*j)["disagreements"].empty())
      << "py-layout reports disagreements: " << (*j)["disagreements"].dump(1);
  EXPECT_FALSE(debuginfo.empty()) << "no debuginfo layouts: is " << interp.path << "'s debug information found?";
  EXPECT_FALSE(table.empty()) << "no built-in table for CPython " << w->truth().python;
  EXPECT_TRUE(sources["table_version"].is_string() && !sources["table_version"].get<std::string>().empty())
      << sources["table_version"].dump();
  EXPECT_NE((*j)["source"].get<std::string>().find("debuginfo"), std::string::npos)
      << "with debuginfo available, layouts come from " << (*j)["source"];

  // Every table entry is confirmed by debuginfo. asyncio's structs are in its extension module, which
  // this workload does not load: the tasks tests confirm those (Tasks.JsonMatchesTruth).
  std::vector<std::string> diffs;
  for (const auto& [key, value] : table.items()) {
    if (is_asyncio_module_key(key) && !debuginfo.contains(key)) continue;
    if (!debuginfo.contains(key))
      diffs.push_back("table has " + key + " = " + value.dump() + ", debuginfo has no such field");
    else if (debuginfo[key] != value)
      diffs.push_back(key + ": table " + value.dump() + ", debuginfo " + debuginfo[key].dump());
  }
  // _Py_DebugOffsets (3.13+) is read, valid, and agrees with debuginfo wherever both speak.
  if (w->truth().major > 3 || (w->truth().major == 3 && w->truth().minor >= 13)) {
    EXPECT_FALSE(offsets.empty()) << "no _Py_DebugOffsets on CPython " << w->truth().python;
    EXPECT_TRUE(sources["debug_offsets_error"].is_null())
        << "_Py_DebugOffsets rejected: " << sources["debug_offsets_error"];
    for (const auto& [key, value] : offsets.items())
      if (debuginfo.contains(key) && debuginfo[key] != value)
        diffs.push_back(key + ": _Py_DebugOffsets " + value.dump() + ", debuginfo " + debuginfo[key].dump());
  } else {
    EXPECT_TRUE(offsets.empty()) << "_Py_DebugOffsets before 3.13: " << offsets.dump();
  }
  // What pyxray uses is debuginfo's value wherever debuginfo has one.
  const json& fields = (*j)["fields"];
  for (const auto& [key, value] : debuginfo.items())
    if (fields.contains(key) && fields[key] != value)
      diffs.push_back(key + ": pyxray uses " + fields[key].dump() + ", debuginfo says " + value.dump());
  EXPECT_TRUE(diffs.empty()) << "layout sources of " << interp.path.string() << " disagree (" << diffs.size() << "):\n"
                             << join_diffs(diffs);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, Layout, testing::ValuesIn(all_interpreters()), interp_name);

}  // namespace
}  // namespace pyxray::it
