// Ctrl-C and SIGTERM while a long command runs: the heap commands end soon with the part they have,
// marked as cut short, in gdb and LLDB; a SIGTERM lets gdb finish the command, leave the target
// running and untraced, and exit. The workload is a 10-million-object heap under
// PYTHONMALLOC=malloc, where one heap walk takes tens of seconds: a signal sent a moment after the
// command began is certain to arrive while it works. What is checked does not depend on the
// interpreter's version: it runs on the newest pyenv interpreter (the sampler's SIGTERM test, in
// sample_test.cpp, runs on every one).
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "lldb_harness.hpp"
#include "script_workload.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <regex>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;

constexpr int kTuples = 5'000'000;  // a tuple and an int each: 10 million objects
constexpr int kChain = 40;          // lists between the marker and a module global
constexpr auto kDebuggerEnd = 5s;   // ~0.3 s on a quiet machine, gdb's detach and exit included

Interpreter newest_pyenv() {
  auto all = pyenv_interpreters();
  if (all.empty()) throw std::runtime_error("no pyenv interpreter");
  return all.back();
}

struct Interrupted {
  std::string out;
  double seconds = 0;  // from the signal to the debugger's exit
  std::optional<int> status;
  bool ended = false;
};

// Runs a debugger whose command list prints "@@start" right before the command under test, sends
// `sig` once the marker is out and the command has had a moment to begin, and waits for the end.
Interrupted signal_during(const std::vector<std::string>& argv, const fs::path& dir, int sig) {
  Process debugger(argv, dir / "dbg.out", dir / "dbg.err");
  const auto deadline = Clock::now() + 120s;
  while (Clock::now() < deadline && debugger.running() &&
         read_text(dir / "dbg.out").find("@@start") == std::string::npos)
    std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(300ms);
  Interrupted r;
  if (!debugger.running()) {
    r.out = read_text(dir / "dbg.out") + read_text(dir / "dbg.err");
    return r;
  }
  const auto signalled = Clock::now();
  ::kill(debugger.pid(), sig);
  r.ended = debugger.wait_for(60s);
  r.seconds = std::chrono::duration<double>(Clock::now() - signalled).count();
  if (!r.ended) debugger.kill_group();
  r.status = debugger.status();
  r.out = read_text(dir / "dbg.out") + "\n--- stderr ---\n" + read_text(dir / "dbg.err");
  return r;
}

std::vector<std::string> gdb_argv(pid_t pid, const std::string& command) {
  return gdb_attach_argv(pid, {"echo @@start\\n", command});
}

std::vector<std::string> lldb_argv(pid_t pid, const std::string& command) {
  return lldb_attach_argv(pid, {"script print('@@start', flush=True)", command});
}

// The count in the first match of `pattern`'s group 1, without thousands separators; -1 when absent.
long long number_after(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern))) return -1;
  std::string digits;
  for (char c : m[1].str())
    if (c != ',') digits += c;
  return std::stoll(digits);
}

class Interrupts : public ::testing::Test {
 protected:
  void SetUp() override {
    workload_ = ScriptWorkload::start(newest_pyenv().path, {{"PYTHONMALLOC", "malloc"}}, "big_heap.py",
                                      {std::to_string(kTuples), std::to_string(kChain)});
  }

  pid_t pid() const { return workload_->pid(); }
  std::string big_list() const { return std::to_string(workload_->truth().at("big_list").get<uint64_t>()); }
  std::string marker() const { return std::to_string(workload_->truth().at("marker").get<uint64_t>()); }

  // After the debugger has gone: the process lives, runs and is nobody's tracee.
  void ExpectRunningUntraced() {
    ASSERT_TRUE(workload_->alive()) << "the workload died";
    const auto problems = left_running_problems(pid());
    EXPECT_TRUE(problems.empty()) << join_diffs(problems);
  }

  // Each heap command, interrupted by Ctrl-C a moment after it began, ends soon with its partial
  // answer marked as such.
  void CtrlCEndsEachHeapCommand(const std::function<std::vector<std::string>(const std::string&)>& argv) {
    struct Case {
      std::string command;
      std::string partial;  // what says that the answer is partial
    };
    const std::vector<Case> cases{
        {"py-heap-summary --limit 5", "pyxray: interrupted \\(Ctrl-C\\) after [0-9.]+ s; the counts below are of the"},
        {"py-biggest 3", "warning: interrupted \\(Ctrl-C\\) after [0-9,]+ objects: the walk is partial"},
        {"py-sizeof " + big_list() + " --deep", "warning: the deep size is partial: interrupted \\(Ctrl-C\\)"},
        {"py-referrers " + marker() + " --depth 100", "found before the search was interrupted \\(Ctrl-C\\)"},
    };
    for (const auto& c : cases) {
      SCOPED_TRACE(c.command);
      TempDir dir;
      Interrupted r = signal_during(argv(c.command), dir.path(), SIGINT);
      ASSERT_TRUE(r.ended) << "the debugger did not end after Ctrl-C\n" << truncate_middle(r.out);
      EXPECT_LT(r.seconds, std::chrono::duration<double>(kDebuggerEnd).count()) << truncate_middle(r.out);
      EXPECT_TRUE(std::regex_search(r.out, std::regex(c.partial))) << truncate_middle(r.out);
      if (c.command.starts_with("py-heap-summary")) {
        EXPECT_LT(number_after(r.out, "Total ([0-9,]+) objects"), 2LL * kTuples) << truncate_middle(r.out);
      }
      if (c.command.starts_with("py-sizeof")) {
        EXPECT_LT(number_after(r.out, "deep: [0-9,]+ bytes in ([0-9,]+) object"), kTuples) << truncate_middle(r.out);
      }
      EXPECT_EQ(r.out.find("internal"), std::string::npos) << truncate_middle(r.out);
      ExpectRunningUntraced();
    }
  }

  std::unique_ptr<ScriptWorkload> workload_;
};

TEST_F(Interrupts, CtrlCEndsHeapCommandsWithPartialAnswersInGdb) {
  CtrlCEndsEachHeapCommand([&](const std::string& command) { return gdb_argv(pid(), command); });
}

TEST_F(Interrupts, CtrlCEndsHeapCommandsWithPartialAnswersInLldb) {
  CtrlCEndsEachHeapCommand([&](const std::string& command) { return lldb_argv(pid(), command); });
}

// SIGTERM to gdb during a long deep size: the command ends with its partial answer, then gdb ends
// as SIGTERM asks, without an internal error, leaving the target running and untraced.
TEST_F(Interrupts, SigtermDuringDeepSizeLetsGdbExit) {
  TempDir dir;
  Interrupted r = signal_during(gdb_argv(pid(), "py-sizeof " + big_list() + " --deep"), dir.path(), SIGTERM);
  ASSERT_TRUE(r.ended) << "gdb did not exit after SIGTERM\n" << truncate_middle(r.out);
  EXPECT_LT(r.seconds, std::chrono::duration<double>(kDebuggerEnd).count()) << truncate_middle(r.out);
  ASSERT_TRUE(r.status && WIFEXITED(*r.status)) << "gdb died of a signal\n" << truncate_middle(r.out);
  EXPECT_EQ(WEXITSTATUS(*r.status), 0) << truncate_middle(r.out);
  EXPECT_NE(r.out.find("the deep size is partial: cut short by SIGTERM"), std::string::npos) << truncate_middle(r.out);
  EXPECT_EQ(r.out.find("internal problem"), std::string::npos) << truncate_middle(r.out);
  EXPECT_EQ(r.out.find("Quit"), std::string::npos) << truncate_middle(r.out);
  ExpectRunningUntraced();
}

}  // namespace
}  // namespace pyxray::it
