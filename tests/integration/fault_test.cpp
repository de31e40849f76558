// Fault tests on real processes (issue 8): what pyxray does when the target changes under it or
// goes away. Each must end with a clear message or a sound partial answer, the debugger still
// usable, and the target (when it survives) still running unchanged.
//
// - Churn.*: tests/workloads/churn.py starts and ends threads at a high rate and, on 3.11+, maps
//   and unmaps data-stack chunks all the time. py-bt-all between resumes sees thread states at
//   every stage of their life; py-sample reads them while they change.
// - KilledDuringHeapSummary: the target is killed (SIGKILL, which a debugger cannot hold off)
//   while py-heap-summary walks its heap: it must say the process is gone, with sound counts.
#include "harness.hpp"
#include "interpreters.hpp"
#include "workload.hpp"

#include <algorithm>
#include <csignal>
#include <iostream>
#include <map>
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
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{GetParam().path.string(), "-E", "-s", script.string(), ready_.string(), "240"},
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
  static const std::regex summary(
      R"(^py-sample: (\d+) thread samples? in \d+ rounds? over [\d.]+ s .*: (\d+) recorded, (\d+) errors)");
  for (const auto& line : split_lines(r.out)) {
    std::smatch m;
    if (!std::regex_search(line, m, summary)) continue;
    ++summaries;
    EXPECT_GT(std::stol(m[2].str()), 0) << line;
  }
  EXPECT_EQ(summaries, 5) << r.describe();
  for (const auto& line : pyxray_lines(r)) EXPECT_EQ(line.find("internal error"), std::string::npos) << line;
  // Still churning afterwards, nothing left stopped.
  ASSERT_TRUE(proc_->running());
  std::this_thread::sleep_for(300ms);
  for (pid_t tid : task_ids(proc_->pid())) {
    char state = proc_state(proc_->pid(), tid);
    EXPECT_TRUE(state != 't' && state != 'T') << "thread " << tid << " left stopped";
  }
}

INSTANTIATE_TEST_SUITE_P(Interpreters, Churn, testing::ValuesIn(all_interpreters()), param_name);

// Type -> count from py-heap-summary: its --json document, or the rows of its text table.
std::map<std::string, uint64_t> heap_counts_json(const json& j) {
  std::map<std::string, uint64_t> out;
  for (const auto& t : j.at("types")) out[t.at("type").get<std::string>()] = t.at("count").get<uint64_t>();
  return out;
}
std::map<std::string, uint64_t> heap_counts_text(const std::string& text) {
  static const std::regex row(R"(^\s*\d+\s+([\d,]+)\s+\d+\s+[\d,]+\s+\d+\s+\d+\s+[\d,]+\s+(\S+)$)");
  std::map<std::string, uint64_t> out;
  for (const auto& line : split_lines(text)) {
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    std::string count = m[1].str();
    count.erase(std::remove(count.begin(), count.end(), ','), count.end());
    out[m[2].str()] = std::stoull(count);
  }
  return out;
}

// SIGKILL while py-heap-summary walks a heap of 2 million dicts (about a second's walk). One gdb
// session: py-bt opens the process, a full py-heap-summary --json gives the true counts (the
// process is stopped: the heap cannot change), then WALK-START is echoed and a second walk starts,
// and the test kills the target a moment later. That walk must say plainly that the process is gone
// (not "cannot read target memory"), and count no more of any type than the full walk did; if the
// kill came too late, a complete summary is fine. gdb must not crash or hang, and the next command
// says the process is gone (or that there is none).
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
      "open('" +
      ready.string() + ".tmp', 'w').close(); os.rename('" + ready.string() + ".tmp', '" + ready.string() +
      "')\n"
      "time.sleep(240)\n";
  Process target({interp->path.string(), "-E", "-s", "-c", code}, dir.path() / "t.out", dir.path() / "t.err");
  const auto deadline = Clock::now() + 120s;
  while (!fs::exists(ready)) {
    ASSERT_TRUE(target.running()) << read_text(dir.path() / "t.err");
    ASSERT_LT(Clock::now(), deadline);
    std::this_thread::sleep_for(50ms);
  }
  const std::string pid = std::to_string(target.pid());
  const auto argv = gdb_attach_argv(
      target.pid(), {"py-bt", "py-heap-summary --json", "echo WALK-START\\n", "py-heap-summary --limit 100000",
                     "echo WALK-END\\n", "py-bt-all", "echo STILL-HERE\\n"});
  Process gdb(argv, dir.path() / "gdb.out", dir.path() / "gdb.err");
  const fs::path gdb_out = dir.path() / "gdb.out";
  while (read_text(gdb_out).find("WALK-START") == std::string::npos) {
    ASSERT_TRUE(gdb.running()) << read_text(gdb_out) << read_text(dir.path() / "gdb.err");
    ASSERT_LT(Clock::now(), deadline) << "gdb did not get to the second walk";
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(250ms);
  ::kill(target.pid(), SIGKILL);
  ASSERT_TRUE(gdb.wait_for(60s)) << "gdb hangs after the target was killed";
  const std::string out = read_text(gdb_out), err = read_text(dir.path() / "gdb.err");
  EXPECT_NE(out.find("STILL-HERE"), std::string::npos) << out << err;
  for (const char* bad :
       {"Traceback", "Python Exception", "internal error", "Segmentation", "terminate called", "Fatal signal"}) {
    EXPECT_EQ(out.find(bad), std::string::npos) << bad << "\n" << out;
    EXPECT_EQ(err.find(bad), std::string::npos) << bad << "\n" << err;
  }
  std::string error;
  auto full = find_json_line(out, &error, "{");
  ASSERT_TRUE(full) << error << "\n" << out << err;
  ASSERT_FALSE(full->at("target_gone").get<bool>());
  const auto truth = heap_counts_json(*full);
  ASSERT_GT(truth.at("dict"), 2'000'000u);

  // The killed walk's output: between the markers on stdout, and its error line (if it failed) on
  // stderr, before py-bt-all's.
  const auto a = out.find("WALK-START\n"), b = out.find("WALK-END\n");
  ASSERT_TRUE(a != std::string::npos && b != std::string::npos && a < b) << out;
  const std::string walk = out.substr(a, b - a);
  std::vector<std::string> errors;
  for (const auto& line : split_lines(err))
    if (line.rfind("pyxray:", 0) == 0) errors.push_back(line);
  const std::string gone = "pyxray: process " + pid + " is gone (it exited or was killed)";
  const bool complete = walk.find("Total ") != std::string::npos && walk.find(gone) == std::string::npos;
  if (complete) {
    std::cout << "  the walk finished before the kill\n";
    EXPECT_EQ(heap_counts_text(walk), truth);
  } else if (walk.find(gone + " during the heap walk; the counts below are of the ") != std::string::npos) {
    // Killed mid-walk: counts of what was read before, never more than there was.
    const auto counts = heap_counts_text(walk);
    uint64_t total = 0;
    for (const auto& [type, n] : counts) {
      ASSERT_TRUE(truth.contains(type)) << type << " was not in the full walk\n" << walk;
      EXPECT_LE(n, truth.at(type)) << type;
      total += n;
    }
    static const std::regex said(R"(the counts below are of the ([\d,]+) objects read before that)");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(walk, m, said)) << walk;
    std::string n = m[1].str();
    n.erase(std::remove(n.begin(), n.end(), ','), n.end());
    EXPECT_EQ(std::stoull(n), total) << walk;
    std::cout << "  killed mid-walk: " << walk.substr(walk.find(gone), 160) << "\n";
  } else {
    // Killed before the walk read anything: one clear line, no counts.
    ASSERT_FALSE(errors.empty()) << out << err;
    EXPECT_EQ(errors[0], gone) << "the heap walk on a killed process must say plainly that it is gone\n" << err;
    std::cout << "  killed before the walk read anything: " << errors[0] << "\n";
  }
  EXPECT_EQ(walk.find("cannot read target memory"), std::string::npos) << walk;
  // py-bt-all afterwards: the process is gone (or gdb has noticed and there is no process).
  ASSERT_FALSE(errors.empty()) << "py-bt-all on a killed process printed no pyxray: line\n" << out << err;
  EXPECT_TRUE(errors.back().rfind(gone, 0) == 0 || errors.back().rfind("pyxray: no process", 0) == 0) << errors.back();
}

}  // namespace
}  // namespace pyxray::it
