// End-to-end tests of the context managers each frame has entered (`"entered"` in py-bt-all --json,
// core/interp/with_blocks.*): tests/workloads/with_blocks.py parks threads inside nested with blocks
// (Lock, RLock, Condition, Python classes; in a called function, a generator, a coroutine, around
// try blocks and loops), after with blocks already left, and blocked entering a held lock (in C, and
// in a Condition's Python __enter__), and
// reports for every frame the id() of every manager it is inside. pyxray must list exactly those, in
// the same order, for every frame of every thread, on every interpreter, with its debuginfo and
// without (the built-in layout tables then give the block stack and exception table fields).
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct FrameTruth {
  std::string function;
  int64_t line = 0;
  std::vector<uint64_t> entered;  // id() of each manager, outermost first
};

struct ThreadTruth {
  uint64_t thread_id = 0;
  std::string role;
  std::vector<FrameTruth> frames;  // innermost first
};

std::vector<ThreadTruth> parse_threads(const json& truth) {
  std::vector<ThreadTruth> out;
  for (const auto& jt : truth.at("threads")) {
    ThreadTruth t;
    t.thread_id = jt.at("thread_id").get<uint64_t>();
    t.role = jt.at("role").get<std::string>();
    for (const auto& jf : jt.at("frames"))
      t.frames.push_back({jf.at("function").get<std::string>(), jf.at("line").get<int64_t>(),
                          jf.at("entered").get<std::vector<uint64_t>>()});
    out.push_back(std::move(t));
  }
  return out;
}

std::string hex_list(const std::vector<uint64_t>& ids) {
  std::string s;
  for (uint64_t id : ids) s += (s.empty() ? "" : ", ") + hex(id);
  return "[" + s + "]";
}

class WithBlocks : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup_ = setup_for(GetParam());
      workload_ = ScriptWorkload::start(setup_.executable, setup_.env, "with_blocks.py");
      threads_ = parse_threads(workload_->truth());
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    const auto mapped = check_mapped_files(GetParam(), setup_, workload_->pid());
    ASSERT_TRUE(mapped.empty()) << join_diffs(mapped);
    const auto& vi = workload_->truth().at("version_info");
    ASSERT_EQ(vi.at(0).get<int>(), GetParam().interp.major);
    ASSERT_EQ(vi.at(1).get<int>(), GetParam().interp.minor);
    CheckWorkloadCoversTheCases();
  }

  const ThreadTruth* role(const std::string& name) const {
    for (const auto& t : threads_)
      if (t.role == name) return &t;
    return nullptr;
  }

  void CheckWorkloadCoversTheCases();

  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
  std::vector<ThreadTruth> threads_;
};

// The workload parks what it promises, so that the comparison cannot pass vacuously: managers in
// nested frames, none for a frame whose with blocks are over, and the thread entering the held lock
// inside its own with block but not that lock's.
void WithBlocks::CheckWorkloadCoversTheCases() {
  const int major = GetParam().interp.major, minor = GetParam().interp.minor;
  const bool has_async = major > 3 || (major == 3 && minor >= 6);
  std::vector<std::string> roles{"main", "nested", "mixed", "stale", "gen", "holder", "entering", "entering_cond"};
  if (has_async) roles.push_back("async");
  EXPECT_EQ(threads_.size(), roles.size());
  for (const auto& r : roles) ASSERT_TRUE(role(r)) << "no thread " << r;
  const auto frame = [&](const std::string& r, std::size_t i) -> const FrameTruth& { return role(r)->frames.at(i); };
  EXPECT_EQ(frame("nested", 0).entered.size(), 2u);
  EXPECT_EQ(frame("nested", 1).entered.size(), 2u);
  EXPECT_EQ(frame("mixed", 0).entered.size(), 2u);
  EXPECT_TRUE(frame("stale", 0).entered.empty());
  EXPECT_EQ(frame("gen", 0).entered.size(), 1u);
  EXPECT_EQ(frame("gen", 1).entered.size(), 1u);
  const uint64_t held = workload_->truth().at("held").get<uint64_t>();
  EXPECT_EQ(frame("holder", 0).entered.at(0), held);
  EXPECT_EQ(frame("entering", 0).function, "entering");
  EXPECT_EQ(frame("entering", 0).entered.size(), 1u);
  EXPECT_NE(frame("entering", 0).entered.at(0), held);
  const uint64_t held_cond = workload_->truth().at("held_cond").get<uint64_t>();
  EXPECT_EQ(frame("entering_cond", 0).function, "__enter__");
  EXPECT_TRUE(frame("entering_cond", 0).entered.empty());
  EXPECT_EQ(frame("entering_cond", 1).function, "entering_cond");
  EXPECT_EQ(frame("entering_cond", 1).entered.size(), 1u);
  EXPECT_NE(frame("entering_cond", 1).entered.at(0), held_cond);
  if (has_async) EXPECT_EQ(frame("async", 0).entered.size(), 2u);
}

// `py-bt-all --json`: every Python frame's "entered" is exactly the managers the workload recorded,
// and only the holder's frame names the held lock.
TEST_P(WithBlocks, BtAllEnteredMatchesTheWorkload) {
  auto r = run_gdb(workload_->pid(), {"py-bt-all --json"}, workload_->dir(), 90s, setup_.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  EXPECT_TRUE(workload_->alive()) << "the workload died while gdb was attached";
  std::string error;
  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();

  std::vector<std::string> diffs;
  for (const auto& t : threads_) {
    const json* gt = nullptr;
    for (const auto& j : (*got)["threads"])
      if (j["thread_id"].is_number() && j["thread_id"].get<uint64_t>() == t.thread_id) gt = &j;
    if (!gt) {
      diffs.push_back(t.role + " (" + hex(t.thread_id) + "): not in py-bt-all --json");
      continue;
    }
    const json& frames = (*gt)["frames"];
    if (frames.size() != t.frames.size()) {
      diffs.push_back(t.role + ": " + std::to_string(frames.size()) + " frames, CPython reports " +
                      std::to_string(t.frames.size()));
      continue;
    }
    for (std::size_t i = 0; i < t.frames.size(); ++i) {
      const FrameTruth& f = t.frames[i];
      const json& gf = frames[i];
      const std::string where = t.role + " #" + std::to_string(i) + " " + f.function;
      if (gf.value("function", "") != f.function || gf["line"] != f.line) {
        diffs.push_back(where + ": frame is " + gf.dump());
        continue;
      }
      if (!gf.contains("entered") || !gf["entered"].is_array()) {
        diffs.push_back(where + ": no \"entered\" list: " + gf.dump());
        continue;
      }
      std::vector<uint64_t> managers;
      for (const auto& m : gf["entered"]) managers.push_back(std::stoull(m.get<std::string>(), nullptr, 16));
      if (managers != f.entered)
        diffs.push_back(where + ": entered " + hex_list(managers) + ", the workload is inside " + hex_list(f.entered));
    }
  }
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --json's \"entered\" differs (" << diffs.size() << "):\n"
                             << join_diffs(diffs);
}

INSTANTIATE_TEST_SUITE_P(Variants, WithBlocks, testing::ValuesIn(all_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
