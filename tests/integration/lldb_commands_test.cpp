// Every command under LLDB prints what it prints under gdb: both front ends call the same core
// commands, so for one stopped process the outputs must be identical, byte for byte. The process is
// tests/workloads/frames.py, whose threads stay parked (nothing changes between the two attaches);
// gdb's outputs themselves are checked against ground truth by the gdb suites (frames, print, heap,
// arenas tests), so equality carries that over to LLDB.
#include "harness.hpp"
#include "interpreters.hpp"
#include "lldb_harness.hpp"
#include "script_workload.hpp"
#include "workload.hpp"

#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

// gdb: each command's output, in order, told apart by `echo` markers between them; pyxray's error
// lines (stderr) all together.
std::vector<std::string> gdb_outputs(pid_t pid, const std::vector<std::string>& commands, const fs::path& dir,
                                     std::string* errors, std::string* problems) {
  auto r = run_gdb(pid, marked_script(commands), dir, 240s);
  for (const auto& p : gdb_run_problems(r, /*require_success=*/false)) *problems += p + "\n";
  std::vector<std::string> out = marked_outputs(r.out, commands.size());
  for (const auto& line : split_lines(r.err))
    if (line.rfind("pyxray:", 0) == 0) *errors += line + "\n";
  return out;
}

// LLDB: each command's output is what follows its echo "(lldb) COMMAND" up to the next echo.
// pyxray's note lines ("pyxray: note: ...", printed once beside a command's output) go to `notes`.
std::vector<std::string> lldb_outputs(pid_t pid, const std::vector<std::string>& commands, const fs::path& dir,
                                      std::string* errors, std::string* problems, std::string* notes) {
  auto all = commands;
  all.push_back("process detach");
  auto r = run_lldb({"-p", std::to_string(pid)}, all, dir, 240s);
  // Batch mode ends at the first failing command: only the last one may fail (it is meant to).
  for (const auto& p : lldb_run_problems(r, /*require_success=*/false)) *problems += p + "\n";
  std::vector<std::string> out(commands.size());
  std::size_t next = 0;
  long current = -1;
  for (const auto& line : split_lines(r.out)) {
    if (line.rfind("(lldb) ", 0) == 0) {
      current = -1;
      if (next < commands.size() && line == "(lldb) " + commands[next]) current = static_cast<long>(next++);
      continue;
    }
    if (line.rfind("pyxray: note:", 0) == 0) {
      *notes += line + "\n";
      continue;
    }
    if (current >= 0) out[static_cast<std::size_t>(current)] += line + "\n";
  }
  for (const auto* stream : {&r.out, &r.err})
    for (const auto& line : split_lines(*stream))
      if (line.rfind("error: pyxray:", 0) == 0) *errors += line.substr(7) + "\n";
  return out;
}

// The heap walk reports how long it took: the one thing allowed to differ.
std::string without_timing(const std::string& text) {
  static const std::regex json_seconds(R"("seconds":[0-9.e+-]+)"), text_seconds(R"(; [0-9.]+ s\))");
  return std::regex_replace(std::regex_replace(text, json_seconds, "\"seconds\":T"), text_seconds, "; T s)");
}

// A process in a container under LLDB 16: LLDB loads no module for it, so it has none of the debug
// symbols gdb finds through the process (the container's -dbg packages and libc6-dbg). pyxray reads
// the executable's .dynsym itself, which is enough for everything but two outputs, compared here
// with just that difference: py-layout has no "debuginfo" source (the layout comes from
// _Py_DebugOffsets and the built-in table, the same fields or fewer), and py-arenas has no glibc statistics
// (they need libc's main_arena, a debug symbol) and cannot name the allocator functions. Returns ""
// when the outputs agree but for that, else what differs.
std::string without_debug_symbols_difference(const std::string& command, const std::string& lldb_text,
                                             const std::string& gdb_text) {
  std::string error;
  const std::string prefix = command == "py-layout --json" ? "{\"disagreements\"" : "{\"pymalloc\"";
  auto l = find_json_line(lldb_text, &error, prefix);
  auto g = find_json_line(gdb_text, &error, prefix);
  if (!l || !g) return "no JSON line: " + error;
  if (command == "py-layout --json") {
    if ((*g)["sources"]["debuginfo"].empty()) return "gdb found no debuginfo either";
    if (!(*l)["sources"]["debuginfo"].empty()) return "LLDB found debuginfo";
    // Every field LLDB's layout has is gdb's; a few that only debuginfo gives may be missing (3.15's
    // PyThreadState.state: neither its _Py_DebugOffsets nor the built-in table has it).
    for (const auto& [name, offset] : (*l)["fields"].items())
      if (!(*g)["fields"].contains(name) || (*g)["fields"][name] != offset) return "field " + name + " differs";
    for (const char* key : {"python", "free_threaded", "disagreements"})
      if ((*l)[key] != (*g)[key])
        return std::string("\"") + key + "\" differs: " + nlohmann::json::diff((*g)[key], (*l)[key]).dump();
    return "";
  }
  if ((*g)["glibc"].is_null()) return "gdb gave no glibc statistics either";
  if (!(*l)["glibc"].is_null()) return "LLDB gave glibc statistics";
  auto lp = (*l)["pymalloc"], gp = (*g)["pymalloc"];
  lp.erase("allocator");
  gp.erase("allocator");
  return lp == gp ? "" : "the pymalloc statistics differ";
}

class LldbCommands : public testing::TestWithParam<Interpreter> {};

TEST_P(LldbCommands, SameOutputAsGdb) {
  std::unique_ptr<ScriptWorkload> w;
  try {
    w = ScriptWorkload::start(GetParam().path, {}, "frames.py");
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  // An object to ask about: the workload's REGISTRY dict (a global of the main thread's frames).
  std::string problems, errors;
  auto first = gdb_outputs(w->pid(), {"py-print REGISTRY --json"}, w->dir(), &errors, &problems);
  ASSERT_TRUE(problems.empty()) << problems;
  std::string error;
  auto registry = find_json_line(first[0], &error, "{");
  ASSERT_TRUE(registry) << error << "\n" << first[0];
  std::ostringstream hex;
  hex << "0x" << std::hex << registry->at("address").get<uint64_t>();
  const std::string addr = hex.str();

  // Native frames are left out: each debugger unwinds (and names inlined frames) its own way.
  const std::vector<std::string> commands{
      "py-bt --locals",
      "py-bt-all --json --locals",
      "py-locals",
      "py-locals --json",
      "py-print GLOBAL_ANSWER",
      "py-print len --json",
      "py-list",
      "py-list --json",
      "py-up",
      "py-locals --json",
      "py-list 10",
      "py-down",
      "py-print " + addr + " --json",
      "py-sizeof " + addr + " --deep --json",
      "py-referrers " + addr + " --json",
      "py-sizeof REGISTRY --deep",
      "py-referrers REGISTRY",
      "py-referrers GLOBAL_ANSWER --json",
      "py-biggest 3 --json",
      "py-heap-summary --limit 5 --json",
      "py-heap-summary --limit 5",
      "py-arenas --json",
      "py-layout --json",
      "py-limits repr-string=5",
      "py-locals --json",
      "py-bt-all --json --max frames=2",
      "py-limits --reset",
      "py-limits --json",
      "py-print nope_not_defined"};  // last: LLDB's batch mode stops at a failing command
  std::string gdb_errors, lldb_errors;
  auto gdb = gdb_outputs(w->pid(), commands, w->dir(), &gdb_errors, &problems);
  std::string notes;
  auto lldb = lldb_outputs(w->pid(), commands, w->dir(), &lldb_errors, &problems, &notes);
  EXPECT_TRUE(problems.empty()) << problems;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const std::string& c = commands[i];
    if (c == "py-print nope_not_defined") continue;  // an error line: compared below
    EXPECT_FALSE(gdb[i].empty()) << "gdb printed nothing for " << c;
    if (!GetParam().root.empty() && (c == "py-layout --json" || c == "py-arenas --json")) {
      EXPECT_EQ(without_debug_symbols_difference(c, lldb[i], gdb[i]), "")
          << "`" << c << "` (command " << i << ") differs between LLDB and gdb beyond LLDB's missing debug symbols\n"
          << "LLDB: " << lldb[i] << "gdb: " << gdb[i];
      continue;
    }
    EXPECT_EQ(without_timing(lldb[i]), without_timing(gdb[i]))
        << "`" << c << "` (command " << i << ") differs between LLDB and gdb";
  }
  // The one difference: LLDB 16 has no module for a process in another mount namespace (gdb reads its
  // files through the process, sysroot "target:"), so pyxray reads them itself and says so, once.
  if (GetParam().root.empty()) {
    EXPECT_EQ(notes, "") << "a note for a process on this host";
  } else {
    EXPECT_EQ(notes, "pyxray: note: the debugger has no module for /usr/bin/python3." +
                         std::to_string(GetParam().minor) +
                         " (the process runs in another mount namespace); pyxray reads it through /proc/" +
                         std::to_string(w->pid()) + "/root; native frames are unavailable\n");
  }
  EXPECT_FALSE(gdb_errors.empty());
  EXPECT_EQ(lldb_errors, gdb_errors) << "the error lines differ";
  EXPECT_TRUE(w->alive());
}

INSTANTIATE_TEST_SUITE_P(Interpreters, LldbCommands, testing::ValuesIn(all_interpreters()), param_name);

}  // namespace
}  // namespace pyxray::it
