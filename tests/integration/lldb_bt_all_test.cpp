// What only the LLDB front end has to show: Debian's lldb-16 attaches with `plugin load
// BUILD/libpyxray-lldb.so`, `help`, a non-Python process, no process, and core files, judged by the
// comparison functions of the gdb tests. py-bt-all and py-bt on live processes run under both
// debuggers in bt_all_test.cpp (BtAll, parameterised on the front end).
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "lldb_harness.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <regex>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// Lines carrying pyxray's error message (LLDB prefixes every command error with "error: ").
std::vector<std::string> pyxray_error_lines(const CommandResult& r) {
  std::vector<std::string> lines;
  for (const auto* stream : {&r.out, &r.err})
    for (const auto& line : split_lines(*stream))
      if (line.rfind("error: pyxray:", 0) == 0 || line.rfind("pyxray:", 0) == 0) lines.push_back(line);
  return lines;
}

// After LLDB detaches the process must be alive and no thread in a tracing or job-control stop.
void expect_left_running(pid_t pid) {
  const auto problems = left_running_problems(pid);
  EXPECT_TRUE(problems.empty()) << join(problems);
}

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

// --- the environment ---

TEST(LldbEnvironment, AttachesToAProcess) {
  TempDir dir;
  Process sleeper({"sleep", "60"}, dir.path() / "sleep.out", dir.path() / "sleep.err");
  const auto deadline = Clock::now() + 10s;
  std::error_code ec;
  while (fs::read_symlink("/proc/" + std::to_string(sleeper.pid()) + "/exe", ec).filename() != "sleep") {
    ASSERT_TRUE(sleeper.running()) << "sleep exited";
    ASSERT_LT(Clock::now(), deadline) << "sleep did not start";
    std::this_thread::sleep_for(10ms);
  }
  auto r = run_command(
      {lldb_program(), "--no-lldbinit", "--batch", "-p", std::to_string(sleeper.pid()), "-o", "thread list"},
      dir.path(), 60s);
  ASSERT_TRUE(lldb_run_problems(r, true).empty()) << join(lldb_run_problems(r, true)) << r.describe();
  EXPECT_NE(r.out.find("tid = " + std::to_string(sleeper.pid())), std::string::npos)
      << "lldb cannot attach here (ptrace permissions?)\n"
      << r.describe();
  EXPECT_TRUE(sleeper.running());
  expect_left_running(sleeper.pid());
}

TEST(LldbHelp, HelpDescribesTheCommands) {
  const fs::path plugin = lldb_plugin_path();
  ASSERT_TRUE(fs::exists(plugin)) << "LLDB plugin not found: " << plugin
                                  << " (build the whole project, or point PYXRAY_LLDB_PLUGIN at it)";
  TempDir dir;
  auto r = run_lldb({}, {"help py-bt-all", "help py-bt", "help"}, dir.path(), 60s);
  ASSERT_TRUE(lldb_run_problems(r, true).empty()) << join(lldb_run_problems(r, true)) << r.describe();
  const std::string bt_all = lldb_command_output(r.out, "help py-bt-all");
  EXPECT_NE(bt_all.find("Print the Python stack of every thread"), std::string::npos) << r.describe();
  // The flags grow; the syntax line starts with these and ends with --max-frames.
  EXPECT_TRUE(
      std::regex_search(bt_all, std::regex(R"(\nSyntax: py-bt-all \[--json\][^\n]*\[--max-frames N\][^\n]*\n)")))
      << r.describe();
  EXPECT_NE(bt_all.find("innermost frame first"), std::string::npos) << "no long help\n" << r.describe();
  const std::string bt = lldb_command_output(r.out, "help py-bt");
  EXPECT_TRUE(std::regex_search(bt, std::regex(R"(\nSyntax: py-bt \[--json\][^\n]*\[--max-frames N\][^\n]*\n)")))
      << r.describe();
  // The plain `help` lists them among the user commands.
  const std::string all = lldb_command_output(r.out, "help");
  for (const char* name : {"py-bt-all", "py-bt"})
    EXPECT_TRUE(std::regex_search(all, std::regex(std::string("\\n\\s*") + name + "\\s+--")))
        << name << " missing from `help`\n"
        << r.describe();
}

// --- against the workload, per interpreter ---

// A core written by gdb's gcore (by the kernel for the container's interpreters), opened with `lldb -c
// CORE EXECUTABLE`, gives the same stacks. (Suite name ends in CoreFile: CTest runs core-writing tests
// one at a time.) The live process under LLDB is checked with gdb's, in bt_all_test.cpp.
class LldbCoreFile : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    const fs::path plugin = lldb_plugin_path();
    ASSERT_TRUE(fs::exists(plugin)) << "LLDB plugin not found: " << plugin
                                    << " (build the whole project, or point PYXRAY_LLDB_PLUGIN at it)";
    try {
      workload_ = Workload::start(GetParam());
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  const GroundTruth& truth() const { return workload_->truth(); }

  // The JSON of `py-bt-all --json`, checked against the ground truth.
  // `tasks`: the workload's threads, when it is no longer there to ask (a kernel-written core).
  void expect_json_matches(const CommandResult& r, const std::string& what,
                           std::optional<std::vector<pid_t>> tasks = std::nullopt) {
    std::string error;
    auto got = find_json_line(r.out, &error);
    ASSERT_TRUE(got) << error << "\n" << r.describe();
    const auto diffs = compare_bt_all_json(truth(), *got, tasks ? *tasks : task_ids(workload_->pid()));
    EXPECT_TRUE(diffs.empty()) << what << " differs from the ground truth of " << GetParam().path.string() << " ("
                               << diffs.size() << " differences):\n"
                               << join_diffs(diffs);
  }

  std::unique_ptr<Workload> workload_;
};

TEST_P(LldbCoreFile, JsonMatchesGroundTruth) {
  TempDir core_dir;  // its own directory: the core goes as soon as the test ends
  const fs::path core = core_dir.path() / "workload.core";
  const auto tasks = task_ids(workload_->pid());
  if (GetParam().root.empty()) {
    auto g = run_command({"gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off", "-p",
                          std::to_string(workload_->pid()), "-ex", "gcore " + core.string()},
                         core_dir.path(), 180s);
    ASSERT_FALSE(g.timed_out) << g.describe();
    ASSERT_TRUE(fs::exists(core) && fs::file_size(core) > 0) << "gcore wrote no core\n" << g.describe();
    expect_left_running(workload_->pid());
  } else {
    // gcore loses glibc 2.43's thread stacks (see write_kernel_core): the kernel writes this one.
    try {
      write_kernel_core(*workload_, GetParam().root, core);
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }

  auto r = run_lldb({"-c", core.string(), GetParam().path.string()}, {"py-bt-all --json", "py-bt"}, core_dir.path());
  const auto problems = lldb_run_problems(r, true);
  EXPECT_TRUE(problems.empty()) << join(problems) << r.describe();
  expect_json_matches(r, "py-bt-all --json on a core under lldb", tasks);
  // The core's selected thread is the main thread (the first one gcore wrote).
  const ThreadTruth* main = truth().by_name("MainThread");
  ASSERT_TRUE(main);
  const auto diffs = compare_bt_text_one(truth(), *main, lldb_command_output(r.out, "py-bt"));
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n" << r.describe();
}

// The container's interpreters too: LLDB 16 loads no module for a process in another mount namespace
// (it looks for /usr/bin/python3.14 on the host), and pyxray reads the process's files itself.
INSTANTIATE_TEST_SUITE_P(Interpreters, LldbCoreFile, testing::ValuesIn(all_interpreters()), param_name);

// --- a process that is not Python ---

TEST(LldbNonPython, PyBtAllSaysNotCPython) {
  const fs::path plugin = lldb_plugin_path();
  ASSERT_TRUE(fs::exists(plugin)) << "LLDB plugin not found: " << plugin;
  TempDir dir;
  Process sleeper({"sleep", "60"}, dir.path() / "sleep.out", dir.path() / "sleep.err");
  const auto deadline = Clock::now() + 10s;
  std::error_code ec;
  while (fs::read_symlink("/proc/" + std::to_string(sleeper.pid()) + "/exe", ec).filename() != "sleep") {
    ASSERT_TRUE(sleeper.running()) << "sleep exited";
    ASSERT_LT(Clock::now(), deadline) << "sleep did not start";
    std::this_thread::sleep_for(10ms);
  }
  auto r = run_lldb_attached(sleeper.pid(), {"py-bt-all"}, dir.path());
  // Batch mode reports the failed command with exit status 1; it must still end by itself.
  const auto problems = lldb_run_problems(r, false);
  EXPECT_TRUE(problems.empty()) << join(problems) << r.describe();
  const auto lines = pyxray_error_lines(r);
  ASSERT_EQ(lines.size(), 1u) << "expected exactly one \"error: pyxray:\" line\n" << r.describe();
  EXPECT_TRUE(std::regex_search(lines[0], std::regex("not .*CPython", std::regex::icase)))
      << "the message should say the process is not running CPython: " << lines[0];
  EXPECT_TRUE(sleeper.running()) << "sleep died while lldb was attached";
  expect_left_running(sleeper.pid());
}

// Without a process the commands say so, in one line, instead of failing obscurely.
TEST(LldbNoProcess, PyBtAllSaysNoProcess) {
  const fs::path plugin = lldb_plugin_path();
  ASSERT_TRUE(fs::exists(plugin)) << "LLDB plugin not found: " << plugin;
  TempDir dir;
  auto r = run_lldb({}, {"py-bt-all"}, dir.path(), 60s);
  EXPECT_TRUE(lldb_run_problems(r, false).empty()) << join(lldb_run_problems(r, false)) << r.describe();
  const auto lines = pyxray_error_lines(r);
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  EXPECT_NE(lines[0].find("no process"), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace pyxray::it
