// End-to-end tests of py-locks (tests/workloads/locks.py): a lock-order deadlock through `with`
// blocks, an RLock held twice and waited for, a Condition waited on, a Lock held through acquire()
// (holder unknown) and a deadlock through an import (on 2.7 through the global import lock, known from
// a symbol table only). `py-locks --json` must give exactly the truth the workload staged: every
// lock's holders, count and waiters, every condition's waiters, the joins and the deadlocks; no lock
// anyone is not known to hold is given a holder. Every interpreter, with and without debug symbols,
// in gdb; the stack models in LLDB; and from core files.
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

constexpr auto kSettleTimeout = 20s;

// Waits until every thread but the main one sleeps in a futex wait, on the same word in two readings
// 200 ms apart: staged waits that have really begun, checked from outside.
std::vector<std::string> wait_until_blocked(pid_t pid, int64_t main_tid) {
  auto futexes = [&] {
    std::map<pid_t, std::string> out;
    for (pid_t tid : task_ids(pid)) {
      if (tid == main_tid) continue;
      std::string call = read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
      out[tid] = call.rfind("202 ", 0) == 0 ? call.substr(0, call.find(' ', 4)) : "";
    }
    return out;
  };
  const auto deadline = Clock::now() + kSettleTimeout;
  auto before = futexes();
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    auto now = futexes();
    bool settled = now == before;
    for (const auto& [tid, call] : now) settled &= !call.empty();
    if (settled) return {};
    before = std::move(now);
  }
  std::vector<std::string> problems;
  for (const auto& [tid, call] : before)
    problems.push_back("thread " + std::to_string(tid) + (call.empty() ? " is not in a futex wait" : " in " + call));
  return problems;
}

// The workload's roles by thread ident.
std::map<uint64_t, std::string> roles_by_ident(const json& truth) {
  std::map<uint64_t, std::string> out;
  for (const auto& t : truth["threads"]) out[t["ident"].get<uint64_t>()] = t["role"].get<std::string>();
  return out;
}

std::set<std::string> roles_of(const json& entries, const std::map<uint64_t, std::string>& roles,
                               std::vector<std::string>& diffs, const std::string& where) {
  std::set<std::string> out;
  if (entries.is_null()) return out;
  for (const auto& e : entries) {
    const auto ident = e.value("ident", uint64_t{0});
    auto it = roles.find(ident);
    if (it == roles.end()) {
      diffs.push_back(where + ": thread ident " + hex(ident) + " is none of the workload's threads");
      continue;
    }
    out.insert(it->second);
  }
  return out;
}

std::set<std::string> as_set(const json& list) {
  std::set<std::string> out;
  if (list.is_array())
    for (const auto& v : list) out.insert(v.get<std::string>());
  return out;
}

std::string join_set(const std::set<std::string>& s) {
  std::string out;
  for (const auto& v : s) out += (out.empty() ? "" : ", ") + v;
  return "{" + out + "}";
}

// Everything that differs between `py-locks --json` and the truth.
std::vector<std::string> compare_locks(const json& truth, const json& got) {
  std::vector<std::string> diffs;
  const auto roles = roles_by_ident(truth);
  std::map<std::string, json> got_locks, got_conditions;
  for (const auto& l : got.at("locks")) got_locks[l.at("address").get<std::string>()] = l;
  for (const auto& c : got.at("conditions")) got_conditions[c.at("address").get<std::string>()] = c;

  std::set<std::string> expected_addresses;
  for (const auto& want : truth["locks"]) {
    // A lock that is no object (2.7's import lock) has no id(): it is the one of its kind.
    std::string address;
    if (want["address"].is_null()) {
      for (const auto& [a, l] : got_locks)
        if (l.value("kind", "") == want.value("kind", "")) address = a;
    } else {
      address = hex(want["address"].get<uint64_t>());
    }
    const std::string what = "lock " + (want["name"].is_null() ? address : want["name"].get<std::string>());
    expected_addresses.insert(address);
    auto it = got_locks.find(address);
    if (it == got_locks.end()) {
      diffs.push_back(what + ": missing");
      continue;
    }
    const json& l = it->second;
    std::set<std::string> want_holders = want["held_by"].is_null() ? std::set<std::string>{} : as_set(want["held_by"]);
    auto holders = roles_of(l.at("held_by"), roles, diffs, what + " held_by");
    if (holders != want_holders)
      diffs.push_back(what + ": held by " + join_set(holders) + ", expected " + join_set(want_holders));
    if (l.at("holder_known").get<bool>() != want["holder_known"].get<bool>())
      diffs.push_back(what + ": holder_known " + l.at("holder_known").dump() + ", expected " +
                      want["holder_known"].dump());
    if (!want["held_by"].is_null() && l.at("count") != want["count"])
      diffs.push_back(what + ": count " + l.at("count").dump() + ", expected " + want["count"].dump());
    auto waiters = roles_of(l.at("waiting"), roles, diffs, what + " waiting");
    if (waiters != as_set(want["waiters"]))
      diffs.push_back(what + ": waited for by " + join_set(waiters) + ", expected " +
                      join_set(as_set(want["waiters"])));
    if (!want["name"].is_null() && l.at("name") != want["name"])
      diffs.push_back(what + ": named " + l.at("name").dump() + ", expected " + want["name"].dump());
    if (!want["module"].is_null() && l.value("module", json()) != want["module"])
      diffs.push_back(what + ": module " + l.value("module", json()).dump() + ", expected " + want["module"].dump());
  }
  for (const auto& [address, l] : got_locks)
    if (!expected_addresses.count(address)) diffs.push_back("unexpected lock " + l.dump());

  std::set<std::string> expected_conditions;
  for (const auto& want : truth["conditions"]) {
    const std::string address = hex(want["address"].get<uint64_t>());
    const std::string what = "condition " + want["name"].get<std::string>();
    expected_conditions.insert(address);
    auto it = got_conditions.find(address);
    if (it == got_conditions.end()) {
      diffs.push_back(what + ": missing");
      continue;
    }
    const json& c = it->second;
    if (c.at("condition") != hex(want["condition"].get<uint64_t>()))
      diffs.push_back(what + ": condition " + c.at("condition").dump() + ", expected " +
                      hex(want["condition"].get<uint64_t>()));
    auto waiters = roles_of(c.at("waiting"), roles, diffs, what + " waiting");
    if (waiters != as_set(want["waiters"]))
      diffs.push_back(what + ": waited on by " + join_set(waiters) + ", expected " + join_set(as_set(want["waiters"])));
    if (c.at("name") != want["name"])
      diffs.push_back(what + ": named " + c.at("name").dump() + ", expected " + want["name"].dump());
  }
  for (const auto& [address, c] : got_conditions)
    if (!expected_conditions.count(address)) diffs.push_back("unexpected condition " + c.dump());

  std::set<std::string> joins, want_joins;
  for (const auto& j : got.at("joins")) {
    auto waiter = roles.find(j.value("ident", uint64_t{0}));
    auto joined = roles.find(j.value("joins_ident", uint64_t{0}));
    joins.insert((waiter == roles.end() ? "?" : waiter->second) + " joins " +
                 (joined == roles.end() ? "?" : joined->second));
  }
  for (const auto& j : truth["joins"])
    want_joins.insert(j["waiter"].get<std::string>() + " joins " + j["joins"].get<std::string>());
  if (joins != want_joins) diffs.push_back("joins " + join_set(joins) + ", expected " + join_set(want_joins));

  std::set<std::string> deadlocks, want_deadlocks;
  for (const auto& d : got.at("deadlocks")) {
    std::set<std::string> members;
    for (const auto& ident : d.at("idents")) {
      auto it = roles.find(ident.get<uint64_t>());
      members.insert(it == roles.end() ? "?" : it->second);
    }
    deadlocks.insert(join_set(members));
  }
  for (const auto& d : truth["deadlocks"]) want_deadlocks.insert(join_set(as_set(d)));
  if (deadlocks != want_deadlocks)
    diffs.push_back("deadlocks " + join_set(deadlocks) + ", expected " + join_set(want_deadlocks));
  return diffs;
}

// The truth for a build with or without a symbol table: what only symbols show is expected only with
// them (2.7's import lock, a C static).
json truth_for(const json& truth, bool symbols) {
  json t = truth;
  if (!symbols || !t.contains("symbols_only")) return t;
  for (const auto& l : t["symbols_only"]["locks"]) t["locks"].push_back(l);
  for (const auto& d : t["symbols_only"]["deadlocks"]) t["deadlocks"].push_back(d);
  return t;
}

// py-bt-all names the lock each thread blocked in a C acquire waits for, and who holds it (the truth's
// bt_waits: role -> [lock name, holder role or null]).
std::vector<std::string> compare_bt_all(const json& truth, const json& got) {
  std::vector<std::string> diffs;
  const auto roles = roles_by_ident(truth);
  std::map<std::string, std::pair<json, json>> expected;
  for (const auto& [role, want] : truth["bt_waits"].items()) expected[role] = {want[0], want[1]};
  std::set<std::string> seen;
  for (const auto& t : got.at("threads")) {
    auto role = roles.find(t.value("thread_id", uint64_t{0}));
    if (role == roles.end()) continue;
    auto want = expected.find(role->second);
    const json w = t.value("waiting_for", json());
    if (want == expected.end()) continue;
    seen.insert(role->second);
    if (w.is_null()) {
      diffs.push_back(role->second + ": no waiting_for");
      continue;
    }
    if (w.value("name", json()) != want->second.first)
      diffs.push_back(role->second + ": waiting for " + w.dump() + ", expected " + want->second.first.dump());
    const json held_by = w.value("held_by", json());
    const json holder = held_by.is_null() ? json() : held_by.value("name", json());
    if (holder != want->second.second)
      diffs.push_back(role->second + ": held by " + w.dump() + ", expected " + want->second.second.dump());
  }
  for (const auto& [role, want] : expected)
    if (!seen.count(role)) diffs.push_back(role + ": not in py-bt-all");
  return diffs;
}

// Starts locks.py (with `args`: a damage) and waits until its waits have begun.
struct LockWorkload {
  VariantSetup setup;
  std::unique_ptr<ScriptWorkload> workload;

  void Start(const Variant& v, const std::vector<std::string>& args) {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup = setup_for(v);
      workload = ScriptWorkload::start(setup.executable, setup.env, "locks.py", args);
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    auto blocked = wait_until_blocked(workload->pid(), workload->pid());
    ASSERT_TRUE(blocked.empty()) << "the staged waits did not begin:\n" << join_diffs(blocked);
  }
};

class Locks : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(w_.Start(GetParam(), {}));
    setup_ = w_.setup;
    workload_ = std::move(w_.workload);
  }

  LockWorkload w_;
  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
};

TEST_P(Locks, JsonMatchesTruth) {
  const fs::path dot = workload_->dir() / "locks.dot";
  auto r =
      run_gdb(workload_->pid(), {"py-locks --json", "py-bt-all --json", "py-locks --dot " + dot.string(), "py-bt-all"},
              workload_->dir(), 90s, setup_.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error, "{\"pid\"");
  ASSERT_TRUE(got) << error << r.describe();
  auto diffs = compare_locks(truth_for(workload_->truth(), GetParam().has_debuginfo()), *got);
  // Every thread is blocked: none holds the GIL, none waits for it.
  if (!got->at("gil").at("held_by").is_null() || !got->at("gil").at("waiters").empty())
    diffs.push_back("gil: " + got->at("gil").dump() + ", expected nobody holding or waiting");
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n--- truth ---\n"
                             << workload_->truth().dump(1) << "\n--- gdb ---\n"
                             << r.describe();
  // The second JSON line: py-bt-all's.
  const auto second = r.out.find("{\"pid\"", r.out.find("{\"pid\"") + 1);
  ASSERT_NE(second, std::string::npos) << r.describe();
  auto bt = find_json_line(r.out.substr(second), &error, "{\"pid\"");
  ASSERT_TRUE(bt) << error;
  auto bt_diffs = compare_bt_all(workload_->truth(), *bt);
  EXPECT_TRUE(bt_diffs.empty()) << join_diffs(bt_diffs) << r.describe();
  // The text says the deadlock first, in words; py-bt-all's status line names the lock and its holder.
  EXPECT_NE(r.out.find("Deadlock: \"lock-"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("waiting for lock locks.lock_b (0x"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find(") held by \"lock-b\")"), std::string::npos) << r.describe();
  // The graph: every thread of a deadlock is a node, and the deadlocks' edges are red (two per thread
  // waiting for a lock, one per join).
  const std::string graph = read_text(dot);
  EXPECT_EQ(graph.rfind("digraph locks {", 0), 0u) << graph;
  std::size_t red = 0;
  for (auto at = graph.find("penwidth=2"); at != std::string::npos; at = graph.find("penwidth=2", at + 1)) ++red;
  std::size_t want_red = 0;
  const json truth = truth_for(workload_->truth(), GetParam().has_debuginfo());
  for (const auto& d : truth["deadlocks"]) {
    want_red += 2 * d.size();
    for (const auto& role : d)
      if (role == "importer") want_red -= 1;  // importer -> import-helper is one edge, a join
  }
  EXPECT_EQ(red, want_red) << graph;
  for (const auto& t : workload_->truth()["threads"])
    if (t["role"] == "lock-a" || t["role"] == "lock-b")
      EXPECT_NE(graph.find("\\\"" + t["role"].get<std::string>() + "\\\""), std::string::npos) << graph;
  const auto left = left_running_problems(workload_->pid());
  EXPECT_TRUE(left.empty()) << join_diffs(left);
}

INSTANTIATE_TEST_SUITE_P(Variants, Locks, testing::ValuesIn(all_variants()), variant_name);

// From a core file: each thread's futex comes from the registers the core saved. gcore writes the
// host's interpreters' cores; sid's containers get a core written by the kernel (gcore cannot copy
// their thread stacks, see write_kernel_core), which ends the workload.
class LocksCore : public Locks {};

TEST_P(LocksCore, JsonMatchesTruth) {
  // LLDB reads the same core (its registers lack orig_rax: pyxray reads the core's NT_PRSTATUS notes
  // itself), for every interpreter as installed.
  CoreRuns runs;
  try {
    runs = run_on_core(GetParam(), setup_, workload_->pid(), [&] { return workload_->alive(); }, workload_->dir(),
                       {"py-locks --json"});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const json truth = truth_for(workload_->truth(), GetParam().has_debuginfo());
  if (runs.lldb) {
    const auto lldb_problems = lldb_run_problems(*runs.lldb, true);
    EXPECT_TRUE(lldb_problems.empty()) << join_diffs(lldb_problems) << runs.lldb->describe();
    std::string lldb_error;
    auto lldb_got = find_json_line(runs.lldb->out, &lldb_error, "{\"pid\"");
    if (!lldb_got) ADD_FAILURE() << lldb_error << runs.lldb->describe();
    else {
      auto diffs = compare_locks(truth, *lldb_got);
      EXPECT_TRUE(diffs.empty()) << "LLDB on the core:\n" << join_diffs(diffs) << "\n" << runs.lldb->describe();
    }
  }
  const auto problems = gdb_run_problems(runs.gdb, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << runs.gdb.describe();
  std::string error;
  auto got = find_json_line(runs.gdb.out, &error, "{\"pid\"");
  ASSERT_TRUE(got) << error << runs.gdb.describe();
  auto diffs = compare_locks(truth, *got);
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n--- gdb ---\n" << runs.gdb.describe();
}

INSTANTIATE_TEST_SUITE_P(Variants, LocksCore, testing::ValuesIn(all_variants()), variant_name);

// LLDB, live: the same answer through the other front end, on every interpreter with and without
// symbols.

class LldbLocks : public Locks {};

TEST_P(LldbLocks, JsonMatchesTruth) {
  ASSERT_TRUE(fs::exists(front_end_plugin(FrontEnd::Lldb))) << "LLDB plugin not found";
  auto run = run_front_end(FrontEnd::Lldb, workload_->pid(), {"py-locks --json"}, workload_->dir());
  ASSERT_TRUE(run.problems.empty()) << join_diffs(run.problems) << run.raw.describe();
  ASSERT_EQ(run.outputs.size(), 1u) << run.raw.describe();
  std::string error;
  auto got = find_json_line(run.outputs[0], &error, "{\"pid\"");
  ASSERT_TRUE(got) << error << run.raw.describe();
  auto diffs = compare_locks(truth_for(workload_->truth(), GetParam().has_debuginfo()), *got);
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n--- lldb ---\n" << run.raw.describe();
  const auto left = left_running_problems(workload_->pid());
  EXPECT_TRUE(left.empty()) << join_diffs(left);
}

INSTANTIATE_TEST_SUITE_P(Variants, LldbLocks, testing::ValuesIn(all_variants()), variant_name);

// Damaged lock objects (tests/workloads/locks.py's DAMAGE): an RLock whose recorded owner is no thread
// is held by nobody that can be named, not by the frame inside its with block; a lock whose type
// pointer is another type's is no lock: left out with the wait for it. Never a wrong holder, a crash
// or a hang. One interpreter per stack model, with and without symbols.
struct DamageCase {
  Variant variant;
  std::string damage;
};

void PrintTo(const DamageCase& c, std::ostream* os) { *os << c.variant.name << " " << c.damage; }

std::vector<DamageCase> damage_cases() {
  std::vector<DamageCase> out;
  for (const auto& v : all_variants()) {
    const auto models = model_interpreters();
    if (std::none_of(models.begin(), models.end(), [&](const Interpreter& i) { return i.name == v.interp.name; }))
      continue;
    for (const char* damage : {"damaged-owner", "damaged-type"}) out.push_back({v, damage});
  }
  return out;
}

std::string damage_name(const testing::TestParamInfo<DamageCase>& info) {
  std::string d = info.param.damage;
  std::replace(d.begin(), d.end(), '-', '_');
  return info.param.variant.name + "_" + d;
}

class LocksDamaged : public testing::TestWithParam<DamageCase> {};

TEST_P(LocksDamaged, NoWrongHolder) {
  LockWorkload w;
  ASSERT_NO_FATAL_FAILURE(w.Start(GetParam().variant, {GetParam().damage}));
  auto r =
      run_gdb(w.workload->pid(), {"py-locks --json", "py-bt-all --json"}, w.workload->dir(), 90s, w.setup.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error, "{\"pid\"");
  ASSERT_TRUE(got) << error << r.describe();
  auto diffs = compare_locks(truth_for(w.workload->truth(), GetParam().variant.has_debuginfo()), *got);
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n--- gdb ---\n" << r.describe();
  const auto second = r.out.find("{\"pid\"", r.out.find("{\"pid\"") + 1);
  ASSERT_NE(second, std::string::npos) << r.describe();
  auto bt = find_json_line(r.out.substr(second), &error, "{\"pid\"");
  ASSERT_TRUE(bt) << error;
  auto bt_diffs = compare_bt_all(w.workload->truth(), *bt);
  EXPECT_TRUE(bt_diffs.empty()) << join_diffs(bt_diffs) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Variants, LocksDamaged, testing::ValuesIn(damage_cases()), damage_name);

}  // namespace
}  // namespace pyxray::it
