// End-to-end tests of py-tasks (tests/workloads/tasks.py): a known tree of asyncio tasks on two event
// loops (gather, a task awaiting a task, a queue, nested coroutines, a TaskGroup, shield, wait_for,
// an async generator, two tasks awaiting each other, a running task on a second thread).
// `py-tasks --json` must name exactly the tasks asyncio.all_tasks() names in the process, each with its
// state, its loop's thread, its whole coroutine chain (function, file and line of every frame, as the
// process follows cr_await itself; the outermost as task.get_stack() gives it) and the tasks awaiting
// it; and the deadlock. Every Python 3 interpreter with and without symbols, live in gdb and LLDB, and
// from core files in both.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

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

std::vector<Variant> python3_variants() {
  std::vector<Variant> out;
  for (auto& v : all_variants())
    if (v.interp.major >= 3) out.push_back(v);
  return out;
}

// What a task is called in both: its name where tasks have names (3.8+), else its coroutine's function
// (one per task in the workload).
std::string truth_key(const json& t) {
  const std::string name = t.value("name", "");
  return name.empty() ? t["outer_function"].get<std::string>() : name;
}

std::string got_key(const json& t) {
  const std::string name = t.value("name", "");
  if (!name.empty() || t["stack"].empty()) return name;
  return t["stack"].back()["function"].get<std::string>();
}

std::string frames_text(const json& frames) {
  std::string out;
  for (const auto& f : frames)
    out += f["function"].get<std::string>() + ":" + (f["line"].is_null() ? "?" : std::to_string(f["line"].get<int>())) +
           " ";
  return out;
}

// `skip`: a damaged task's key, whose answer is not compared.
std::vector<std::string> compare_tasks(const json& truth, const json& got, const std::string& skip = "") {
  std::vector<std::string> diffs;
  if (!got.contains("tasks") || !got["tasks"].is_array()) return {"no tasks list: " + got.dump()};
  if (got["asyncio"] != true) diffs.push_back("asyncio: " + got["asyncio"].dump() + ", expected true");
  std::map<std::string, json> by_key;
  std::map<std::string, std::string> key_of_address;
  for (const auto& t : got["tasks"]) {
    const std::string key = got_key(t);
    key_of_address[t["address"].get<std::string>()] = key;
    if (!skip.empty() && key == skip) continue;
    if (by_key.count(key)) diffs.push_back("task " + key + " listed twice");
    by_key[key] = t;
  }
  std::set<std::string> want_keys;
  for (const auto& want : truth["tasks"]) {
    const std::string key = truth_key(want);
    want_keys.insert(key);
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      diffs.push_back("task " + key + ": missing");
      continue;
    }
    const json& t = it->second;
    const bool running = want["running"].get<bool>();
    if (t["running"] != running) diffs.push_back(key + ": running " + t["running"].dump());
    if (t["state"] != (running ? "running" : "pending")) diffs.push_back(key + ": state " + t["state"].dump());
    if (t["thread"] != want["thread"])
      diffs.push_back(key + ": thread " + t["thread"].dump() + ", expected " + want["thread"].dump());
    // The whole chain, innermost first; a running task's innermost line moves as it runs.
    const json& ws = want["stack"];
    const json& gs = t["stack"];
    bool same = ws.size() == gs.size();
    for (std::size_t i = 0; same && i < ws.size(); ++i) {
      same &= gs[i]["function"] == ws[i]["function"] && gs[i]["file"] == ws[i]["file"];
      if (!(running && i == 0)) same &= gs[i]["line"] == ws[i]["line"];
    }
    if (!same) diffs.push_back(key + ": stack " + frames_text(gs) + ", expected " + frames_text(ws));
    const json& outer = want["get_stack_outer"];
    if (gs.empty() || gs.back()["function"] != outer["function"] || gs.back()["line"] != outer["line"])
      diffs.push_back(key + ": outermost frame " + (gs.empty() ? "none" : gs.back().dump()) + ", get_stack() says " +
                      outer.dump());
    std::set<std::string> by, want_by;
    for (const auto& a : t["awaited_by"]) by.insert(key_of_address.count(a) ? key_of_address[a] : a.get<std::string>());
    if (!skip.empty()) by.erase(skip);
    for (const auto& role : want["awaited_by"]) {
      // The truth names roles; before 3.8 a task's key is its function: map through the truth.
      for (const auto& w : truth["tasks"])
        if (w["role"] == role) want_by.insert(truth_key(w));
    }
    if (by != want_by) {
      std::string a, b;
      for (const auto& s : by) a += s + " ";
      for (const auto& s : want_by) b += s + " ";
      diffs.push_back(key + ": awaited by [" + a + "], expected [" + b + "]");
    }
    // Its awaits are the inverse of the others' awaited_by.
    for (const auto& a : t["awaits"]) {
      auto k = key_of_address.find(a.get<std::string>());
      if (k == key_of_address.end()) diffs.push_back(key + ": awaits an unlisted task " + a.dump());
      else if (k->second == skip) continue;
      else {
        bool listed = false;
        for (const auto& b : by_key[k->second]["awaited_by"]) listed |= b == t["address"];
        if (!listed) diffs.push_back(key + ": awaits " + k->second + ", which is not awaited by it");
      }
    }
  }
  for (const auto& [key, t] : by_key)
    if (!want_keys.count(key) && key != skip)
      diffs.push_back("task " + key + ": listed, but asyncio.all_tasks() has no such task");
  // The deadlock: the two tasks awaiting each other, and nothing else.
  std::set<std::set<std::string>> deadlocks, want_deadlocks;
  for (const auto& d : got["deadlocks"]) {
    std::set<std::string> keys;
    for (const auto& a : d) keys.insert(key_of_address.count(a) ? key_of_address[a] : a.get<std::string>());
    deadlocks.insert(keys);
  }
  for (const auto& d : truth["deadlocks"]) {
    std::set<std::string> keys;
    for (const auto& role : d)
      for (const auto& w : truth["tasks"])
        if (w["role"] == role) keys.insert(truth_key(w));
    want_deadlocks.insert(keys);
  }
  if (deadlocks != want_deadlocks) diffs.push_back("deadlocks: " + got["deadlocks"].dump());
  for (const auto& d : truth["call_graph_differences"])
    diffs.push_back("the workload's design: " + d.get<std::string>());
  return diffs;
}

class Tasks : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup_ = setup_for(GetParam());
      workload_ = ScriptWorkload::start(setup_.executable, setup_.env, "tasks.py");
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }

  void Check(const std::string& who, const std::string& out, const std::string& describe) {
    std::string error;
    auto got = find_json_line(out, &error, "{\"asyncio\"");
    ASSERT_TRUE(got) << who << ": " << error << "\n" << describe;
    auto diffs = compare_tasks(workload_->truth(), *got);
    EXPECT_TRUE(diffs.empty()) << who << ":\n"
                               << join_diffs(diffs) << "\n--- truth ---\n"
                               << workload_->truth().dump(1) << "\n--- " << who << " ---\n"
                               << describe;
  }

  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
};

TEST_P(Tasks, JsonMatchesTruth) {
  const fs::path folded = workload_->dir() / "async.folded";
  auto r = run_gdb(workload_->pid(),
                   {"py-tasks --json", "py-tasks --tree", "py-tasks", "py-layout --json", "py-bt-all --async --json",
                    "py-sample 1s --async -o " + folded.string()},
                   workload_->dir(), 90s, setup_.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  Check("gdb", r.out, r.describe());
  // With _asyncio loaded, its structs' built-in table rows are confirmed by debuginfo (Layout.SourcesAgree
  // cannot: its workload never imports asyncio).
  if (GetParam().has_debuginfo()) {
    std::string error;
    auto layout = find_json_line(r.out, &error, "{\"disagreements\"");
    ASSERT_TRUE(layout) << error << r.describe();
    const json& debuginfo = (*layout)["sources"]["debuginfo"];
    std::vector<std::string> diffs;
    int confirmed = 0;
    for (const auto& [key, value] : (*layout)["sources"]["table"].items()) {
      if (!is_asyncio_module_key(key)) continue;
      if (!debuginfo.contains(key)) diffs.push_back("table has " + key + ", debuginfo does not");
      else if (debuginfo[key] != value)
        diffs.push_back(key + ": table " + value.dump() + ", debuginfo " + debuginfo[key].dump());
      else ++confirmed;
    }
    EXPECT_TRUE(diffs.empty()) << join_diffs(diffs);
    EXPECT_GE(confirmed, 5) << "asyncio's table rows were not checked against debuginfo";
  }
  // The tree puts each task under the task awaiting it and says the deadlock; the text starts with it.
  if (GetParam().interp.minor >= 8) {
    const auto child = r.out.find("── (T) child ");
    const auto parent = r.out.rfind("── (T) waits-child ", child);
    EXPECT_TRUE(child != std::string::npos && parent != std::string::npos &&
                r.out.find('\n', parent) + 1 == r.out.rfind('\n', child) + 1)
        << "child is not drawn right under waits-child\n"
        << r.describe();
    EXPECT_NE(r.out.find("Deadlock: \"cycle-"), std::string::npos) << r.describe();
  } else {
    EXPECT_NE(r.out.find("Deadlock: task 0x"), std::string::npos) << r.describe();
  }
  EXPECT_NE(r.out.find("in level2\n    await asyncio.sleep(LONG)"), std::string::npos) << r.describe();
  // py-bt-all --async: loop2's thread runs the spinner (its two innermost frames), the main thread's
  // loop waits with its tasks pending.
  {
    std::string error;
    auto bt = find_json_line(r.out, &error, "{\"pid\"");
    ASSERT_TRUE(bt) << error << r.describe();
    std::map<int64_t, std::size_t> tasks_per_thread;
    for (const auto& t : workload_->truth()["tasks"]) ++tasks_per_thread[t["thread"].get<int64_t>()];
    std::vector<std::string> diffs;
    for (const auto& t : (*bt)["threads"]) {
      const json& a = t.value("asyncio", json());
      if (!a.is_object()) {
        diffs.push_back("thread " + t["native_id"].dump() + ": no asyncio key");
        continue;
      }
      const bool loop2 = t["name"] == "loop2";
      const json want_task = loop2 ? json("spinner") : json(nullptr);
      const json got_task = a["task"].is_null() ? json(nullptr) : json(a["task"]["frames"] == 2 ? "spinner" : "?");
      if (got_task != want_task || (loop2 && GetParam().interp.minor >= 8 && a["task"]["name"] != "spinner"))
        diffs.push_back("thread " + t["name"].dump() + ": running task " + a["task"].dump());
      if (a["tasks"] != tasks_per_thread[t["native_id"].get<int64_t>()])
        diffs.push_back("thread " + t["name"].dump() + ": " + a["tasks"].dump() + " tasks on its loop");
    }
    EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << r.describe();
  }
  // py-sample --async: the one busy thread runs the spinner task, so every sample is that task's chain
  // under its root, without the event loop's frames.
  {
    const std::string text = read_text(folded);
    const std::string root = GetParam().interp.minor >= 8 ? "task spinner;spinner (" : "task 0x";
    std::size_t lines = 0;
    std::vector<std::string> diffs;
    for (std::size_t at = 0; at < text.size();) {
      const auto end = text.find('\n', at);
      const std::string line = text.substr(at, end - at);
      at = end == std::string::npos ? text.size() : end + 1;
      if (line.empty()) continue;
      // The main thread, idle in its loop's select, may be caught off the CPU on a busy machine: its
      // samples (no task running) keep their frames. The spinner's are the task's alone.
      if (line.find(";burn (") == std::string::npos) {
        if (line.find("task ") != std::string::npos)
          diffs.push_back("a task root on a thread running no task: " + line);
        continue;
      }
      ++lines;
      if (line.rfind(root, 0) != 0 || line.find("run_forever") != std::string::npos)
        diffs.push_back("folded line: " + line);
    }
    EXPECT_GT(lines, 0u) << "py-sample --async recorded no sample of the spinner\n" << text << r.describe();
    EXPECT_TRUE(diffs.empty()) << join_diffs(diffs);
  }
  const auto left = left_running_problems(workload_->pid());
  EXPECT_TRUE(left.empty()) << join_diffs(left);
}

INSTANTIATE_TEST_SUITE_P(Variants, Tasks, testing::ValuesIn(python3_variants()), variant_name);

class LldbTasks : public Tasks {};

TEST_P(LldbTasks, JsonMatchesTruth) {
  ASSERT_TRUE(fs::exists(front_end_plugin(FrontEnd::Lldb))) << "LLDB plugin not found";
  auto run = run_front_end(FrontEnd::Lldb, workload_->pid(), {"py-tasks --json"}, workload_->dir());
  ASSERT_TRUE(run.problems.empty()) << join_diffs(run.problems) << run.raw.describe();
  ASSERT_EQ(run.outputs.size(), 1u) << run.raw.describe();
  Check("lldb", run.outputs[0], run.raw.describe());
  const auto left = left_running_problems(workload_->pid());
  EXPECT_TRUE(left.empty()) << join_diffs(left);
}

INSTANTIATE_TEST_SUITE_P(Variants, LldbTasks, testing::ValuesIn(python3_variants()), variant_name);

// From a core file, in gdb and (for interpreters as installed) LLDB. sid's containers get a core
// written by the kernel, which ends the workload.
class TasksCore : public Tasks {};

TEST_P(TasksCore, JsonMatchesTruth) {
  CoreRuns runs;
  try {
    runs = run_on_core(GetParam(), setup_, workload_->pid(), [&] { return workload_->alive(); }, workload_->dir(),
                       {"py-tasks --json"});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  if (runs.lldb) {
    const auto lldb_problems = lldb_run_problems(*runs.lldb, true);
    EXPECT_TRUE(lldb_problems.empty()) << join_diffs(lldb_problems) << runs.lldb->describe();
    Check("lldb on the core", runs.lldb->out, runs.lldb->describe());
  }
  const auto problems = gdb_run_problems(runs.gdb, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << runs.gdb.describe();
  Check("gdb on the core", runs.gdb.out, runs.gdb.describe());
}

INSTANTIATE_TEST_SUITE_P(Variants, TasksCore, testing::ValuesIn(python3_variants()), variant_name);

// A task whose coroutine pointer was overwritten with an int's (tasks.py damaged-task): py-tasks still
// answers, every other task exactly, the damaged one with no stack. One interpreter per stack model,
// with and without symbols.
std::vector<Variant> model_variants() {
  std::vector<Variant> out;
  const auto models = model_interpreters();
  for (const auto& v : python3_variants())
    for (const auto& m : models)
      if (m.name == v.interp.name) out.push_back(v);
  return out;
}

class TasksDamaged : public testing::TestWithParam<Variant> {};

TEST_P(TasksDamaged, OthersExact) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  VariantSetup setup;
  std::unique_ptr<ScriptWorkload> workload;
  try {
    setup = setup_for(GetParam());
    workload = ScriptWorkload::start(setup.executable, setup.env, "tasks.py", {"damaged-task"});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto r = run_gdb(workload->pid(), {"py-tasks --json", "py-tasks --tree"}, workload->dir(), 90s, setup.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error, "{\"asyncio\"");
  ASSERT_TRUE(got) << error << r.describe();
  // Before 3.8 the damaged task has no name and, with no stack, no function: its key is "".
  const std::string damaged = GetParam().interp.minor >= 8 ? "child" : "";
  auto diffs = compare_tasks(workload->truth(), *got, damaged);
  bool listed = false;
  for (const auto& t : (*got)["tasks"]) {
    if (got_key(t) != damaged) continue;
    listed = true;
    if (!t["stack"].empty()) diffs.push_back("the damaged task has a stack: " + t["stack"].dump());
  }
  if (!listed) diffs.push_back("the damaged task is not listed");
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n--- gdb ---\n" << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Variants, TasksDamaged, testing::ValuesIn(model_variants()), variant_name);

// A process without asyncio or greenlet: one line says so, on every interpreter (2.7 included).
class NoTasks : public testing::TestWithParam<Interpreter> {};

TEST_P(NoTasks, SaysSoInOneLine) {
  std::unique_ptr<Workload> w;
  try {
    w = Workload::start(GetParam());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto r = run_gdb(w->pid(), {"py-tasks", "py-tasks --json"}, w->dir());
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  EXPECT_NE(r.out.find("\nThis process has not imported asyncio or greenlet: it has no tasks.\n"), std::string::npos)
      << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error, "{\"asyncio\"");
  ASSERT_TRUE(got) << error << r.describe();
  EXPECT_EQ((*got)["asyncio"], false);
  EXPECT_TRUE((*got)["tasks"].empty() && (*got)["greenlets"].empty()) << got->dump();
}

INSTANTIATE_TEST_SUITE_P(Interpreters, NoTasks, testing::ValuesIn(all_interpreters()),
                         [](const testing::TestParamInfo<Interpreter>& i) { return i.param.name; });

}  // namespace
}  // namespace pyxray::it
