// CPython's own gdb helper (python3.X-gdb.py from Debian's python3.X-dbg) is auto-loaded by gdb when
// it reads the interpreter's symbols -- after pyxray, when pyxray is loaded at start-up as the
// installed gdbinit.d loader does. It defines py-bt, py-print, py-list, py-up, py-down and py-locals;
// pyxray's must stay pyxray's, the helper's become cpython-NAME, and the user is told once.
#include "harness.hpp"
#include "interpreters.hpp"
#include "script_workload.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(CPythonHelper, AutoLoadedAfterPyxrayLeavesPyxraysCommands) {
  const fs::path helper = "/usr/share/gdb/auto-load" / kDebianPython.relative_path();
  const fs::path script = helper.string() + "-gdb.py";
  ASSERT_TRUE(fs::exists(script)) << script << " is missing: install python3.11-dbg (scripts/install-deps)";
  auto w = ScriptWorkload::start(kDebianPython, {}, "frames.py");
  TempDir dir;
  // -iex: pyxray is loaded before gdb attaches and reads python3.11's symbols, as at start-up.
  std::vector<std::string> argv{gdb_program(),
                                "-nx",
                                "-batch",
                                "-iex",
                                "set debuginfod enabled off",
                                "-iex",
                                "source " + gdb_plugin_path().string(),
                                "-p",
                                std::to_string(w->pid())};
  for (const char* command :
       {"echo @@help\\n", "help py-bt", "echo @@bt\\n", "py-bt --json", "echo @@print\\n", "help py-print",
        "echo @@renamed\\n", "pyxray-renamed", "echo @@theirs\\n", "cpython-py-bt"}) {
    argv.push_back("-ex");
    argv.push_back(command);
  }
  auto r = run_command(argv, dir.path(), 90s);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto section = [&](const std::string& from, const std::string& to) {
    auto a = r.out.find(from), b = r.out.find(to);
    return a == std::string::npos ? std::string()
                                  : r.out.substr(a + from.size(), b == std::string::npos ? b : b - a - from.size());
  };
  // It was loaded (else this test proves nothing), after pyxray, and said so once.
  EXPECT_EQ(count_of(r.err, "pyxray: note: python3.11-gdb.py, loaded after pyxray"), 1u) << r.describe();
  EXPECT_NE(section("@@help", "@@bt").find("Print the Python stack of the selected thread"), std::string::npos)
      << r.describe();
  const std::string bt = section("@@bt", "@@print");
  auto j = nlohmann::json::parse(bt.substr(bt.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "py-bt --json is not pyxray's\n" << r.describe();
  EXPECT_TRUE(j.contains("threads")) << bt;
  EXPECT_NE(section("@@print", "@@renamed").find("Usage: py-print"), std::string::npos) << r.describe();
  const std::string renamed = section("@@renamed", "@@theirs");
  for (const char* name : {"py-bt", "py-print", "py-list", "py-up", "py-down", "py-locals"})
    EXPECT_NE(renamed.find(std::string(name) + " -> cpython-" + name), std::string::npos) << renamed;
  // CPython's command still works under its new name.
  EXPECT_NE(section("@@theirs", "\x01").find("Traceback (most recent call first):"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace pyxray::it
