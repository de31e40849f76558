// The read-only guarantee: no pyxray command writes the target's memory or registers or runs code in
// it. One gdb session attaches to tests/workloads/frames.py (threads parked in frames with locals)
// and, while gdb holds the process stopped:
//
//   1. fingerprints every readable mapping from outside (tools/memory_snapshot.py reads
//      /proc/PID/mem: one digest per page) and prints every thread's registers;
//   2. runs a full round of pyxray commands (everything but py-sample, which lets the target run by
//      design): stacks with native frames and locals, frame navigation, locals, py-print by name and
//      by address, py-list, py-layout, the heap commands (summary, arenas, biggest, sizeof --deep,
//      referrers);
//   3. flushes gdb's register cache (so registers are read from the kernel again), fingerprints the
//      memory and prints the registers again: both must be identical to step 1;
//   4. the sanity check that the comparison can fail at all: writes one word below a thread's stack
//      pointer and one register with gdb's `set var`, fingerprints once more, and requires exactly
//      that page and that register to differ.
//
// Then gdb detaches and the workload must still be running. An inferior function call would show up
// too: it writes a frame to the stack (and runs code that changes the heap).
#include "harness.hpp"
#include "interpreters.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSnapshotTool = fs::path(PYXRAY_SOURCE_DIR) / "tests/integration/tools/memory_snapshot.py";

// The newest pyenv interpreter, as installed (with debuginfo) and stripped (no debuginfo at all).
std::vector<Variant> readonly_variants() {
  std::vector<Variant> out;
  auto pyenv = pyenv_interpreters();
  if (pyenv.empty()) return out;
  const Interpreter& newest = pyenv.back();
  for (const auto& v : all_variants())
    if (v.interp.path == newest.path && v.interp.debian == false) out.push_back(v);
  return out;
}

// A memory snapshot: per mapping, the digest of each page.
struct Region {
  uint64_t start = 0, end = 0;
  std::string perms, path;
  std::vector<std::string> pages;
};

std::vector<Region> load_snapshot(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("no snapshot written at " + path.string());
  json j = json::parse(in);
  std::vector<Region> out;
  for (const auto& r : j.at("regions")) {
    out.push_back({r.at("start").get<uint64_t>(), r.at("end").get<uint64_t>(), r.at("perms").get<std::string>(),
                   r.at("path").get<std::string>(), r.at("pages").get<std::vector<std::string>>()});
  }
  return out;
}

// What differs between two snapshots: mappings that appeared, vanished or changed, and the address
// of every page whose digest changed.
std::vector<std::string> memory_differences(const std::vector<Region>& a, const std::vector<Region>& b,
                                            std::vector<uint64_t>* changed_pages = nullptr) {
  std::vector<std::string> out;
  std::map<uint64_t, const Region*> by_start;
  for (const auto& r : b) by_start[r.start] = &r;
  for (const auto& r : a) {
    auto it = by_start.find(r.start);
    if (it == by_start.end() || it->second->end != r.end || it->second->perms != r.perms) {
      out.push_back("mapping " + hex(r.start) + "-" + hex(r.end) + " " + r.perms + " " + r.path +
                    " changed or vanished");
      continue;
    }
    const Region& s = *it->second;
    for (std::size_t i = 0; i < r.pages.size() && i < s.pages.size(); ++i) {
      if (r.pages[i] == s.pages[i]) continue;
      uint64_t page = r.start + i * 4096;
      if (changed_pages) changed_pages->push_back(page);
      if (out.size() < 40) out.push_back("page " + hex(page) + " (" + r.perms + " " + r.path + ") changed");
    }
    by_start.erase(it);
  }
  for (const auto& [start, r] : by_start)
    out.push_back("mapping " + hex(start) + "-" + hex(r->end) + " " + r->perms + " " + r->path + " appeared");
  return out;
}

// The text between two marker lines of gdb's output.
std::string between(const std::string& out, const std::string& from, const std::string& to) {
  auto a = out.find(from + "\n");
  auto b = out.find(to + "\n", a == std::string::npos ? 0 : a);
  if (a == std::string::npos || b == std::string::npos) return "";
  a += from.size() + 1;
  return out.substr(a, b - a);
}

class ReadOnly : public testing::TestWithParam<Variant> {};

TEST_P(ReadOnly, CommandsLeaveMemoryAndRegistersUnchanged) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  ASSERT_TRUE(fs::exists(kSnapshotTool));
  ASSERT_TRUE(fs::exists(kDebianPython)) << "the snapshot tool runs with " << kDebianPython;
  VariantSetup setup;
  std::unique_ptr<ScriptWorkload> w;
  try {
    setup = setup_for(GetParam());
    w = ScriptWorkload::start(setup.executable, setup.env, "frames.py");
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const auto mapped = check_mapped_files(GetParam(), setup, w->pid());
  ASSERT_TRUE(mapped.empty()) << mapped.front();
  const fs::path before = w->dir() / "before.json", after = w->dir() / "after.json",
                 tampered = w->dir() / "tampered.json";
  const std::string pid = std::to_string(w->pid());
  auto snapshot = [&](const fs::path& out) {
    return "shell " + kDebianPython.string() + " " + kSnapshotTool.string() + " " + pid + " " + out.string();
  };
  const std::string regs = "thread apply all -q info registers";
  // Addresses for the object commands come from py-biggest, in the same session (gdb's Python).
  const std::string by_address =
      "python import json; o = json.loads(gdb.execute('py-biggest 3 --json', to_string=True).splitlines()[-1])"
      "['objects'][0]['address']; [gdb.execute(c % o) for c in ('py-sizeof %#x --deep', 'py-referrers %#x --json', "
      "'py-print %#x', 'py-print %#x --json')]";
  std::vector<std::string> commands = {
      "thread 2",
      snapshot(before),
      "echo @@regs-before\\n",
      regs,
      "echo @@end\\n",
      "py-bt-all --native --locals",
      "py-bt-all --json",
      "py-bt --native",
      "py-locals",
      "py-up",
      "py-locals --json",
      "py-list",
      "py-down",
      "py-print GLOBAL_ANSWER",
      "py-print nope_not_defined",
      "py-layout",
      "py-heap-summary --limit 5",
      "py-arenas",
      "py-biggest 3",
      by_address,
      "thread 3",
      "py-bt",
      "py-up 1000",
      "thread 2",
      "maint flush register-cache",
      snapshot(after),
      "echo @@regs-after\\n",
      regs,
      "echo @@end\\n",
      // The sanity check: one word below thread 2's stack pointer (unused while it blocks in read()),
      // and its rcx, which the syscall instruction clobbers anyway.
      "set var *(unsigned long*)($sp - 4096) = ~*(unsigned long*)($sp - 4096)",
      "python print('@@written', hex(int(gdb.parse_and_eval('$sp')) - 4096))",
      "set var $rcx = $rcx ^ 0x10",
      "maint flush register-cache",
      snapshot(tampered),
      "echo @@regs-tampered\\n",
      regs,
      "echo @@end\\n",
  };
  auto r = run_gdb(w->pid(), commands, w->dir(), 240s, setup.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << problems.front() << "\n" << r.describe();
  EXPECT_TRUE(w->alive()) << "the workload died";
  const auto stopped = stopped_threads(w->pid());
  EXPECT_TRUE(stopped.empty()) << "threads left stopped after detaching: " << stopped.front();

  // The commands ran and said something (a vacuous pass is no proof).
  for (const char* expect : {"GLOBAL_ANSWER", "Total ", "File \"", "{\"pid\""})
    EXPECT_NE(r.out.find(expect), std::string::npos) << expect << " missing\n" << r.describe();

  std::vector<Region> snap_before, snap_after, snap_tampered;
  try {
    snap_before = load_snapshot(before);
    snap_after = load_snapshot(after);
    snap_tampered = load_snapshot(tampered);
  } catch (const std::exception& e) {
    FAIL() << e.what() << "\n" << r.describe();
  }
  std::size_t writable = 0, pages = 0;
  for (const auto& reg : snap_before) {
    pages += reg.pages.size();
    if (reg.perms.find('w') != std::string::npos) ++writable;
  }
  EXPECT_GT(writable, 10u) << "the snapshot must cover the writable mappings";
  EXPECT_GT(pages, 1000u);

  const auto diffs = memory_differences(snap_before, snap_after);
  std::string listed;
  for (const auto& d : diffs) listed += "  " + d + "\n";
  EXPECT_TRUE(diffs.empty()) << "pyxray's commands changed the target's memory:\n" << listed;

  const std::string regs_before = between(r.out, "@@regs-before", "@@end");
  const std::string regs_after = between(r.out, "@@regs-after", "@@end");
  const std::string regs_tampered = between(r.out, "@@regs-tampered", "@@end");
  ASSERT_NE(regs_before.find("rip"), std::string::npos) << r.describe();
  EXPECT_EQ(regs_before, regs_after) << "pyxray's commands changed a register";

  // The sanity check: the comparison sees exactly the word and the register written.
  std::vector<uint64_t> changed;
  const auto tamper_diffs = memory_differences(snap_after, snap_tampered, &changed);
  auto at = r.out.find("@@written 0x");
  ASSERT_NE(at, std::string::npos) << r.describe();
  const uint64_t written = std::stoull(r.out.substr(at + 10, 20), nullptr, 16);
  EXPECT_EQ(changed, std::vector<uint64_t>{written & ~uint64_t{4095}})
      << "the write at " << hex(written) << " must be the one difference";
  EXPECT_NE(regs_after, regs_tampered) << "the register write must show";
  std::size_t changed_lines = 0;
  std::istringstream a(regs_after), t(regs_tampered);
  for (std::string la, lt; std::getline(a, la) && std::getline(t, lt);) changed_lines += la != lt;
  EXPECT_EQ(changed_lines, 1u) << "only rcx was written:\n" << regs_tampered;
}

INSTANTIATE_TEST_SUITE_P(Variants, ReadOnly, testing::ValuesIn(readonly_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
