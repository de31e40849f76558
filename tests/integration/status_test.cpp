// End-to-end tests of each thread's "status" in `py-bt-all --json` (tests/workloads/gil.py): with
// two pure-Python spinners, one runs holding the GIL and the other waits for it while the blocked
// threads are idle; a thread whose gc.collect() spins in a gc.callbacks callback is "gc".
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <functional>
#include <map>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One attach: `py-bt-all --json`, then the statuses of the workload's threads, by role.
struct Attempt {
  std::vector<std::string> diffs;  // empty: the statuses are as expected
  std::string output;
};

class Status : public testing::TestWithParam<Variant> {
 protected:
  void Start(const std::string& mode) {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup_ = setup_for(GetParam());
      workload_ = ScriptWorkload::start(setup_.executable, setup_.env, "gil.py", {mode});
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    const auto mapped = check_mapped_files(GetParam(), setup_, workload_->pid());
    ASSERT_TRUE(mapped.empty()) << join_diffs(mapped);
  }

  // Attaches, reads every thread's status and holds_gil, and checks them with `check(role, thread)`.
  Attempt Attach(const std::function<void(const std::map<std::string, json>&, std::vector<std::string>&)>& check) {
    Attempt a;
    auto r = run_gdb(workload_->pid(), {"py-bt-all --json"}, workload_->dir(), 60s, setup_.gdb_init);
    a.output = r.describe();
    a.diffs = gdb_run_problems(r, /*require_success=*/true);
    if (!workload_->alive()) a.diffs.push_back("the workload died while gdb was attached");
    for (const auto& s : stopped_threads(workload_->pid())) a.diffs.push_back("left stopped: " + s);
    std::string error;
    auto got = find_json_line(r.out, &error);
    if (!got) {
      a.diffs.push_back(error);
      return a;
    }
    std::map<std::string, json> by_role;
    for (const auto& t : workload_->truth()["threads"]) {
      const auto ident = t["thread_id"].get<uint64_t>();
      const std::string role = t["role"].get<std::string>();
      for (const auto& j : (*got)["threads"])
        if (j["thread_id"].is_number() && j["thread_id"].get<uint64_t>() == ident) by_role[role] = j;
      if (!by_role.count(role)) a.diffs.push_back(role + ": missing from py-bt-all --json");
    }
    if (by_role.size() == workload_->truth()["threads"].size()) check(by_role, a.diffs);
    return a;
  }

  // Up to three attaches: a GIL hand-off caught half-way is not a pyxray bug.
  void ExpectWithRetries(
      const std::function<void(const std::map<std::string, json>&, std::vector<std::string>&)>& check) {
    std::string failures;
    for (int attempt = 1; attempt <= 3; ++attempt) {
      Attempt a = Attach(check);
      if (a.diffs.empty()) return;
      failures += "--- attempt " + std::to_string(attempt) + ":\n" + join_diffs(a.diffs) + a.output + "\n";
    }
    ADD_FAILURE() << "the statuses were wrong on three attaches in a row:\n" << failures;
  }

  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
};

std::string status_of(const json& t) { return t.value("status", std::string("<none>")); }

void expect_status(const std::map<std::string, json>& threads, const std::string& role, const std::string& status,
                   bool holds_gil, std::vector<std::string>& diffs) {
  const json& t = threads.at(role);
  if (status_of(t) != status || t["holds_gil"] != holds_gil)
    diffs.push_back(role + ": status " + status_of(t) + ", holds_gil " + t["holds_gil"].dump() + "; expected " +
                    status + ", holds_gil " + (holds_gil ? "true" : "false"));
}

class SpinnerStatus : public Status {};

// Without debuginfo the debugger cannot name take_gil (a static function); pyxray still tells the
// GIL wait from a blocking call by the condition-variable wait it makes (see thread_report.cpp).
TEST_P(SpinnerStatus, OneRunsOneWaitsOthersIdle) {
  Start("spinners");
  if (HasFatalFailure()) return;
  ExpectWithRetries([](const std::map<std::string, json>& threads, std::vector<std::string>& diffs) {
    const bool first_runs = threads.at("spinner-1")["holds_gil"] == true;
    const std::string running = first_runs ? "spinner-1" : "spinner-2";
    const std::string waiting = first_runs ? "spinner-2" : "spinner-1";
    expect_status(threads, running, "running", true, diffs);
    expect_status(threads, waiting, "waiting_for_gil", false, diffs);
    for (const char* role : {"blocked-main", "blocked-1", "blocked-2"})
      expect_status(threads, role, "idle", false, diffs);
  });
}

class GcStatus : public Status {};

// 3.6 keeps "a collection is running" in a file static of gcmodule.c that only the symbol table
// names; a stripped 3.6 can only say that the thread runs.
TEST_P(GcStatus, CollectingThreadIsGc) {
  Start("gc");
  if (HasFatalFailure()) return;
  const bool knowable = GetParam().has_debuginfo() || GetParam().interp.minor >= 7;
  ExpectWithRetries([knowable](const std::map<std::string, json>& threads, std::vector<std::string>& diffs) {
    expect_status(threads, "gc", knowable ? "gc" : "running", true, diffs);
    for (const char* role : {"blocked-main", "blocked-1", "blocked-2"})
      expect_status(threads, role, "idle", false, diffs);
  });
}

// gc.callbacks exists from 3.3: the gc workload cannot run on 2.7.
std::vector<Variant> gc_variants() {
  std::vector<Variant> out;
  for (const auto& v : all_variants())
    if (v.interp.major >= 3) out.push_back(v);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Variants, SpinnerStatus, testing::ValuesIn(all_variants()), variant_name);
INSTANTIATE_TEST_SUITE_P(Variants, GcStatus, testing::ValuesIn(gc_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
