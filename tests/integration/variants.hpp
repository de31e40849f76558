// The same interpreters without debug information: a stripped copy of each pyenv installation, and
// Debian's python3.11 with gdb kept away from python3.11-dbg. Also what the core-file tests need to
// run the workload and gdb for each variant.
#pragma once

#include "harness.hpp"
#include "interpreters.hpp"

#include <sys/types.h>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace pyxray::it {

enum class Symbols {
  Debuginfo,  // the interpreter as installed: pyenv's DWARF, Debian's python3.11-dbg
  Stripped,   // pyenv: a copy of the installation with every ELF file stripped (see StrippedInstall)
  NoDbg,      // Debian: gdb runs with -iex "set debug-file-directory /nonexistent"
};

struct Variant {
  std::string name;  // test-instance name: "py3_11_7", "py3_11_7_stripped", "debian_3_11_nodbg"
  Interpreter interp;
  Symbols symbols = Symbols::Debuginfo;
  bool has_debuginfo() const { return symbols == Symbols::Debuginfo; }
};

inline void PrintTo(const Variant& v, std::ostream* os) { *os << v.name << " (" << v.interp.path.string() << ")"; }

// Every interpreter without debuginfo: each pyenv one stripped, Debian's without python3.11-dbg.
std::vector<Variant> no_debuginfo_variants();
// Every interpreter as installed, then every one without debuginfo.
std::vector<Variant> all_variants();

// A copy of a pyenv installation in which no ELF file the workload loads has a symbol table or
// DWARF. Stripping libpython alone is not enough: the extension modules in lib-dynload (_json,
// math, zlib, ... all loaded by the workload) carry DWARF for CPython's structs too, and gdb finds
// PyThreadState & co. there. So ROOT holds
//   bin/pythonX.Y                       stripped copy of the executable
//   lib/libpythonX.Y[m].so.1.0          stripped copy of libpython
//   lib/pythonX.Y/lib-dynload/*.so      stripped copies of every extension module
//   lib/pythonX.Y/<everything else>     symlinks into the original installation (pure Python)
// The interpreter finds its prefix from its own location (the lib/pythonX.Y/os.py landmark), so
// sys.path points into ROOT. The executable's RUNPATH still names the original lib directory, so
// it must run with LD_LIBRARY_PATH=ROOT/lib (which takes precedence over RUNPATH).
struct StrippedInstall {
  std::filesystem::path root;
  std::filesystem::path executable;
  std::filesystem::path lib_dir;    // ROOT/lib: LD_LIBRARY_PATH and gdb's solib-search-path
  std::filesystem::path libpython;  // ROOT/lib/libpythonX.Y[m].so.1.0
  std::filesystem::path original_prefix;
  std::filesystem::path original_libpython;
};

// Builds (once per build tree: PYXRAY_BUILD_DIR/integration-stripped/NAME, rebuilt when the
// original files change; safe against concurrent test processes) and checks the stripped copy:
// throws std::runtime_error when `strip` is missing or fails, or when any copied ELF file still
// has debug sections.
StrippedInstall stripped_install(const Interpreter& interp);

// How to run the workload and gdb for one variant.
struct VariantSetup {
  std::filesystem::path executable;   // the workload's interpreter, and gdb's program for a core
  EnvOverrides env;                   // for the workload
  std::vector<std::string> gdb_init;  // gdb -iex commands (for a container: its root as sysroot)
  std::optional<StrippedInstall> stripped;
};
VariantSetup setup_for(const Variant& v);  // throws std::runtime_error (see stripped_install)

// A core of a workload of `v` (gcore; for sid's containers the kernel's, which ends the workload: see
// write_kernel_core) with `commands` run on it in gdb and, for an interpreter as installed (with its
// debuginfo), in LLDB too. The core is removed afterwards. Throws std::runtime_error when no core
// can be written.
struct CoreRuns {
  CommandResult gdb;
  std::optional<CommandResult> lldb;
};
CoreRuns run_on_core(const Variant& v, const VariantSetup& setup, pid_t pid, const std::function<bool()>& alive,
                     const std::filesystem::path& work_dir, const std::vector<std::string>& commands);

// Paths of the files mapped into a process (/proc/PID/maps).
std::set<std::string> mapped_files(pid_t pid);

// Problems with the files a workload of `v` has mapped: for a stripped variant, the stripped
// libpython must be mapped and nothing from the original installation; for the others, the
// original libpython (pyenv) must be mapped. Empty means fine.
std::vector<std::string> check_mapped_files(const Variant& v, const VariantSetup& setup, pid_t pid);

}  // namespace pyxray::it
