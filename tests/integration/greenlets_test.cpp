// End-to-end tests of py-tasks' greenlets (tests/workloads/greenlets.py): gevent greenlets parked in a
// sleep, an Event, a Queue and a join, plain greenlets suspended (one inside a call from C), never
// started and dead, the hub, a thread that exited leaving greenlets behind, and a second thread with
// greenlets of its own. `py-tasks --json` must list exactly the greenlets gc.get_objects() finds,
// each with its type, gevent name, state, thread and whether it runs, its innermost frame (function
// and line) as the process saw it, and a stack that holds the workload's own functions in order and,
// for a suspended greenlet, nothing older than the function it started in (the saved chain must end
// there, not run on into the frames of the greenlet that switched to it).
//
// On every interpreter whose Debian packages have greenlet (Debian 12's 3.11 with gevent; sid's 3.14
// with gevent and 3.15 without, where the workload runs --plain), with and without debug symbols, in
// gdb and LLDB, live and from a core. The workload failing to import them there is a failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

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

// The interpreters whose Debian packages include greenlet (scripts/install-deps, install-sid-root), as
// the test matrix names them; sid builds gevent for 3.14 only.
bool has_greenlet(const Variant& v) {
  return v.interp.name == "debian_3_11" || v.interp.name == "sid_3_14" || v.interp.name == "sid_3_15";
}
bool has_gevent(const Variant& v) { return v.interp.name != "sid_3_15"; }

std::vector<Variant> greenlet_variants() {
  std::vector<Variant> out;
  for (auto& v : all_variants())
    if (has_greenlet(v)) out.push_back(v);
  return out;
}

std::vector<Variant> greenlet_interpreters() {
  std::vector<Variant> out;
  for (auto& v : greenlet_variants())
    if (v.has_debuginfo()) out.push_back(v);
  return out;
}

uint64_t address_of(const json& a) {
  if (a.is_string()) return std::stoull(a.get<std::string>(), nullptr, 0);
  return a.get<uint64_t>();
}

// A frame's function as py-tasks names it (co_name, or a qualified name ending in it).
bool same_function(const json& frame, const std::string& name) {
  const std::string f = frame.value("function", "");
  return f == name || (f.size() > name.size() && f.ends_with("." + name));
}

std::vector<std::string> compare_greenlets(const json& truth, const json& got) {
  std::vector<std::string> diffs;
  if (!got.contains("greenlets") || !got["greenlets"].is_array()) return {"no greenlets list: " + got.dump()};
  std::map<uint64_t, json> by_address;
  for (const auto& g : got["greenlets"]) by_address[address_of(g.at("address"))] = g;
  for (const auto& want : truth["greenlets"]) {
    const uint64_t addr = want["address"].get<uint64_t>();
    const std::string who = want["type"].get<std::string>() + " " + want["name"].get<std::string>() + " (" +
                            want["state"].get<std::string>() + ")";
    auto it = by_address.find(addr);
    if (it == by_address.end()) {
      diffs.push_back(who + ": not listed");
      continue;
    }
    const json g = it->second;
    by_address.erase(it);
    for (const char* key : {"type", "name", "state", "thread", "running"}) {
      if (g.value(key, json()) != want[key])
        diffs.push_back(who + ": " + key + " " + g.value(key, json()).dump() + ", expected " + want[key].dump());
    }
    const json stack = g.value("stack", json::array());
    const json& inner = want["innermost"];
    if (inner.is_null()) {
      if (!stack.empty()) diffs.push_back(who + ": a stack, expected none: " + stack.dump());
      continue;
    }
    if (stack.empty()) {
      diffs.push_back(who + ": no stack, expected " + inner.dump());
      continue;
    }
    if (!same_function(stack[0], inner["function"].get<std::string>()) || stack[0].value("line", -1) != inner["line"])
      diffs.push_back(who + ": innermost frame " + stack[0].dump() + ", expected " + inner.dump());
    // The workload's own functions, in order; a suspended greenlet's stack ends at the one it started in.
    std::size_t at = 0;
    for (const auto& name : want["functions"]) {
      while (at < stack.size() && !same_function(stack[at], name.get<std::string>())) ++at;
      if (at == stack.size()) {
        diffs.push_back(who + ": " + name.get<std::string>() + " missing or out of order in " + stack.dump());
        break;
      }
      ++at;
    }
    if (want["state"] == "suspended" && !want["functions"].empty() &&
        !same_function(stack.back(), want["functions"].back().get<std::string>()))
      diffs.push_back(who + ": frames past " + want["functions"].back().get<std::string>() + ": " + stack.dump());
  }
  for (const auto& [addr, g] : by_address) diffs.push_back("listed but not a greenlet of the process: " + g.dump());
  return diffs;
}

// The main thread sleeps in park_main() (clock_nanosleep) and green-thread waits on an Event (futex):
// the truth is written just before the main thread gets there.
void wait_until_parked(pid_t pid) {
  const auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline) {
    bool parked = true;
    for (pid_t tid : task_ids(pid)) {
      const std::string call = read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
      parked &= call.rfind(tid == pid ? "230 " : "202 ", 0) == 0;
    }
    if (parked) return;
    std::this_thread::sleep_for(100ms);
  }
  FAIL() << "the workload's threads did not park within 20 s";
}

class Greenlets : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Start({})); }

  void Start(std::vector<std::string> args) {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup_ = setup_for(GetParam());
      // A missing greenlet or gevent ends the workload with its ImportError: a failure, not a skip.
      if (!has_gevent(GetParam())) args.push_back("--plain");
      workload_ = ScriptWorkload::start(setup_.executable, setup_.env, "greenlets.py", args);
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    ASSERT_NO_FATAL_FAILURE(wait_until_parked(workload_->pid()));
  }

  void expect_matches(const std::string& out, const std::string& what, const std::string& describe) {
    std::string error;
    auto got = find_json_line(out, &error, "{\"asyncio\"");
    ASSERT_TRUE(got) << what << ": " << error << describe;
    auto diffs = compare_greenlets(workload_->truth(), *got);
    EXPECT_TRUE(diffs.empty()) << what << ":\n"
                               << join_diffs(diffs) << "\n--- truth ---\n"
                               << workload_->truth().dump(1) << "\n--- " << what << " ---\n"
                               << describe;
  }

  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
};

TEST_P(Greenlets, JsonMatchesTruth) {
  auto r = run_gdb(workload_->pid(), {"py-tasks --json", "py-tasks", "py-bt-all --async --json"}, workload_->dir(), 90s,
                   setup_.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  expect_matches(r.out, "gdb", r.describe());
  // py-bt-all --async marks the greenlet running on each thread.
  {
    std::string error;
    auto bt = find_json_line(r.out, &error, "{\"pid\"");
    ASSERT_TRUE(bt) << error << r.describe();
    std::map<int64_t, std::string> want;  // thread -> its running greenlet's address
    for (const auto& g : workload_->truth()["greenlets"])
      if (g["running"] == true && g["thread"].is_number())
        want[g["thread"].get<int64_t>()] = hex(g["address"].get<uint64_t>());
    std::vector<std::string> diffs;
    for (const auto& t : (*bt)["threads"]) {
      if (!t["native_id"].is_number()) continue;
      auto it = want.find(t["native_id"].get<int64_t>());
      const json& g = t.value("greenlet", json());
      const std::string got = g.is_object() ? g["address"].get<std::string>() : "none";
      const std::string expected = it == want.end() ? "none" : it->second;
      if (got != expected)
        diffs.push_back("thread " + t["native_id"].dump() + ": greenlet " + got + ", expected " + expected);
    }
    EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << r.describe();
  }
  // The text names each greenlet, with its innermost frame's function.
  for (const auto& g : workload_->truth()["greenlets"]) {
    const std::string name = g["name"].get<std::string>();
    const std::string heading = "Greenlet " + (name.empty() ? std::string("(unnamed)") : "\"" + name + "\"") + " (" +
                                hex(g["address"].get<uint64_t>()) + ") " + g["type"].get<std::string>() + ", " +
                                g["state"].get<std::string>();
    const auto at = r.out.find(heading);
    EXPECT_NE(at, std::string::npos) << heading << "\n" << r.describe();
    if (at != std::string::npos && !g["innermost"].is_null()) {
      const auto next = r.out.find("\n\n", at);
      EXPECT_NE(r.out.substr(at, next - at).find(g["innermost"]["function"].get<std::string>()), std::string::npos)
          << heading << "\n"
          << r.describe();
    }
  }
  const auto left = left_running_problems(workload_->pid());
  EXPECT_TRUE(left.empty()) << join_diffs(left);
}

INSTANTIATE_TEST_SUITE_P(Variants, Greenlets, testing::ValuesIn(greenlet_variants()), variant_name);

// A greenlet release without a layout row: every greenlet is still listed (found by type), with no
// state, thread or stack read through offsets that could be wrong, and one warning says why.
class GreenletsUnknownRelease : public Greenlets {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Start({"--unknown-release"})); }
};

TEST_P(GreenletsUnknownRelease, ListedUndecodedWithOneWarning) {
  auto r = run_gdb(workload_->pid(), {"py-tasks --json"}, workload_->dir(), 90s, setup_.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error, "{\"asyncio\"");
  ASSERT_TRUE(got) << error << r.describe();
  std::set<uint64_t> want, listed;
  for (const auto& g : workload_->truth()["greenlets"]) want.insert(g["address"].get<uint64_t>());
  for (const auto& g : got->at("greenlets")) {
    listed.insert(address_of(g.at("address")));
    EXPECT_EQ(g.at("state"), "unknown") << g.dump();
    EXPECT_TRUE(g.at("thread").is_null()) << g.dump();
    EXPECT_TRUE(g.at("stack").empty()) << g.dump();
  }
  EXPECT_EQ(listed, want) << r.describe();
  const json warnings = got->at("warnings");
  ASSERT_EQ(warnings.size(), 1u) << warnings.dump();
  EXPECT_NE(warnings[0].get<std::string>().find("greenlet 0.0.0-not-a-release on Python 3."), std::string::npos)
      << warnings.dump();
}

INSTANTIATE_TEST_SUITE_P(Variants, GreenletsUnknownRelease, testing::ValuesIn(greenlet_interpreters()), variant_name);

class LldbGreenlets : public Greenlets {};

TEST_P(LldbGreenlets, JsonMatchesTruth) {
  ASSERT_TRUE(fs::exists(front_end_plugin(FrontEnd::Lldb))) << "LLDB plugin not found";
  auto run = run_front_end(FrontEnd::Lldb, workload_->pid(), {"py-tasks --json"}, workload_->dir());
  ASSERT_TRUE(run.problems.empty()) << join_diffs(run.problems) << run.raw.describe();
  ASSERT_EQ(run.outputs.size(), 1u) << run.raw.describe();
  expect_matches(run.outputs[0], "lldb", run.raw.describe());
  const auto left = left_running_problems(workload_->pid());
  EXPECT_TRUE(left.empty()) << join_diffs(left);
}

INSTANTIATE_TEST_SUITE_P(Variants, LldbGreenlets, testing::ValuesIn(greenlet_variants()), variant_name);

// From a core: gdb, and LLDB on the same core. gcore writes the host's interpreters' cores, the
// kernel sid's (gcore cannot copy their thread stacks: see write_kernel_core).
class GreenletsCoreFile : public Greenlets {};

TEST_P(GreenletsCoreFile, JsonMatchesTruth) {
  const fs::path core = workload_->dir() / "core";
  try {
    const Variant& v = GetParam();
    if (v.interp.root.empty()) write_core(workload_->pid(), core, workload_->dir());
    else
      write_kernel_core(
          workload_->pid(), [&] { return workload_->alive(); }, v.interp.root, core);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto r = run_gdb_core(setup_.executable, core, {"py-tasks --json"}, workload_->dir(), 120s, setup_.gdb_init);
  // LLDB 16 loads no module for a container's core by itself: greenlet's and gevent's type names lie
  // in their extensions' read-only data, which a core does not hold, so without the root as sysroot
  // their types would not validate and their greenlets would be missed.
  std::vector<std::string> lldb_args;
  if (!GetParam().interp.root.empty())
    lldb_args = {"-O", "platform select remote-linux --sysroot " + GetParam().interp.root.string()};
  for (const auto& a : {std::string("-c"), core.string(), GetParam().interp.path.string()}) lldb_args.push_back(a);
  auto lldb = run_lldb(lldb_args, {"py-tasks --json"}, workload_->dir());
  fs::remove(core);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  if (problems.empty()) expect_matches(r.out, "gdb on the core", r.describe());
  const auto lldb_problems = lldb_run_problems(lldb, true);
  EXPECT_TRUE(lldb_problems.empty()) << join_diffs(lldb_problems) << lldb.describe();
  if (lldb_problems.empty()) expect_matches(lldb.out, "LLDB on the core", lldb.describe());
}

INSTANTIATE_TEST_SUITE_P(Variants, GreenletsCoreFile, testing::ValuesIn(greenlet_interpreters()), variant_name);

}  // namespace
}  // namespace pyxray::it
