// Fault tests on real processes (issue 8): what pyxray does when the target changes under it or
// goes away. Each must end with a clear message or a sound partial answer, the debugger still
// usable, and the target (when it survives) still running unchanged.
//
// - Churn.*: tests/workloads/churn.py starts and ends threads at a high rate and, on 3.11+, maps
//   and unmaps data-stack chunks all the time. py-bt-all between resumes sees thread states at
//   every stage of their life; py-sample reads them while they change.
// - KilledDuringHeapSummary: the target is killed (SIGKILL, which a debugger cannot hold off)
//   while py-heap-summary walks its heap.
#include "harness.hpp"
#include "interpreters.hpp"
#include "workload.hpp"

#include <csignal>
#include <iostream>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

class Churn : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    ready_ = dir_.path() / "ready";
    const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/churn.py";
    proc_ = std::make_unique<Process>(std::vector<std::string>{GetParam().path.string(), "-E", "-s", script.string(),
                                                               ready_.string(), "240"},
                                      dir_.path() / "out", dir_.path() / "err");
    const auto deadline = Clock::now() + 30s;
    while (!fs::exists(ready_)) {
      ASSERT_TRUE(proc_->running()) << "workload died\n" << read_text(dir_.path() / "err");
      ASSERT_LT(Clock::now(), deadline) << "the workload did not start churning within 30 s";
      std::this_thread::sleep_for(20ms);
    }
  }
  TempDir dir_;
  fs::path ready_;
  std::unique_ptr<Process> proc_;
};

// Five rounds in one gdb session of py-bt-all (text and JSON) and a short non-blocking py-sample,
// which lets the process run (and churn) in between.
TEST_P(Churn, BtAllAndSampleWhileThreadsComeAndGo) {
  std::vector<std::string> commands{"cd " + dir_.path().string()};
  for (int i = 0; i < 5; ++i) {
    commands.push_back("py-bt-all --json");
    commands.push_back("py-bt-all");
    commands.push_back("py-sample 0.4s --rate 2000 -o churn" + std::to_string(i) + ".folded");
  }
  auto r = run_gdb(proc_->pid(), commands, dir_.path(), 180s);
  for (const auto& p : gdb_run_problems(r, /*require_success=*/true)) ADD_FAILURE() << p << "\n" << r.describe();
  // Every py-bt-all --json is one valid JSON line with the main thread and the yo-yo thread.
  int reports = 0;
  for (const auto& line : split_lines(r.out)) {
    if (line.rfind("{\"pid\"", 0) != 0) continue;
    ++reports;
    json j;
    try {
      j = json::parse(line);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << e.what() << "\n" << line.substr(0, 300);
      continue;
    }
    bool yo_yo = false;
    // A thread caught while starting has no name yet: "name" is null then.
    for (const auto& t : j.at("threads")) yo_yo |= t.contains("name") && t["name"] == "yo-yo";
    EXPECT_TRUE(yo_yo) << "no yo-yo thread in " << line.substr(0, 300);
    EXPECT_GE(j.at("threads").size(), 2u);
  }
  EXPECT_EQ(reports, 5) << r.describe();
  // Every py-sample ran its course: a summary, and errors (stacks that changed while read) counted
  // rather than recorded as wrong stacks.
  int summaries = 0;
  static const std::regex summary(R"(^py-sample: (\d+) samples in [\d.]+ s .*: (\d+) recorded, (\d+) errors)");
  for (const auto& line : split_lines(r.out)) {
    std::smatch m;
    if (!std::regex_search(line, m, summary)) continue;
    ++summaries;
    EXPECT_GT(std::stol(m[2].str()), 0) << line;
  }
  EXPECT_EQ(summaries, 5) << r.describe();
  for (const auto& line : pyxray_lines(r))
    EXPECT_EQ(line.find("internal error"), std::string::npos) << line;
  // Still churning afterwards, nothing left stopped.
  ASSERT_TRUE(proc_->running());
  std::this_thread::sleep_for(300ms);
  for (pid_t tid : task_ids(proc_->pid())) {
    char state = proc_state(proc_->pid(), tid);
    EXPECT_TRUE(state != 't' && state != 'T') << "thread " << tid << " left stopped";
  }
}

INSTANTIATE_TEST_SUITE_P(Interpreters, Churn, testing::ValuesIn(all_interpreters()), param_name);

// SIGKILL while py-heap-summary runs: gdb prints a clear line (or a summary it finished first),
// does not crash or hang, and the next command says there is no process.
TEST(Fault, KilledDuringHeapSummary) {
  std::optional<Interpreter> interp;
  for (const auto& i : pyenv_interpreters())
    if (i.major == 3 && i.minor == 11) interp = i;
  ASSERT_TRUE(interp) << "no pyenv 3.11";
  TempDir dir;
  const fs::path ready = dir.path() / "ready";
  const std::string code =
      "import os, time\n"
      "x = [{'a': i, 'b': str(i), 'c': (i, i)} for i in range(2000000)]\n"
      "open('" + ready.string() + ".tmp', 'w').close(); os.rename('" + ready.string() + ".tmp', '" + ready.string() + "')\n"
      "time.sleep(240)\n";
  Process target({interp->path.string(), "-E", "-s", "-c", code}, dir.path() / "t.out", dir.path() / "t.err");
  const auto deadline = Clock::now() + 120s;
  while (!fs::exists(ready)) {
    ASSERT_TRUE(target.running()) << read_text(dir.path() / "t.err");
    ASSERT_LT(Clock::now(), deadline);
    std::this_thread::sleep_for(50ms);
  }
  std::vector<std::string> argv = {"gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                                   "-p", std::to_string(target.pid()), "-x", gdb_plugin_path().string(),
                                   "-ex", "py-heap-summary --limit 3", "-ex", "py-bt-all", "-ex", "echo STILL-HERE\\n"};
  Process gdb(argv, dir.path() / "gdb.out", dir.path() / "gdb.err");
  // Attached (the target is stopped), then a moment into the walk: kill it.
  while (Clock::now() < deadline && proc_state(target.pid()) != 't') std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(300ms);
  ::kill(target.pid(), SIGKILL);
  ASSERT_TRUE(gdb.wait_for(60s)) << "gdb hangs after the target was killed";
  const std::string out = read_text(dir.path() / "gdb.out"), err = read_text(dir.path() / "gdb.err");
  EXPECT_NE(out.find("STILL-HERE"), std::string::npos) << out << err;
  for (const char* bad : {"Traceback", "internal error", "Segmentation", "terminate called"}) {
    EXPECT_EQ(out.find(bad), std::string::npos) << bad << "\n" << out;
    EXPECT_EQ(err.find(bad), std::string::npos) << bad << "\n" << err;
  }
  // Either the walk finished before the kill (a summary) or it says what happened in pyxray's words.
  const bool summary = out.find("Total ") != std::string::npos;
  const bool message = err.find("pyxray:") != std::string::npos;
  EXPECT_TRUE(summary || message) << out << err;
  std::cout << "  " << (summary ? "the walk finished first" : "pyxray said: " + err.substr(err.find("pyxray:"), 200)) << "\n";
}

}  // namespace
}  // namespace pyxray::it
