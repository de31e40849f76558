#include "variants.hpp"

#include "lldb_harness.hpp"
#include "workload.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pyxray::it {

namespace fs = std::filesystem;

namespace {

// Bump when the layout of a stripped install changes, so that cached copies are rebuilt.
constexpr const char* kStampFormat = "stripped-install v1";

std::string version_dir(const Interpreter& interp) {
  return "python" + std::to_string(interp.major) + "." + std::to_string(interp.minor);
}

bool is_shared_object(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0;
}

// Identifies the original files a stripped install is made from: when any of them changes (a
// reinstalled pyenv version), the copy is rebuilt.
std::string stamp_for(const std::vector<fs::path>& sources) {
  std::ostringstream s;
  s << kStampFormat << "\n";
  for (const auto& p : sources) {
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    s << p.string() << " " << size << " " << mtime << "\n";
  }
  return s.str();
}

// An exclusive flock on `path`, released on destruction: two test processes preparing the same
// stripped install (ctest -j) take turns.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("cannot open lock file " + path.string() + ": " + strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) throw std::runtime_error("flock " + path.string() + ": " + strerror(errno));
    }
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

void build_stripped_copy(const Interpreter& interp, const fs::path& original_libpython, const fs::path& into,
                         const std::string& stamp) {
  const fs::path prefix = pyenv_prefix(interp);
  const std::string vdir = version_dir(interp);
  fs::remove_all(into);
  fs::create_directories(into / "bin");
  fs::create_directories(into / "lib" / vdir / "lib-dynload");

  std::vector<std::string> to_strip;
  const auto copy = [&](const fs::path& from, const fs::path& to) {
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    fs::permissions(to, fs::perms::owner_write, fs::perm_options::add);
    to_strip.push_back(to.string());
  };
  copy(interp.path, into / "bin" / interp.path.filename());
  copy(original_libpython, into / "lib" / original_libpython.filename());
  for (const auto& entry : fs::directory_iterator(prefix / "lib" / vdir)) {
    if (entry.path().filename() == "lib-dynload") continue;
    fs::create_symlink(entry.path(), into / "lib" / vdir / entry.path().filename());
  }
  for (const auto& entry : fs::directory_iterator(prefix / "lib" / vdir / "lib-dynload")) {
    const fs::path to = into / "lib" / vdir / "lib-dynload" / entry.path().filename();
    if (entry.is_regular_file() && is_shared_object(entry.path())) copy(entry.path(), to);
    else fs::create_symlink(entry.path(), to);
  }

  TempDir scratch;
  std::vector<std::string> argv{"strip", "--strip-all"};
  argv.insert(argv.end(), to_strip.begin(), to_strip.end());
  auto r = run_command(argv, scratch.path(), 300s);
  if (r.timed_out || r.exit_code != 0)
    throw std::runtime_error("`strip --strip-all` failed on the copy of " + prefix.string() +
                             " (is binutils installed?)\n" + r.describe());
  std::ofstream(into / "stamp") << stamp;
}

}  // namespace

std::vector<Variant> no_debuginfo_variants() {
  std::vector<Variant> out;
  for (const auto& i : all_interpreters())
    out.push_back(i.debian ? Variant{i.name + "_nodbg", i, Symbols::NoDbg}
                           : Variant{i.name + "_stripped", i, Symbols::Stripped});
  return out;
}

std::vector<Variant> all_variants() {
  std::vector<Variant> out;
  for (const auto& i : all_interpreters()) out.push_back(Variant{i.name, i, Symbols::Debuginfo});
  for (auto& v : no_debuginfo_variants()) out.push_back(std::move(v));
  return out;
}

StrippedInstall stripped_install(const Interpreter& interp) {
  if (interp.debian)
    throw std::runtime_error("no stripped install of Debian's interpreter (it has no shared libpython)");
  auto original_libpython = pyenv_libpython(interp);
  if (!original_libpython)
    throw std::runtime_error("no (or more than one) " + (pyenv_prefix(interp) / "lib/libpython*.so.1.0").string());

  StrippedInstall s;
  s.original_prefix = pyenv_prefix(interp);
  s.original_libpython = *original_libpython;
  const fs::path base = fs::path(PYXRAY_BUILD_DIR) / "integration-stripped";
  s.root = base / interp.name;
  s.executable = s.root / "bin" / interp.path.filename();
  s.lib_dir = s.root / "lib";
  s.libpython = s.lib_dir / original_libpython->filename();

  std::vector<fs::path> sources{interp.path, *original_libpython};
  const fs::path dynload = s.original_prefix / "lib" / version_dir(interp) / "lib-dynload";
  if (!fs::is_directory(dynload)) throw std::runtime_error(dynload.string() + " is not a directory");
  for (const auto& entry : fs::directory_iterator(dynload))
    if (entry.is_regular_file() && is_shared_object(entry.path())) sources.push_back(entry.path());
  std::sort(sources.begin() + 2, sources.end());
  const std::string stamp = stamp_for(sources);

  fs::create_directories(base);
  {
    FileLock lock(base / (interp.name + ".lock"));
    if (read_text(s.root / "stamp") != stamp) {
      const fs::path tmp = base / (interp.name + ".tmp." + std::to_string(getpid()));
      try {
        build_stripped_copy(interp, *original_libpython, tmp, stamp);
      } catch (...) {
        std::error_code ec;
        fs::remove_all(tmp, ec);
        throw;
      }
      fs::remove_all(s.root);
      fs::rename(tmp, s.root);
    }
  }

  // Checked every time, cached or not: nothing the workload loads from the copy has debug sections.
  std::vector<fs::path> elves{s.executable, s.libpython};
  for (const auto& entry : fs::directory_iterator(s.root / "lib" / version_dir(interp) / "lib-dynload"))
    if (!entry.is_symlink() && is_shared_object(entry.path())) elves.push_back(entry.path());
  if (elves.size() != sources.size())
    throw std::runtime_error(s.root.string() + " holds " + std::to_string(elves.size()) + " ELF files, expected " +
                             std::to_string(sources.size()));
  for (const auto& elf : elves) {
    auto debug = elf_debug_sections(elf);
    if (!debug) throw std::runtime_error(elf.string() + " is not a readable 64-bit ELF file");
    if (!debug->empty())
      throw std::runtime_error(elf.string() + " still has " + (*debug)[0] + " after strip --strip-all");
  }
  return s;
}

VariantSetup setup_for(const Variant& v) {
  VariantSetup setup;
  setup.executable = v.interp.path;
  switch (v.symbols) {
    case Symbols::Debuginfo: break;
    case Symbols::Stripped:
      setup.stripped = stripped_install(v.interp);
      setup.executable = setup.stripped->executable;
      setup.env.emplace_back("LD_LIBRARY_PATH", setup.stripped->lib_dir.string());
      // Attaching, gdb reads the paths the process mapped; for a core it is told where to look too.
      setup.gdb_init.push_back("set solib-search-path " + setup.stripped->lib_dir.string());
      break;
    case Symbols::NoDbg: setup.gdb_init.push_back("set debug-file-directory /nonexistent"); break;
  }
  // A container's files, its libc and debug files among them, are found under its root: attached,
  // gdb could also reach them through the process (sysroot "target:", what the tests without a
  // setup use), but a core has only the paths the process saw.
  if (!v.interp.root.empty()) setup.gdb_init.push_back("set sysroot " + v.interp.root.string());
  return setup;
}

std::set<std::string> mapped_files(pid_t pid) {
  std::set<std::string> files;
  for (const auto& line : split_lines(read_text("/proc/" + std::to_string(pid) + "/maps"))) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (auto del = path.find(" (deleted)"); del != std::string::npos) path.resize(del);
    files.insert(path);
  }
  return files;
}

std::vector<std::string> check_mapped_files(const Variant& v, const VariantSetup& setup, pid_t pid) {
  std::vector<std::string> problems;
  const auto maps = mapped_files(pid);
  if (maps.empty()) return {"/proc/" + std::to_string(pid) + "/maps lists no files"};
  std::string listing;
  for (const auto& f : maps) listing += "\n    " + f;
  const auto expect_mapped = [&](const fs::path& p) {
    if (!maps.count(p.string())) problems.push_back(p.string() + " is not mapped; the process maps:" + listing);
  };
  if (v.symbols == Symbols::Stripped) {
    expect_mapped(setup.stripped->libpython);
    expect_mapped(setup.stripped->executable);
    const std::string original = setup.stripped->original_prefix.string() + "/";
    for (const auto& f : maps)
      if (f.rfind(original, 0) == 0) problems.push_back("a file of the unstripped installation is mapped: " + f);
  } else if (v.interp.debian) {
    // The maps of a process in a container name its files as it sees them.
    expect_mapped(v.interp.root.empty() ? v.interp.path : "/" / v.interp.path.lexically_relative(v.interp.root));
    for (const auto& f : maps)
      if (f.find("libpython") != std::string::npos)
        problems.push_back("Debian's " + v.interp.path.filename().string() + " should be static, maps " + f);
  } else {
    auto lib = pyenv_libpython(v.interp);
    if (!lib) problems.push_back("no libpython found in " + pyenv_prefix(v.interp).string());
    else expect_mapped(*lib);
  }
  return problems;
}

CoreRuns run_on_core(const Variant& v, const VariantSetup& setup, pid_t pid, const std::function<bool()>& alive,
                     const std::filesystem::path& work_dir, const std::vector<std::string>& commands) {
  const std::filesystem::path core = work_dir / "core";
  if (v.interp.root.empty()) write_core(pid, core, work_dir);
  else write_kernel_core(pid, alive, v.interp.root, core);
  CoreRuns runs{run_gdb_core(setup.executable, core, commands, work_dir, 120s, setup.gdb_init), std::nullopt};
  if (v.has_debuginfo()) runs.lldb = run_lldb({"-c", core.string(), v.interp.path.string()}, commands, work_dir);
  std::filesystem::remove(core);
  return runs;
}

}  // namespace pyxray::it
