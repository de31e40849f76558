// The interpreter matrix, discovered when the test binary starts (not when it is built), so that a
// newly installed pyenv version is tested without reconfiguring.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace pyxray::it {

struct Interpreter {
  std::string name;            // test-instance name: "py3_11_7", "debian_3_11"
  std::filesystem::path path;  // the pythonX.Y executable
  int major = 0, minor = 0;    // from the executable's name
  bool debian = false;         // a Debian package's build: stripped, its symbols from pythonX.Y-dbg
  // Non-empty for an interpreter that runs in a container made from this root (sid's 3.14 and 3.15):
  // `path` is the host's path to it, and the workload runs as path-inside-root (see Process).
  std::filesystem::path root;
};

// Debian's system interpreter, whose debug symbols come from the python3.11-dbg package.
inline const std::filesystem::path kDebianPython = "/usr/bin/python3.11";

// $PYENV_ROOT (default /root/.pyenv) versions/*/bin/pythonX.Y, oldest first.
std::vector<Interpreter> pyenv_interpreters();
// CPython 3.14 and 3.15 from Debian sid, in the root that scripts/install-sid-root makes: stripped,
// statically linked, their symbols from python3.X-dbg inside the root. Always both, even when the
// root is missing, so that their tests fail instead of vanishing from the matrix.
std::vector<Interpreter> sid_interpreters();
// pyenv_interpreters(), Debian's python3.11, then sid_interpreters(). The Debian entries are always
// present, even when the file is missing, so that their tests fail instead of vanishing.
std::vector<Interpreter> all_interpreters();
// One interpreter per stack model, for tests of what does not depend on the version (a front end's
// plumbing, checked on every version through the other debugger): the oldest pyenv interpreter
// (frame objects on 2.7), Debian's 3.11 (a static, stripped binary with _PyCFrame) and the newest
// pyenv interpreter (tstate->current_frame from 3.13), and sid's 3.14 (tagged stack references, in
// a container, where LLDB has no module and pyxray reads the files itself).
std::vector<Interpreter> model_interpreters();

// Hex GNU build id of an ELF file (nullopt when it has none or cannot be read).
std::optional<std::string> gnu_build_id(const std::filesystem::path& elf);
// Where a separate debug file for `elf` is found by build id (/usr/lib/debug/.build-id/xx/yyyy.debug).
std::optional<std::filesystem::path> build_id_debug_file(const std::filesystem::path& elf);
// Section names of a 64-bit ELF file (nullopt when it cannot be read as one).
std::optional<std::vector<std::string>> elf_section_names(const std::filesystem::path& elf);
// The sections of `elf` that carry symbols or debug information (.symtab, .debug_*, .zdebug_*,
// .gnu_debugdata); nullopt when the file cannot be read as ELF.
std::optional<std::vector<std::string>> elf_debug_sections(const std::filesystem::path& elf);

// A pyenv interpreter's installation prefix ($PYENV_ROOT/versions/X.Y.Z).
std::filesystem::path pyenv_prefix(const Interpreter& interp);
// Its shared libpython (PREFIX/lib/libpythonX.Y[m].so.1.0); nullopt when there is not exactly one.
std::optional<std::filesystem::path> pyenv_libpython(const Interpreter& interp);

inline void PrintTo(const Interpreter& i, std::ostream* os) { *os << i.name << " (" << i.path.string() << ")"; }

}  // namespace pyxray::it
