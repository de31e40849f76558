// A core of a crash: a thread of the workload (tests/workloads/crash.py) writes to address 0 through
// ctypes and the kernel writes the core. `py-bt-all` in gdb and LLDB must lead with what ended the
// process (SIGSEGV, the faulting address, the thread it hit, the pid and parent, the command line)
// and show that thread first, marked, in text and JSON, on 3.8, 3.11-3.13 and sid's 3.14 and 3.15.
#include "harness.hpp"
#include "interpreters.hpp"
#include "leak_workload.hpp"
#include "lldb_harness.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class CrashCore : public testing::TestWithParam<Variant> {};

// The checks on one debugger's output: the JSON line, then the text.
void ExpectCrashNamed(const std::string& debugger, const CommandResult& r, const json& truth, int64_t crasher,
                      const std::string& command_line) {
  SCOPED_TRACE(debugger);
  std::string error;
  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();
  ASSERT_TRUE(got->contains("core")) << "no \"core\" key\n" << got->dump().substr(0, 2000);
  const json& core = (*got)["core"];
  EXPECT_EQ(core.value("crashed", false), true) << core.dump();
  EXPECT_EQ(core["pid"], truth["pid"]) << core.dump();
  EXPECT_EQ(core["ppid"], ::getpid()) << "the test started the workload\n" << core.dump();
  EXPECT_EQ(core.value("arguments", ""), command_line) << core.dump();
  EXPECT_NE(core.value("executable", ""), "") << core.dump();
  ASSERT_TRUE(core["signal"].is_object()) << core.dump();
  EXPECT_EQ(core["signal"]["name"], "SIGSEGV") << core.dump();
  EXPECT_EQ(core["signal"]["fault_address"], "0x0") << core.dump();
  EXPECT_EQ(core["signal"]["cause"], "address not mapped") << core.dump();
  EXPECT_EQ(core["thread"], crasher) << core.dump();

  const json& threads = (*got)["threads"];
  ASSERT_FALSE(threads.empty());
  EXPECT_EQ(threads[0]["native_id"], crasher) << "the crashing thread is not first";
  EXPECT_EQ(threads[0].value("signalled", false), true) << threads[0].dump();
  EXPECT_EQ(threads[0]["name"], "crasher") << threads[0].dump();
  bool in_crash_now = false;
  for (const auto& f : threads[0]["frames"]) in_crash_now = in_crash_now || f.value("function", "") == "crash_now";
  EXPECT_TRUE(in_crash_now) << "the crasher's stack lacks crash_now()\n" << threads[0].dump();
  for (std::size_t i = 1; i < threads.size(); ++i) EXPECT_EQ(threads[i].value("signalled", true), false);

  // Text: the header first, then the crasher's thread, marked.
  const std::string header =
      "killed by SIGSEGV (address not mapped) at address 0x0 in thread " + std::to_string(crasher) + " (first below)";
  const auto at_header = r.out.find(header);
  EXPECT_NE(at_header, std::string::npos) << "no line with '" << header << "'\n" << r.describe();
  const auto at_thread = r.out.find("Thread " + std::to_string(crasher) + " \"crasher\"");
  EXPECT_NE(at_thread, std::string::npos) << r.describe();
  EXPECT_LT(at_header, at_thread);
  const auto line_end = r.out.find('\n', at_thread);
  EXPECT_NE(r.out.substr(at_thread, line_end - at_thread).find("<- SIGSEGV"), std::string::npos)
      << r.out.substr(at_thread, line_end - at_thread);
  const auto first_thread = r.out.find("\nThread ", at_header);
  EXPECT_EQ(first_thread == std::string::npos ? first_thread : first_thread + 1, at_thread)
      << "the crasher is not the first thread shown\n"
      << r.describe();
}

TEST_P(CrashCore, SignalAddressAndThreadLead) {
  const Variant& v = GetParam();
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  VariantSetup setup;
  std::unique_ptr<ScriptWorkload> w;
  try {
    setup = setup_for(v);
    w = ScriptWorkload::start(setup.executable, setup.env, "crash.py");
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  int64_t crasher = 0;
  for (const auto& t : w->truth()["threads"])
    if (t["role"] == "crasher") crasher = t["native_id"].get<int64_t>();
  ASSERT_NE(crasher, 0) << w->truth().dump();

  // The command line as the kernel keeps it in a core: its first 79 bytes, NULs as spaces (trailing
  // ones dropped by pyxray).
  std::string command_line = read_text(fs::path("/proc") / std::to_string(w->pid()) / "cmdline").substr(0, 79);
  for (auto& c : command_line)
    if (c == '\0') c = ' ';
  while (!command_line.empty() && command_line.back() == ' ') command_line.pop_back();

  const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  ASSERT_EQ(prlimit(w->pid(), RLIMIT_CORE, &unlimited, nullptr), 0) << strerror(errno);
  std::ofstream(w->dir() / "truth.json.go").put('\n');
  const auto deadline = Clock::now() + 120s;
  while (w->alive() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_FALSE(w->alive()) << "the workload did not crash";
  fs::path core;
  for (const auto& name : {std::string("core"), "core." + std::to_string(w->pid())})
    if (fs::exists(w->dir() / name)) core = w->dir() / name;
  ASSERT_FALSE(core.empty()) << "the kernel wrote no core in " << w->dir()
                             << " (core_pattern: " << read_text("/proc/sys/kernel/core_pattern") << ")";

  const std::vector<std::string> commands = {"py-bt-all --json", "py-bt-all"};
  auto gdb = run_gdb_core(setup.executable, core, commands, w->dir(), 120s, setup.gdb_init);
  auto lldb = run_lldb({"-c", core.string(), v.interp.path.string()}, commands, w->dir());
  fs::remove(core);
  ExpectCrashNamed("gdb", gdb, w->truth(), crasher, command_line);
  ExpectCrashNamed("lldb", lldb, w->truth(), crasher, command_line);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, CrashCore, testing::ValuesIn(leak_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
