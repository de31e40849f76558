// End-to-end tests of the system call each thread is blocked in (`py-bt-all --json`'s "syscall" and
// "futex"): tests/workloads/lock_wait.py parks one thread acquiring a lock the main thread holds. What
// the kernel says of that thread before any debugger attaches (/proc/PID/task/TID/syscall: futex() on
// the lock's word) is the ground truth; gdb and LLDB must report the same, live and from a core, and
// gdb's registers (the front end alone, without /proc) must agree with it.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "lldb_harness.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

// The waiter as the kernel shows it from outside: its host thread id and the futex word it sleeps on.
struct Waiter {
  pid_t tid = 0;
  int64_t own_tid = 0;  // the workload's own id of it (another in a container's PID namespace)
  uint64_t futex = 0;
  std::string line;  // the whole syscall file, for messages
};

// A python snippet gdb runs: what the gdb front end reads from the thread's registers alone.
std::string gdb_registers_command(pid_t tid) {
  return "python import _pyxray; print('REGS', _pyxray.blocked_syscall(" + std::to_string(tid) + "))";
}

// "REGS (202, [94, 393, ...])" -> number and first argument; nullopt when gdb printed no such line.
std::optional<std::pair<int64_t, uint64_t>> parse_registers_line(const std::string& out) {
  std::smatch m;
  static const std::regex line(R"(REGS \((-?\d+), \[(\d+))");
  if (!std::regex_search(out, m, line)) return std::nullopt;
  return std::make_pair(std::stoll(m[1].str()), std::stoull(m[2].str()));
}

class BlockedSyscallBase : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup_ = setup_for(Variant{GetParam().name, GetParam(), Symbols::Debuginfo});
      workload_ = ScriptWorkload::start(setup_.executable, setup_.env, "lock_wait.py");
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    // The process holds the main thread and the waiter; in a container the workload's own native ids
    // are its namespace's, so the waiter is found from outside: the task that is not the process.
    for (pid_t tid : task_ids(workload_->pid())) {
      if (tid != workload_->pid()) waiter_.tid = tid;
    }
    ASSERT_NE(waiter_.tid, 0) << "no waiter thread in " << workload_->pid();
    for (const auto& t : workload_->truth()["threads"]) {
      const uint64_t ident = t["thread_id"].get<uint64_t>();
      if (t["role"] == "waiter") {
        waiter_ident_ = ident;
        waiter_.own_tid = t["native_id"].get<int64_t>();
      } else {
        main_ident_ = ident;
      }
    }
    // The waiter has registered and called acquire(); wait until it sleeps in futex().
    const fs::path file =
        "/proc/" + std::to_string(workload_->pid()) + "/task/" + std::to_string(waiter_.tid) + "/syscall";
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      waiter_.line = read_text(file);
      std::istringstream words(waiter_.line);
      long number = -1;
      std::string first;
      if (words >> number >> first && number == SYS_futex) {
        waiter_.futex = std::stoull(first, nullptr, 16);
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "the waiter never slept in futex(): " << file << " says \"" << waiter_.line << "\"";
  }

  // The waiter in `py-bt-all --json`: in futex() on the word the kernel named; the main thread in
  // read() on no futex.
  void expect_reported(const CommandResult& r, const std::string& what) {
    std::string error;
    auto got = find_json_line(r.out, &error);
    ASSERT_TRUE(got) << what << ": " << error << "\n" << r.describe();
    const json* waiter = nullptr;
    const json* main = nullptr;
    // By threading ident: a kernel-written core numbers the threads as the container does.
    for (const auto& t : (*got)["threads"]) {
      if (t["thread_id"] == waiter_ident_) waiter = &t;
      if (t["thread_id"] == main_ident_) main = &t;
    }
    ASSERT_TRUE(waiter) << what << ": no thread " << hex(waiter_ident_) << "\n" << got->dump();
    ASSERT_TRUE(waiter->contains("syscall")) << what << ": no syscall for the waiter\n" << waiter->dump();
    const json& call = (*waiter)["syscall"];
    EXPECT_EQ(call["name"], "futex") << what << "\n" << waiter->dump();
    EXPECT_EQ(call["number"], SYS_futex) << what << "\n" << waiter->dump();
    ASSERT_EQ(call["args"].size(), 6u) << what << "\n" << waiter->dump();
    EXPECT_EQ(call["args"][0], hex(waiter_.futex)) << what << "; the kernel said: " << waiter_.line;
    EXPECT_EQ(waiter->value("futex", ""), hex(waiter_.futex)) << what << "\n" << waiter->dump();
    ASSERT_TRUE(main) << what << ": no main thread " << hex(main_ident_) << "\n" << got->dump();
    ASSERT_TRUE(main->contains("syscall")) << what << ": no syscall for the main thread\n" << main->dump();
    EXPECT_EQ((*main)["syscall"]["name"], "read") << what << "\n" << main->dump();
    EXPECT_FALSE(main->contains("futex")) << what << "\n" << main->dump();
  }

  // What gdb's own registers said of the waiter (the front end without /proc).
  void expect_registers(const CommandResult& r, const std::string& what) {
    auto regs = parse_registers_line(r.out);
    ASSERT_TRUE(regs) << what << ": gdb's registers gave no system call\n" << r.describe();
    EXPECT_EQ(regs->first, SYS_futex) << what;
    EXPECT_EQ(regs->second, waiter_.futex) << what << "; the kernel said: " << waiter_.line;
  }

  void expect_left_running() {
    for (const auto& p : left_running_problems(workload_->pid())) ADD_FAILURE() << p;
  }

  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
  Waiter waiter_;
  uint64_t waiter_ident_ = 0, main_ident_ = 0;
};

// --- live ---

class BlockedSyscall : public BlockedSyscallBase {};

TEST_P(BlockedSyscall, GdbReportsTheFutexWord) {
  auto r = run_gdb(workload_->pid(), {"py-bt-all --json", gdb_registers_command(waiter_.tid)}, workload_->dir(), 60s,
                   setup_.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  expect_reported(r, "py-bt-all --json under gdb");
  expect_registers(r, "gdb's registers of the live waiter");
  expect_left_running();
}

TEST_P(BlockedSyscall, LldbReportsTheFutexWord) {
  ASSERT_TRUE(fs::exists(lldb_plugin_path())) << "LLDB plugin not found: " << lldb_plugin_path();
  auto r = run_lldb_attached(workload_->pid(), {"py-bt-all --json"}, workload_->dir());
  const auto problems = lldb_run_problems(r, /*require_success=*/true);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  expect_reported(r, "py-bt-all --json under lldb");
  expect_left_running();
}

INSTANTIATE_TEST_SUITE_P(Interpreters, BlockedSyscall, testing::ValuesIn(all_interpreters()), param_name);

// --- a core (the suite name ends in CoreFile: CTest runs core-writing tests one at a time) ---

class BlockedSyscallCoreFile : public BlockedSyscallBase {};

TEST_P(BlockedSyscallCoreFile, GdbAndLldbReportTheFutexWord) {
  const fs::path core = workload_->dir() / "core";
  try {
    if (GetParam().root.empty()) write_core(workload_->pid(), core, workload_->dir());
    else  // gcore loses glibc 2.43's thread stacks (see write_kernel_core)
      write_kernel_core(
          workload_->pid(), [this] { return workload_->alive(); }, GetParam().root, core);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  // The kernel writes the thread ids of a container's process as the container numbers them.
  const pid_t core_tid = GetParam().root.empty() ? waiter_.tid : static_cast<pid_t>(waiter_.own_tid);
  auto g = run_gdb_core(setup_.executable, core, {"py-bt-all --json", gdb_registers_command(core_tid)},
                        workload_->dir(), 120s, setup_.gdb_init);
  const auto gdb_problems = gdb_run_problems(g, /*require_success=*/true);
  EXPECT_TRUE(gdb_problems.empty()) << join_diffs(gdb_problems) << g.describe();
  expect_reported(g, "py-bt-all --json on a core under gdb");
  expect_registers(g, "gdb's registers of the waiter in a core");

  if (fs::exists(lldb_plugin_path())) {
    auto l = run_lldb({"-c", core.string(), GetParam().path.string()}, {"py-bt-all --json"}, workload_->dir());
    const auto lldb_problems = lldb_run_problems(l, /*require_success=*/true);
    EXPECT_TRUE(lldb_problems.empty()) << join_diffs(lldb_problems) << l.describe();
    expect_reported(l, "py-bt-all --json on a core under lldb");
  } else {
    ADD_FAILURE() << "LLDB plugin not found: " << lldb_plugin_path();
  }
  fs::remove(core);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, BlockedSyscallCoreFile, testing::ValuesIn(all_interpreters()), param_name);

}  // namespace
}  // namespace pyxray::it
