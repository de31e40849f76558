// Core files: `py-bt-all --json` on a gcore of the workload equals the ground truth, for every
// interpreter with and without debuginfo; and damaged cores (libpython gone, file truncated) give
// a clear message or a partial, warned, truthful answer, never a crash, hang or invented frame.
//
// The workload runs with MALLOC_ARENA_MAX=1 here: otherwise glibc reserves a 64 MiB arena per
// thread, which gcore writes out as zeros (~1 GB per core instead of ~180 MB). Python objects live
// in pymalloc's own arenas, so this changes nothing pyxray reads. These tests share the CTest
// resource lock "pyxray_core" (see CMakeLists.txt): one core on disk at a time, each deleted as
// soon as gdb has read it.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>
#include <regex>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::pair<std::string, std::string> kOneArena{"MALLOC_ARENA_MAX", "1"};
const fs::path kToolPython = "/usr/bin/python3.11";
const fs::path kNotesFirstTool = fs::path(PYXRAY_SOURCE_DIR) / "tests/integration/tools/core_notes_first.py";

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "\n    " + l;
  return s;
}

// The pyenv interpreter the damaged-core tests use: 3.11 if there is one, else the newest 3.x.
std::optional<Interpreter> bad_core_interpreter() {
  std::optional<Interpreter> pick;
  for (const auto& i : pyenv_interpreters()) {
    if (i.major != 3) continue;
    if (!pick || pick->minor != 11) pick = i;
  }
  return pick;
}

// The `info sharedlibrary` line naming `lib` ("" when there is none).
std::string sharedlibrary_line(const std::string& out, const fs::path& lib) {
  for (const auto& line : split_lines(out))
    if (line.size() >= lib.string().size() &&
        line.compare(line.size() - lib.string().size(), lib.string().size(), lib.string()) == 0)
      return line;
  return {};
}

// --- a good core, every variant ---

class CoreFile : public testing::TestWithParam<Variant> {};

TEST_P(CoreFile, JsonMatchesGroundTruth) {
  const Variant& v = GetParam();
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  VariantSetup setup;
  std::unique_ptr<Workload> w;
  try {
    setup = setup_for(v);
    auto env = setup.env;
    env.push_back(kOneArena);
    w = Workload::start(v.interp, Launch{setup.executable, env});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const auto mapped = check_mapped_files(v, setup, w->pid());
  ASSERT_TRUE(mapped.empty()) << join_diffs(mapped);
  const auto tasks = task_ids(w->pid());
  const fs::path core = w->dir() / "core";
  try {
    if (v.interp.root.empty()) write_core(w->pid(), core, w->dir());
    else write_kernel_core(*w, v.interp.root, core);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  w->kill();  // from here on only the core is read

  auto r = run_gdb_core(setup.executable, core, {"info sharedlibrary", "py-layout --json", "py-bt-all --json"},
                        w->dir(), 120s, setup.gdb_init);
  fs::remove(core);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();

  // gdb read the intended libpython: the stripped copy without debug information, or the original.
  if (v.symbols == Symbols::Stripped) {
    const std::string line = sharedlibrary_line(r.out, setup.stripped->libpython);
    EXPECT_NE(line, "") << "info sharedlibrary does not list " << setup.stripped->libpython << "\n" << r.describe();
    EXPECT_NE(line.find("(*)"), std::string::npos) << "gdb found debug information for the stripped copy: " << line;
    EXPECT_EQ(sharedlibrary_line(r.out, setup.stripped->original_libpython), "")
        << "gdb loaded the unstripped libpython\n"
        << r.describe();
  } else if (!v.interp.debian) {
    auto lib = pyenv_libpython(v.interp);
    ASSERT_TRUE(lib);
    const std::string line = sharedlibrary_line(r.out, *lib);
    EXPECT_NE(line, "") << "info sharedlibrary does not list " << *lib << "\n" << r.describe();
    EXPECT_EQ(line.find("(*)"), std::string::npos) << "gdb found no debug information in " << *lib << ": " << line;
  }

  std::string error;
  auto layout = find_json_line(r.out, &error, "{\"disagreements\"");
  ASSERT_TRUE(layout) << "py-layout --json: " << error << "\n" << r.describe();
  const json& debuginfo = (*layout)["sources"]["debuginfo"];
  const std::string source = (*layout)["source"].is_string() ? (*layout)["source"].get<std::string>() : "";
  if (v.has_debuginfo()) {
    EXPECT_FALSE(debuginfo.empty()) << "no debuginfo layouts from the core of " << v.interp.path;
    EXPECT_NE(source.find("debuginfo"), std::string::npos) << "layouts from \"" << source << "\"";
  } else {
    EXPECT_TRUE(debuginfo.empty()) << "gdb still sees CPython's types: " << debuginfo.dump();
    EXPECT_EQ(source.find("debuginfo"), std::string::npos) << "layouts from \"" << source << "\"";
  }

  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();
  const auto diffs = compare_bt_all_json(w->truth(), *got, tasks);
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --json on a core of " << setup.executable.string() << " (layouts from \""
                             << source << "\") differs from the ground truth (" << diffs.size() << " differences):\n"
                             << join_diffs(diffs);
}

INSTANTIATE_TEST_SUITE_P(Cores, CoreFile, testing::ValuesIn(all_variants()), variant_name);

// --- a core whose libpython is gone ---

TEST(BadCore, MissingLibpythonIsNamed) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto interp = bad_core_interpreter();
  ASSERT_TRUE(interp) << "no pyenv Python 3 interpreter";
  auto original = pyenv_libpython(*interp);
  ASSERT_TRUE(original) << "no libpython in " << pyenv_prefix(*interp);

  std::optional<TempDir> lib_dir(std::in_place);
  const fs::path copy = lib_dir->path() / original->filename();
  fs::copy_file(*original, copy);
  std::unique_ptr<Workload> w;
  try {
    w = Workload::start(*interp, Launch{{}, {{"LD_LIBRARY_PATH", lib_dir->path().string()}, kOneArena}});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  ASSERT_TRUE(mapped_files(w->pid()).count(copy.string())) << "the workload does not map " << copy;
  const fs::path core = w->dir() / "core";
  try {
    write_core(w->pid(), core, w->dir());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  w->kill();
  lib_dir.reset();  // the libpython the core names is gone
  ASSERT_FALSE(fs::exists(copy));

  auto r = run_gdb_core(interp->path, core, {"py-bt-all"}, w->dir());
  fs::remove(core);
  const auto problems = gdb_run_problems(r, /*require_success=*/false);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  const auto lines = pyxray_lines(r);
  ASSERT_EQ(lines.size(), 1u) << "expected exactly one line starting with \"pyxray:\", got" << joined(lines) << "\n"
                              << r.describe();
  EXPECT_NE(lines[0].find(copy.string()), std::string::npos)
      << "the message should name the missing " << copy << ": " << lines[0];
  std::cout << "missing libpython: " << lines[0] << "\n";
}

// --- truncated cores ---

// How tools/core_notes_first.py rewrites a core.
struct Rewrite {
  std::optional<double> keep;  // --keep-load-fraction; nullopt: no cut
  std::string order = "address";
};

// A gcore of the workload, rewritten once per Rewrite (the original core is deleted); the workload
// is dead by then.
struct RewrittenCores {
  std::unique_ptr<Workload> workload;
  std::vector<pid_t> tasks;
  std::vector<fs::path> cores;
};

void make_rewritten_cores(const Interpreter& interp, const std::vector<Rewrite>& rewrites, RewrittenCores& out) {
  ASSERT_TRUE(fs::exists(kToolPython)) << kToolPython << " (runs " << kNotesFirstTool.filename() << ") is missing";
  try {
    out.workload = Workload::start(interp, Launch{{}, {kOneArena}});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  Workload& w = *out.workload;
  out.tasks = task_ids(w.pid());
  const fs::path core = w.dir() / "core";
  try {
    write_core(w.pid(), core, w.dir());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  w.kill();
  for (std::size_t i = 0; i < rewrites.size(); ++i) {
    const fs::path rewritten = w.dir() / ("core.rewritten" + std::to_string(i));
    std::vector<std::string> argv{
        kToolPython.string(), kNotesFirstTool.string(), core.string(), rewritten.string(), "--order",
        rewrites[i].order};
    if (rewrites[i].keep) {
      argv.push_back("--keep-load-fraction");
      argv.push_back(std::to_string(*rewrites[i].keep));
    }
    auto r = run_command(argv, w.dir(), 120s);
    ASSERT_TRUE(!r.timed_out && r.exit_code == 0) << "core_notes_first.py failed\n" << r.describe();
    out.cores.push_back(rewritten);
  }
  fs::remove(core);
}

// "" when the NOTE segment of an ELF core starts right after its program headers.
std::string notes_placement(const fs::path& core, const fs::path& work_dir) {
  auto r = run_command({"readelf", "-lW", core.string()}, work_dir, 60s);
  if (r.exit_code != 0) return "readelf failed: " + r.describe();
  static const std::regex phoff(R"(There are (\d+) program headers, starting at offset (\d+))");
  static const std::regex note(R"(^\s*NOTE\s+0x([0-9a-f]+))");
  std::smatch m;
  if (!std::regex_search(r.out, m, phoff)) return "no program headers: " + r.out;
  const unsigned long expected = std::stoul(m[2]) + std::stoul(m[1]) * 56;  // sizeof(Elf64_Phdr)
  for (const auto& line : split_lines(r.out))
    if (std::regex_search(line, m, note)) {
      unsigned long at = std::stoul(m[1], nullptr, 16);
      return at == expected ? "" : "NOTE at " + std::to_string(at) + ", expected " + std::to_string(expected);
    }
  return "no NOTE segment";
}

bool answered(const std::string& text_out) {
  for (const auto& line : split_lines(text_out))
    if (line.rfind("Thread ", 0) == 0 && line.find("[ident 0x") != std::string::npos) return true;
  return false;
}

bool json_has_warnings(const json& j) {
  if (j.contains("warnings") && !j["warnings"].empty()) return true;
  if (j.contains("threads") && j["threads"].is_array())
    for (const auto& t : j["threads"])
      if (t.is_object() && t.contains("warning")) return true;
  return false;
}

// The rewritten, uncut core reads exactly like gcore's own: the tool moves data, it loses none.
void expect_equivalent_core(const Interpreter& interp, const RewrittenCores& rc, const fs::path& core) {
  EXPECT_EQ(notes_placement(core, rc.workload->dir()), "");
  auto r = run_gdb_core(interp.path, core, {"py-bt-all --json"}, rc.workload->dir(), 120s);
  fs::remove(core);
  const auto problems = gdb_run_problems(r, true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << "rewritten, uncut core: " << error << "\n" << r.describe();
  const auto diffs = compare_bt_all_json(rc.workload->truth(), *got, rc.tasks);
  ASSERT_TRUE(diffs.empty()) << "core_notes_first.py changed what the core holds:\n" << join_diffs(diffs);
}

// py-bt-all on a cut core, text and --json: gdb accepts the core and neither crashes nor hangs;
// pyxray prints either one clear "pyxray:" line, or an answer whose gaps are announced with
// "pyxray: warning:" lines and whose frames are all real. Returns whether it answered.
bool expect_damaged_core_handled(const Interpreter& interp, const RewrittenCores& rc, const fs::path& cut) {
  const GroundTruth& truth = rc.workload->truth();
  const fs::path& dir = rc.workload->dir();
  EXPECT_EQ(notes_placement(cut, dir), "");
  auto text = run_gdb_core(interp.path, cut, {"py-bt-all"}, dir, 120s);
  auto js = run_gdb_core(interp.path, cut, {"py-bt-all --json"}, dir, 120s);
  fs::remove(cut);
  for (const auto* r : {&text, &js}) {
    const auto problems = gdb_run_problems(*r, /*require_success=*/false);
    EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r->describe();
    EXPECT_NE(r->out.find("Core was generated by"), std::string::npos) << "gdb did not accept the core\n"
                                                                       << r->describe();
  }

  const auto lines = pyxray_lines(text);
  std::vector<std::string> warnings, others;
  for (const auto& l : lines) (l.rfind("pyxray: warning:", 0) == 0 ? warnings : others).push_back(l);
  std::string error;
  auto got = find_json_line(js.out, &error);
  if (!answered(text.out)) {
    // A clear one-line refusal, in both modes.
    EXPECT_EQ(lines.size(), 1u) << "no answer: expected exactly one \"pyxray:\" line, got" << joined(lines) << "\n"
                                << text.describe();
    EXPECT_EQ(warnings.size(), 0u) << joined(warnings);
    EXPECT_FALSE(got) << "text mode refused but --json answered:\n" << js.describe();
    EXPECT_EQ(pyxray_lines(js).size(), 1u) << js.describe();
    std::cout << "cut core: no answer: " << (lines.empty() ? "(no message)" : lines[0]) << "\n";
    return false;
  }
  // A partial answer says so, and holds only real threads and frames.
  EXPECT_TRUE(others.empty()) << "an answer with non-warning pyxray lines:" << joined(others);
  EXPECT_TRUE(got) << "text mode answered but --json did not: " << error << "\n" << js.describe();
  if (!got) return true;
  const auto invented = check_partial_bt_all_json(truth, *got);
  EXPECT_TRUE(invented.empty()) << "what the process did not have (" << invented.size() << "):\n"
                                << join_diffs(invented);
  if (warnings.empty()) {
    EXPECT_FALSE(json_has_warnings(*got)) << "--json warns, text does not";
    const auto diffs = compare_bt_all_json(truth, *got, rc.tasks);
    EXPECT_TRUE(diffs.empty()) << "an answer without any \"pyxray: warning:\" must be complete:\n" << join_diffs(diffs);
  } else {
    EXPECT_TRUE(json_has_warnings(*got)) << "text warns, --json has no \"warning(s)\": "
                                         << truncate_middle(got->dump(), 2000);
  }
  std::size_t frames = 0, threads = got->contains("threads") ? (*got)["threads"].size() : 0;
  if (threads)
    for (const auto& t : (*got)["threads"]) frames += t.contains("frames") ? t["frames"].size() : 0;
  std::cout << "cut core: partial answer, " << threads << " thread(s), " << frames << " frame(s), " << warnings.size()
            << " warning line(s)" << joined(warnings) << "\n";
  return true;
}

// gcore's layout cut at 60%: the libraries' data, mapped highest, is what goes.
TEST(BadCore, TruncatedCoreFailsCleanly) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto interp = bad_core_interpreter();
  ASSERT_TRUE(interp) << "no pyenv Python 3 interpreter";
  RewrittenCores rc;
  make_rewritten_cores(*interp, {{std::nullopt}, {0.6}}, rc);
  if (HasFatalFailure()) return;
  expect_equivalent_core(*interp, rc, rc.cores[0]);
  if (HasFatalFailure()) return;
  expect_damaged_core_handled(*interp, rc, rc.cores[1]);
}

// Cut at 60% with the libraries, heap and small arenas kept and the big anonymous mappings (thread
// stacks) lost: pyxray can find the interpreter, so it must answer, partially and truthfully.
TEST(BadCore, TruncatedCoreGivesPartialTruthfulAnswer) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto interp = bad_core_interpreter();
  ASSERT_TRUE(interp) << "no pyenv Python 3 interpreter";
  RewrittenCores rc;
  make_rewritten_cores(*interp, {{std::nullopt, "files-first"}, {0.6, "files-first"}}, rc);
  if (HasFatalFailure()) return;
  expect_equivalent_core(*interp, rc, rc.cores[0]);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(expect_damaged_core_handled(*interp, rc, rc.cores[1]))
      << "libpython's data and the heap are in the core, yet pyxray gave no answer at all";
}

// A cut core of a CPython process is still a CPython process: when pyxray cannot answer, the
// message must not claim otherwise (gdb's own listing of the core's mapped files, from its NT_FILE
// note, names libpython even when the shared-library list itself was cut off).
TEST(BadCore, TruncatedCoreIsNotCalledNonPython) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto interp = bad_core_interpreter();
  ASSERT_TRUE(interp) << "no pyenv Python 3 interpreter";
  RewrittenCores rc;
  make_rewritten_cores(*interp, {{0.6}}, rc);
  if (HasFatalFailure()) return;
  auto r = run_gdb_core(interp->path, rc.cores[0], {"info proc mappings", "py-bt-all"}, rc.workload->dir(), 120s);
  fs::remove(rc.cores[0]);
  auto lib = pyenv_libpython(*interp);
  ASSERT_TRUE(lib);
  EXPECT_NE(r.out.find(lib->string()), std::string::npos) << "the core's file note should list " << *lib << "\n"
                                                          << r.describe();
  for (const auto& line : pyxray_lines(r))
    EXPECT_FALSE(std::regex_search(line, std::regex("not running CPython", std::regex::icase)))
        << "a truncated core of " << interp->path << " is reported as not being CPython: " << line;
}

}  // namespace
}  // namespace pyxray::it
