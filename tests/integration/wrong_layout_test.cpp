// Fault tests on real processes (issue 8): a wrong layout. `py-layout --python X.Y` makes pyxray
// decode a live process as another CPython version than it runs, with that version's built-in
// table: every offset, and perhaps the frame model, is wrong. What the test demands is what a user
// who forced the wrong version (or whose target lies about its version) must get: every command
// ends, with some output or one clear `pyxray:` line, never an internal error, a crash or a hang;
// `py-layout --python auto` then gives the right stacks again; and the target runs on unchanged.
//
// One debugger session per interpreter (tests/workloads/stacks.py, whose threads stay parked and
// whose ground truth is the process's own sys._current_frames()): an object's address is taken
// with the right layout, then for each of two wrong versions (one with another frame model, one
// with the same model and other offsets: wrong_versions()) every command runs once, through
// tests/integration/tools/run_each.py, which reports each command's output and failure on its own.
// The LLDB variant does the same for one interpreter.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "lldb_harness.hpp"
#include "workload.hpp"

#include <fstream>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kRunEach = fs::path(PYXRAY_SOURCE_DIR) / "tests/integration/tools/run_each.py";

// Two versions to force on a process running major.minor: first one with another frame model
// (frame objects up to 3.10, _PyInterpreterFrame through cframe in 3.11-3.12, through
// current_frame from 3.13), then one with the same model but other offsets (3.13 has no such
// neighbour: 3.12 is the closest). 2.7 stands in for "no _PyRuntime at all" on two 3.x versions.
std::vector<std::string> wrong_versions(int major, int minor) {
  if (major == 2) return {"3.12", "3.6"};
  switch (minor) {
    case 6: return {"2.7", "3.7"};
    case 7: return {"3.13", "3.6"};
    case 8: return {"3.11", "3.9"};
    case 9: return {"3.12", "3.10"};
    case 10: return {"3.13", "3.9"};
    case 11: return {"3.10", "3.12"};
    case 12: return {"2.7", "3.11"};
    case 13: return {"3.10", "3.12"};
  }
  return {"3.11", "2.7"};
}

// What every wrong version runs: every command, those that take an address with {addr}.
std::vector<std::string> commands_for(const std::string& version, const std::string& tag) {
  return {"py-layout --python " + version + " --json",
          "py-bt-all",
          "py-bt-all --json",
          "py-bt",
          "py-locals",
          "py-print self",
          "py-print {addr}",
          "py-list",
          "py-up",
          "py-heap-summary --limit 3",
          "py-arenas",
          "py-sizeof {addr}",
          "py-biggest 3",
          "py-referrers {addr}",
          "py-sample 0.2s -o wrong-" + tag + ".folded"};
}

struct Result {
  std::string command;
  bool ok = false;
  std::string output;
};

std::vector<Result> results(const std::string& out, const std::string& marker = "@@RESULT ") {
  std::vector<Result> rs;
  for (const auto& line : split_lines(out)) {
    if (line.rfind(marker, 0) != 0) continue;
    json j = json::parse(line.substr(marker.size()));
    rs.push_back({j.at("command").get<std::string>(), j.at("ok").get<bool>(), j.at("output").get<std::string>()});
  }
  return rs;
}

// The whole run: which commands, and what must come out.
struct Plan {
  std::vector<std::string> wrong;
  std::vector<std::string> commands;
};

Plan plan_for(int major, int minor) {
  Plan p;
  p.wrong = wrong_versions(major, minor);
  for (std::size_t i = 0; i < p.wrong.size(); ++i) {
    auto c = commands_for(p.wrong[i], std::to_string(i));
    p.commands.insert(p.commands.end(), c.begin(), c.end());
  }
  p.commands.push_back("py-layout --python auto --json");
  p.commands.push_back("py-bt-all --json");
  return p;
}

void write_plan(const Plan& p, const fs::path& path) {
  std::ofstream(path) << json{{"setup", "py-print self --json"}, {"commands", p.commands}}.dump();
}

// Checks every command's result; `truth` and `tasks` for the final py-bt-all --json.
void check_results(const Plan& plan, const std::string& out, const Workload& w, const std::string& describe) {
  auto setup = results(out, "@@SETUP ");
  ASSERT_EQ(setup.size(), 1u) << describe;
  ASSERT_TRUE(setup[0].ok) << "py-print self --json with the right layout: " << setup[0].output;
  auto rs = results(out);
  ASSERT_EQ(rs.size(), plan.commands.size()) << "a command did not run\n" << describe;
  const std::string real = std::to_string(w.truth().major) + "." + std::to_string(w.truth().minor);
  std::size_t answered = 0, refused = 0;
  std::string forced;  // the version in force for the commands that follow
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const Result& r = rs[i];
    SCOPED_TRACE("`" + r.command + "` with the version forced to " + (forced.empty() ? "auto" : forced));
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find('\0'), std::string::npos);
    if (r.command.rfind("py-layout --python ", 0) == 0) {
      // The override itself must work and say so.
      ASSERT_TRUE(r.ok) << r.output;
      json j = json::parse(r.output.substr(r.output.find('{')));
      forced = r.command.substr(19, r.command.find(' ', 19) - 19);
      if (forced == "auto") {
        EXPECT_FALSE(j.at("python_forced").get<bool>());
        forced.clear();
      } else {
        EXPECT_TRUE(j.at("python_forced").get<bool>());
        EXPECT_EQ(j.at("python").get<std::string>(), forced);
        EXPECT_EQ(j.at("python_detected").get<std::string>().rfind(real, 0), 0u) << j.at("python_detected");
        EXPECT_TRUE(j.at("sources").at("debuginfo").empty());
      }
      continue;
    }
    if (r.ok) {
      // A partial answer: it says something.
      ++answered;
      EXPECT_NE(r.output.find_first_not_of(" \n"), std::string::npos) << "printed nothing";
    } else {
      // A refusal: one line, in pyxray's words, naming the forced version.
      ++refused;
      EXPECT_EQ(r.output.rfind("pyxray: ", 0), 0u) << r.output;
      std::string line = r.output;
      while (line.ends_with("\n")) line.pop_back();
      EXPECT_EQ(line.find('\n'), std::string::npos) << "more than one line: " << r.output;
      EXPECT_NE(r.output.find("forced by 'py-layout --python'"), std::string::npos) << r.output;
    }
  }
  std::cout << "  forced " << plan.wrong[0] << " and " << plan.wrong[1] << " on " << real << ": " << answered
            << " partial answers, " << refused << " refusals\n";
  // Back to detection: the right stacks again.
  const Result& last = rs.back();
  ASSERT_TRUE(last.ok) << last.output;
  std::string error;
  auto got = find_json_line(last.output, &error);
  ASSERT_TRUE(got) << error << "\n" << last.output.substr(0, 2000);
  const auto diffs = compare_bt_all_json(w.truth(), *got, task_ids(w.pid()));
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --json after py-layout --python auto differs from the ground truth ("
                             << diffs.size() << " differences):\n"
                             << join_diffs(diffs);
}

// The target runs on as before: alive, no thread left stopped, the spinner still burning CPU.
void check_left_running(Workload& w) {
  ASSERT_TRUE(w.alive()) << "the workload died while the debugger was attached";
  for (pid_t tid : task_ids(w.pid())) {
    char state = proc_state(w.pid(), tid);
    EXPECT_TRUE(state != 't' && state != 'T') << "thread " << tid << " left in state '" << state << "'";
  }
  const auto before = cpu_ticks(w.pid());
  ASSERT_TRUE(before);
  const auto deadline = Clock::now() + 5s;
  auto now = before;
  while (now && *now == *before && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    now = cpu_ticks(w.pid());
  }
  ASSERT_TRUE(now) << "the workload is gone";
  EXPECT_GT(*now, *before) << "the workload used no CPU for 5 s after the debugger detached";
}

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

class WrongLayout : public testing::TestWithParam<Interpreter> {};

TEST_P(WrongLayout, EveryCommandEndsCleanlyAndAutoRecovers) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  std::unique_ptr<Workload> w;
  try {
    w = Workload::start(GetParam());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const Plan plan = plan_for(GetParam().major, GetParam().minor);
  const fs::path spec = w->dir() / "commands.json";
  write_plan(plan, spec);
  const auto start = Clock::now();
  auto r = run_gdb(
      w->pid(), {"cd " + w->dir().string(), "source " + kRunEach.string(), "python run_each('" + spec.string() + "')"},
      w->dir(), 120s);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << "\n" << r.describe();
  check_results(plan, r.out, *w, r.describe());
  check_left_running(*w);
  std::cout << "  gdb session: " << seconds << " s\n";
}

INSTANTIATE_TEST_SUITE_P(Interpreters, WrongLayout, testing::ValuesIn(all_interpreters()), param_name);

// The same under LLDB, for one interpreter: the newest pyenv one.
TEST(LldbWrongLayout, EveryCommandEndsCleanlyAndAutoRecovers) {
  ASSERT_TRUE(fs::exists(lldb_plugin_path())) << "LLDB plugin not found: " << lldb_plugin_path();
  const auto pyenv = pyenv_interpreters();
  ASSERT_FALSE(pyenv.empty()) << "no pyenv interpreter";
  const Interpreter& interp = pyenv.back();
  std::unique_ptr<Workload> w;
  try {
    w = Workload::start(interp);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const Plan plan = plan_for(interp.major, interp.minor);
  const fs::path spec = w->dir() / "commands.json";
  write_plan(plan, spec);
  const auto start = Clock::now();
  auto r = run_lldb_attached(
      w->pid(), {"command script import " + kRunEach.string(), "script run_each.run_each('" + spec.string() + "')"},
      w->dir());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const auto problems = lldb_run_problems(r, /*require_success=*/true);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << "\n" << r.describe();
  check_results(plan, r.out, *w, r.describe());
  check_left_running(*w);
  std::cout << "  lldb session: " << seconds << " s\n";
}

}  // namespace
}  // namespace pyxray::it
