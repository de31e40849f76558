// End-to-end tests of `py-bt-all` / `py-bt`: a real Python process per interpreter (the workload
// reports its own stacks as ground truth), the real gdb and the real LLDB attached with the pyxray
// plugin, and the plugin's output compared with what the process said about itself.
#include "compare.hpp"
#include "front_end.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// --- the environment: a missing interpreter must fail, never shrink the matrix silently ---

TEST(Environment, PyenvInterpretersFound) {
  const auto found = pyenv_interpreters();
  EXPECT_FALSE(found.empty()) << "no $PYENV_ROOT/versions/*/bin/pythonX.Y found (PYENV_ROOT="
                              << (std::getenv("PYENV_ROOT") ? std::getenv("PYENV_ROOT") : "unset, using /root/.pyenv")
                              << ")";
  for (const auto& i : found) std::cout << "  interpreter " << i.name << ": " << i.path.string() << "\n";
}

TEST(Environment, DebianPythonHasDebugSymbols) {
  ASSERT_TRUE(fs::exists(kDebianPython)) << kDebianPython << " is missing (apt-get install python3.11)";
  auto id = gnu_build_id(kDebianPython);
  ASSERT_TRUE(id) << kDebianPython << " has no GNU build id";
  auto debug = build_id_debug_file(kDebianPython);
  ASSERT_TRUE(debug) << "no /usr/lib/debug/.build-id file for build id " << *id << " (apt-get install python3.11-dbg)";
  // And gdb really finds the interpreter's types through it.
  TempDir dir;
  auto r = run_command(
      {"gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off", "-ex", "ptype struct _ts", kDebianPython.string()},
      dir.path(), 60s);
  EXPECT_NE(r.out.find("type = struct _ts {"), std::string::npos)
      << "gdb does not see PyThreadState's layout in " << kDebianPython << " via " << *debug << "\n"
      << r.describe();
}

// sid's 3.14 and 3.15 run in a container made from the root scripts/install-sid-root makes; their
// debug symbols (python3.X-dbg) are inside it, where gdb finds them through the target's files.
TEST(Environment, SidInterpretersRunInTheirRoot) {
  ASSERT_TRUE(fs::is_regular_file(sid_root() / ".pyxray-root"))
      << sid_root() << " is not a finished sid root: run scripts/install-sid-root (scripts/test does)";
  for (const auto& interp : sid_interpreters()) {
    SCOPED_TRACE(interp.name);
    ASSERT_TRUE(fs::exists(interp.path)) << interp.path << " is missing";
    auto id = gnu_build_id(interp.path);
    ASSERT_TRUE(id && id->size() > 2) << interp.path << " has no GNU build id";
    EXPECT_TRUE(fs::exists(sid_root() / "usr/lib/debug/.build-id" / id->substr(0, 2) / (id->substr(2) + ".debug")))
        << "no debug file for " << interp.path << " (python3." << interp.minor << "-dbg) in " << sid_root();
    TempDir dir;
    auto r = run_command({interp.path.string(), "-c", "import os, sys; print(sys.version_info[:2], os.listdir('/'))"},
                         dir.path(), 60s);
    const std::string version = "(3, " + std::to_string(interp.minor) + ")";
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out.rfind(version, 0), 0u) << r.describe();
    EXPECT_NE(r.out.find("'.pyxray-root'"), std::string::npos) << "not inside " << sid_root() << "\n" << r.describe();
  }
}

// --- per-interpreter fixtures ---

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

// Starts the workload for the interpreter; the Workload's destructor kills its process group,
// whatever happened in the test.
class WorkloadTruth : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    try {
      workload_ = Workload::start(GetParam());
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  const GroundTruth& truth() const { return workload_->truth(); }

  std::unique_ptr<Workload> workload_;
};

// The workload itself is what the plugin is judged against: check that it produced the stacks it
// promises on this interpreter (this runs without the plugin).
TEST_P(WorkloadTruth, ReportsTheIntendedStacks) {
  const auto& t = truth();
  EXPECT_EQ(t.major, GetParam().major);
  EXPECT_EQ(t.minor, GetParam().minor);

  std::vector<std::string> names{"MainThread",     "worker-0",          "worker-1",         "worker-2",
                                 "gen-thread",     "sorted-key-thread", "map-thread",       "reduce-thread",
                                 "closure-thread", "method-thread",     "recursion-thread", "spinner"};
  if (t.major >= 3) names.push_back("coro-thread");
  EXPECT_EQ(t.threads.size(), names.size());
  for (const auto& name : names) EXPECT_TRUE(t.by_name(name)) << "no thread named " << name;

  auto has_function = [&](const char* thread, const char* function) {
    const auto* th = t.by_name(thread);
    if (!th) return false;
    return std::any_of(th->frames.begin(), th->frames.end(), [&](const Frame& f) { return f.function == function; });
  };
  EXPECT_TRUE(has_function("gen-thread", "gen_body"));
  EXPECT_TRUE(has_function("sorted-key-thread", "<lambda>"));
  EXPECT_TRUE(has_function("map-thread", "map_callback"));
  EXPECT_TRUE(has_function("reduce-thread", "<lambda>"));
  EXPECT_TRUE(has_function("closure-thread", "closure_body"));
  EXPECT_TRUE(has_function("method-thread", "nested_method"));
  if (t.major >= 3) {
    EXPECT_TRUE(has_function("coro-thread", "coro_outer"));
  }
  if (const auto* rec = t.by_name("recursion-thread")) {
    EXPECT_GT(rec->frames.size(), 1200u);
  }
  if (const auto* spin = t.by_name("spinner")) {
    EXPECT_TRUE(spin->spinner);
    ASSERT_FALSE(spin->frames.empty());
    EXPECT_EQ(spin->frames[0].function, "spin");
  }
  for (const auto& th : t.threads) {
    EXPECT_EQ(th.native_id.has_value(), t.has_native_id()) << th.name;
    for (const auto& f : th.frames) ASSERT_EQ(f.qualname.has_value(), t.has_qualname()) << th.name << " " << f.function;
  }
  if (t.has_qualname()) {
    const auto* m = t.by_name("method-thread");
    ASSERT_TRUE(m);
    EXPECT_TRUE(std::any_of(m->frames.begin(), m->frames.end(),
                            [](const Frame& f) { return f.qualname == std::string("Waiter.Nested.nested_method"); }));
  }
}

// Everything that runs a debugger against the workload, once with gdb and once with LLDB: the same
// checks judge both front ends.
struct BtAllCase {
  Interpreter interp;
  FrontEnd front;
};

// For gtest's listing of a test's parameter (else it prints the struct's bytes).
void PrintTo(const BtAllCase& c, std::ostream* os) {
  *os << c.interp.name << " (" << c.interp.path.string() << ") under " << front_end_name(c.front);
}

std::vector<BtAllCase> bt_all_cases() {
  std::vector<BtAllCase> out;
  for (const auto& interp : all_interpreters())
    for (FrontEnd front : kFrontEnds) out.push_back({interp, front});
  return out;
}

std::string case_name(const testing::TestParamInfo<BtAllCase>& info) {
  return info.param.interp.name + "_" + front_end_name(info.param.front);
}

class BtAll : public testing::TestWithParam<BtAllCase> {
 protected:
  void SetUp() override {
    const fs::path plugin = front_end_plugin(front());
    ASSERT_TRUE(fs::exists(plugin))
        << front_end_name(front()) << " plugin not found: " << plugin
        << " (build the whole project, or point PYXRAY_GDB_PLUGIN/PYXRAY_LLDB_PLUGIN at it)";
    try {
      workload_ = Workload::start(GetParam().interp);
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  FrontEnd front() const { return GetParam().front; }
  const GroundTruth& truth() const { return workload_->truth(); }

  // Runs the debugger with the plugin; checks it ended by itself, successfully, without a Python
  // error, and left the target running. Returns each command's output.
  std::vector<std::string> run(const std::vector<std::string>& commands, std::string* described = nullptr) {
    FrontEndRun r = run_front_end(front(), workload_->pid(), commands, workload_->dir());
    for (const auto& p : r.problems) ADD_FAILURE() << p << "\n" << r.raw.describe();
    if (described) *described = r.raw.describe();
    ExpectLeftRunning();
    return r.outputs;
  }

  // After the debugger detaches the target must be alive and no thread in a tracing or job-control stop.
  void ExpectLeftRunning() {
    ASSERT_TRUE(workload_->alive()) << "the workload died while " << front_end_name(front()) << " was attached";
    const auto problems = left_running_problems(workload_->pid());
    EXPECT_TRUE(problems.empty()) << join_diffs(problems);
  }

  std::unique_ptr<Workload> workload_;
};

// 2–3. `py-bt-all --json` equals the ground truth, thread by thread and frame by frame.
TEST_P(BtAll, JsonMatchesGroundTruth) {
  std::string raw;
  auto out = run({"py-bt-all --json"}, &raw);
  std::string error;
  auto got = find_json_line(out[0], &error);
  ASSERT_TRUE(got) << error << "\n" << raw;
  const auto diffs = compare_bt_all_json(truth(), *got, task_ids(workload_->pid()));
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --json differs from the ground truth of " << GetParam().interp.path.string()
                             << " (" << diffs.size() << " differences):\n"
                             << join_diffs(diffs);
}

// 4. Text `py-bt-all`: each thread's header (native id, name) then its File lines, innermost first.
TEST_P(BtAll, TextListsEveryThread) {
  std::string raw;
  auto out = run({"py-bt-all"}, &raw);
  const auto diffs = compare_bt_all_text(truth(), out[0]);
  EXPECT_TRUE(diffs.empty()) << "py-bt-all text differs from the ground truth (" << diffs.size() << " differences):\n"
                             << join_diffs(diffs) << "\n"
                             << raw;
}

// 5. `py-bt` prints only the thread the debugger has selected: right after attaching, the main thread.
TEST_P(BtAll, PyBtPrintsSelectedMainThread) {
  const ThreadTruth* main = truth().by_name("MainThread");
  ASSERT_TRUE(main);
  std::string raw;
  auto out = run({"py-bt"}, &raw);
  const auto diffs = compare_bt_text_one(truth(), *main, out[0]);
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n" << raw;
}

// 5b. ... and after switching threads in the debugger, that thread (so it is not always the main
// thread). The thread is selected by its kernel id: the workload's own report (3.8+), else what
// py-bt-all --json says (checked against the ground truth by JsonMatchesGroundTruth).
TEST_P(BtAll, PyBtFollowsThreadSwitch) {
  const ThreadTruth* worker = truth().by_name("worker-1");
  ASSERT_TRUE(worker);
  std::optional<int64_t> tid = worker->native_id;
  if (!tid) {
    std::string raw;
    auto first = run({"py-bt-all --json"}, &raw);
    std::string error;
    auto got = find_json_line(first[0], &error);
    ASSERT_TRUE(got) << error << "\n" << raw;
    for (const auto& t : got->at("threads"))
      if (t.value("thread_id", uint64_t{0}) == worker->thread_id && t.contains("native_id") &&
          t["native_id"].is_number_integer())
        tid = t["native_id"].get<int64_t>();
    ASSERT_TRUE(tid) << "py-bt-all --json gives worker-1 no native_id\n" << raw;
  }
  ThreadSelect select = select_thread(front(), worker->thread_id, *tid);
  std::vector<std::string> commands = select.commands;
  commands.push_back("py-bt");
  std::string raw;
  auto out = run(commands, &raw);
  ASSERT_NE(out[out.size() - 2].find(select.switched), std::string::npos)
      << front_end_name(front()) << " did not switch to worker-1 (" << select.switched << ")\n"
      << raw;
  const auto diffs = compare_bt_text_one(truth(), *worker, out.back());
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs) << "\n" << raw;
}

// 7. After the debugger detaches, the process keeps running: not stopped, and the spinner still burns CPU.
TEST_P(BtAll, DetachLeavesTargetRunning) {
  run({"py-bt-all --json"});
  if (HasFatalFailure()) return;
  const pid_t pid = workload_->pid();
  EXPECT_NE(proc_state(pid), 't');
  EXPECT_NE(proc_state(pid), 'T');
  const auto before = cpu_ticks(pid);
  ASSERT_TRUE(before);
  const auto deadline = Clock::now() + 5s;
  auto now = before;
  while (now && *now == *before && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    now = cpu_ticks(pid);
  }
  ASSERT_TRUE(now) << "the workload is gone";
  EXPECT_GT(*now, *before)
      << "the workload used no CPU for 5 s after the debugger detached: the spinner is not running";
}

// 7. Limits: a stack cut at `--max frames=N` and a thread list cut at `py-limits threads=N` are
// sound partial answers that name the limit to raise; after `py-limits --reset` the whole answer is
// back.
TEST_P(BtAll, LimitsCutNameTheLimitAndReset) {
  const std::vector<std::string> commands{"py-bt-all --json --max frames=100",
                                          "py-limits threads=3",
                                          "py-bt-all --json",
                                          "py-limits --reset",
                                          "py-bt-all --json",
                                          "py-bt-all --json --max line-table=1"};
  std::string raw;
  auto parts = run(commands, &raw);
  std::string error;
  auto cut_frames = find_json_line(parts[0], &error);
  ASSERT_TRUE(cut_frames) << error << "\n" << raw;
  auto diffs = check_partial_bt_all_json(truth(), *cut_frames);
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs);
  const ThreadTruth* rec = truth().by_name("recursion-thread");
  ASSERT_TRUE(rec);
  bool seen = false;
  for (const auto& t : (*cut_frames)["threads"]) {
    if (t["thread_id"] != rec->thread_id) continue;
    seen = true;
    EXPECT_EQ(t["frames"].size(), 100u);
    EXPECT_NE(t.value("warning", json()).dump().find("--max frames=N"), std::string::npos) << t.dump();
  }
  EXPECT_TRUE(seen) << cut_frames->dump();

  EXPECT_NE(parts[1].find("threads: 100,000 -> 3 for this session"), std::string::npos) << parts[1];
  auto cut_threads = find_json_line(parts[2], &error);
  ASSERT_TRUE(cut_threads) << error << "\n" << raw;
  EXPECT_EQ((*cut_threads)["threads"].size(), 3u) << cut_threads->dump();
  EXPECT_NE((*cut_threads)["warnings"].dump().find("--max threads=N"), std::string::npos) << cut_threads->dump();
  diffs = check_partial_bt_all_json(truth(), *cut_threads);
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs);

  auto whole = find_json_line(parts[4], &error);
  ASSERT_TRUE(whole) << error << "\n" << raw;
  diffs = compare_bt_all_json(truth(), *whole, task_ids(workload_->pid()));
  EXPECT_TRUE(diffs.empty()) << join_diffs(diffs);

  // Line tables longer than the limit: no line rather than a wrong one from a partial table, the same
  // frames, and the stack says which limit (every function of the workload has a longer one).
  auto no_lines = find_json_line(parts[5], &error);
  ASSERT_TRUE(no_lines) << error << "\n" << raw;
  ASSERT_EQ((*no_lines)["threads"].size(), (*whole)["threads"].size());
  for (std::size_t i = 0; i < (*whole)["threads"].size(); ++i) {
    const json& t = (*no_lines)["threads"][i];
    const json& full = (*whole)["threads"][i];
    ASSERT_EQ(t["frames"].size(), full["frames"].size()) << t.dump();
    for (std::size_t f = 0; f < t["frames"].size(); ++f) {
      EXPECT_EQ(t["frames"][f]["function"], full["frames"][f]["function"]);
      if (!full["frames"][f]["line"].is_null() && t["frames"][f]["line"] != full["frames"][f]["line"]) {
        EXPECT_TRUE(t["frames"][f]["line"].is_null()) << "a line from a cut table: " << t["frames"][f].dump();
      }
    }
    if (!t["frames"].empty()) {
      EXPECT_NE(t.value("warning", json()).dump().find("line-table"), std::string::npos) << t.dump();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Interpreters, WorkloadTruth, testing::ValuesIn(all_interpreters()), param_name);
INSTANTIATE_TEST_SUITE_P(Interpreters, BtAll, testing::ValuesIn(bt_all_cases()), case_name);

// gdb told a sysroot where nothing is (`set sysroot /nonexistent` before attaching) has no module for
// the container's executable, as LLDB 16 has none for any process in another mount namespace: pyxray
// reads the executable's symbols through /proc/PID/root itself, says so once, and the stacks are the
// same.
class BtAllWithoutExecutable : public WorkloadTruth {};

TEST_P(BtAllWithoutExecutable, JsonMatchesGroundTruth) {
  auto r = run_gdb(workload_->pid(), {"info sharedlibrary", "py-bt-all --json", "py-bt-all"}, workload_->dir(), 60s,
                   {"set sysroot /nonexistent"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();
  const auto diffs = compare_bt_all_json(truth(), *got, task_ids(workload_->pid()));
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --json without the executable in gdb differs from the ground truth ("
                             << diffs.size() << " differences):\n"
                             << join_diffs(diffs);
  const std::string note = "pyxray: note: the debugger has no module for /usr/bin/python3." +
                           std::to_string(GetParam().minor) +
                           " (the process runs in another mount namespace); "
                           "pyxray reads it through /proc/" +
                           std::to_string(workload_->pid()) + "/root";
  const auto at = r.err.find(note);
  EXPECT_NE(at, std::string::npos) << "no note naming the executable\n" << r.describe();
  if (at != std::string::npos) {
    EXPECT_EQ(r.err.find(note, at + 1), std::string::npos) << "the note twice\n" << r.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Interpreters, BtAllWithoutExecutable, testing::ValuesIn(sid_interpreters()), param_name);

// --- 6. a process that is not Python ---

// `sleep 60`, once it has exec'd (before that it is a copy of this test binary).
std::unique_ptr<Process> start_sleeper(const fs::path& dir) {
  auto sleeper =
      std::make_unique<Process>(std::vector<std::string>{"sleep", "60"}, dir / "sleep.out", dir / "sleep.err");
  const auto deadline = Clock::now() + 10s;
  std::error_code ec;
  while (fs::read_symlink("/proc/" + std::to_string(sleeper->pid()) + "/exe", ec).filename() != "sleep") {
    if (!sleeper->running()) throw std::runtime_error("sleep exited");
    if (Clock::now() > deadline) throw std::runtime_error("sleep did not start");
    std::this_thread::sleep_for(10ms);
  }
  return sleeper;
}

std::vector<std::string> pyxray_lines_of(const CommandResult& r) {
  std::vector<std::string> lines;
  for (const auto* stream : {&r.out, &r.err})
    for (const auto& line : split_lines(*stream))
      if (line.rfind("pyxray:", 0) == 0) lines.push_back(line);
  return lines;
}

// 'py-layout --python 3.12' on a process that is not Python is refused, and a refused override
// changes nothing: later messages do not say the version is forced.
TEST(NonPython, RefusedPythonOverrideChangesNothing) {
  TempDir dir;
  auto sleeper = start_sleeper(dir.path());
  auto r = run_gdb(sleeper->pid(), {"py-layout --python 3.12", "py-bt-all", "py-layout"}, dir.path());
  EXPECT_FALSE(r.timed_out) << r.describe();
  auto lines = pyxray_lines_of(r);
  ASSERT_EQ(lines.size(), 3u) << r.describe();
  EXPECT_EQ(lines[0].rfind("pyxray: --python 3.12 not applied: ", 0), 0u) << lines[0];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].find("forced"), std::string::npos) << lines[i];
    EXPECT_TRUE(std::regex_search(lines[i], std::regex("not .*CPython", std::regex::icase))) << lines[i];
  }
}

TEST(NonPython, PyBtAllSaysNotCPython) {
  const fs::path plugin = gdb_plugin_path();
  ASSERT_TRUE(fs::exists(plugin)) << "gdb plugin not found: " << plugin;
  TempDir dir;
  auto sleeper_owner = start_sleeper(dir.path());
  Process& sleeper = *sleeper_owner;

  auto r = run_gdb(sleeper.pid(), {"py-bt-all"}, dir.path());
  EXPECT_FALSE(r.timed_out) << r.describe();
  // "Exits normally": gdb ends by itself rather than crashing or hanging. The status may be 1,
  // since batch mode reports that the last command failed, which is fair for a non-Python target.
  EXPECT_GE(r.exit_code, 0) << "gdb should exit normally, not by a signal\n" << r.describe();
  std::vector<std::string> pyxray_lines;
  for (const auto* stream : {&r.out, &r.err})
    for (const auto& line : split_lines(*stream))
      if (line.rfind("pyxray:", 0) == 0) pyxray_lines.push_back(line);
  ASSERT_EQ(pyxray_lines.size(), 1u) << "expected exactly one line starting with \"pyxray:\"\n" << r.describe();
  EXPECT_TRUE(std::regex_search(pyxray_lines[0], std::regex("not .*CPython", std::regex::icase)))
      << "the message should say the process is not running CPython: " << pyxray_lines[0];
  for (const char* bad : {"Traceback", "Python Exception"}) {
    EXPECT_EQ(r.out.find(bad), std::string::npos) << r.describe();
    EXPECT_EQ(r.err.find(bad), std::string::npos) << r.describe();
  }
  EXPECT_TRUE(sleeper.running()) << "sleep died while gdb was attached";
  char state = proc_state(sleeper.pid());
  EXPECT_TRUE(state != 't' && state != 'T') << "sleep left in state '" << state << "'";
}

// --- 6b. no process at all ---

TEST(NoProcess, PyBtAllSaysNoProcess) {
  const fs::path plugin = gdb_plugin_path();
  ASSERT_TRUE(fs::exists(plugin)) << "gdb plugin not found: " << plugin;
  TempDir dir;
  auto r = run_command(
      {gdb_program(), "-nx", "-batch", "-iex", "set debuginfod enabled off", "-x", plugin.string(), "-ex", "py-bt-all"},
      dir.path(), 60s);
  const auto problems = gdb_run_problems(r, /*require_success=*/false);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  const auto lines = pyxray_lines(r);
  ASSERT_EQ(lines.size(), 1u) << "expected exactly one line starting with \"pyxray:\"\n" << r.describe();
  EXPECT_EQ(lines[0].rfind("pyxray: no process", 0), 0u) << lines[0];
}

}  // namespace
}  // namespace pyxray::it
