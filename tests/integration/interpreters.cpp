#include "interpreters.hpp"

#include "harness.hpp"

#include <elf.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>

namespace pyxray::it {

namespace fs = std::filesystem;

namespace {

// "3.11.7" -> {3, 11, 7}, for ordering; non-numeric parts count as 0.
std::vector<int> version_key(const std::string& text) {
  std::vector<int> key;
  std::string part;
  for (char c : text + ".") {
    if (c == '.') {
      key.push_back(std::atoi(part.c_str()));
      part.clear();
    } else {
      part += c;
    }
  }
  return key;
}

std::string sanitize(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

}  // namespace

std::vector<Interpreter> pyenv_interpreters() {
  const char* env = std::getenv("PYENV_ROOT");
  const fs::path root = env && *env ? env : "/root/.pyenv";
  static const std::regex exe_name(R"(python(\d+)\.(\d+))");

  std::vector<std::pair<std::vector<int>, Interpreter>> found;
  std::error_code ec;
  for (const auto& version : fs::directory_iterator(root / "versions", ec)) {
    // pyenv-virtualenv environments are symlinks to real versions: skip the duplicates.
    if (version.is_symlink() || !version.is_directory()) continue;
    for (const auto& exe : fs::directory_iterator(version.path() / "bin", ec)) {
      std::smatch m;
      const std::string file = exe.path().filename().string();
      if (!std::regex_match(file, m, exe_name) || access(exe.path().c_str(), X_OK) != 0) continue;
      Interpreter interp;
      const std::string dir = version.path().filename().string();
      interp.name = "py" + sanitize(dir);
      interp.path = exe.path();
      interp.major = std::stoi(m[1]);
      interp.minor = std::stoi(m[2]);
      found.emplace_back(version_key(dir), interp);
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Interpreter> result;
  for (auto& [key, interp] : found) result.push_back(std::move(interp));
  return result;
}

std::vector<Interpreter> sid_interpreters() {
  std::vector<Interpreter> result;
  for (int minor : {14, 15}) {
    const std::string exe = "python3." + std::to_string(minor);
    result.push_back(
        Interpreter{"sid_3_" + std::to_string(minor), sid_root() / "usr/bin" / exe, 3, minor, true, sid_root()});
  }
  return result;
}

std::vector<Interpreter> all_interpreters() {
  auto result = pyenv_interpreters();
  result.push_back(Interpreter{"debian_3_11", kDebianPython, 3, 11, true, {}});
  for (auto& i : sid_interpreters()) result.push_back(std::move(i));
  return result;
}

std::vector<Interpreter> model_interpreters() {
  auto pyenv = pyenv_interpreters();
  std::vector<Interpreter> result;
  if (!pyenv.empty()) result.push_back(pyenv.front());
  result.push_back(Interpreter{"debian_3_11", kDebianPython, 3, 11, true, {}});
  if (pyenv.size() > 1) result.push_back(pyenv.back());
  result.push_back(sid_interpreters().front());
  return result;
}

std::optional<std::string> gnu_build_id(const fs::path& elf) {
  std::ifstream in(elf, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64)
    return std::nullopt;
  // The build id lives in a PT_NOTE segment as an NT_GNU_BUILD_ID note named "GNU".
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + i * eh.e_phentsize));
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof ph)) return std::nullopt;
    if (ph.p_type != PT_NOTE) continue;
    std::string notes(ph.p_filesz, '\0');
    in.seekg(static_cast<std::streamoff>(ph.p_offset));
    if (!in.read(notes.data(), static_cast<std::streamsize>(notes.size()))) return std::nullopt;
    std::size_t pos = 0;
    const auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
    while (pos + sizeof(Elf64_Nhdr) <= notes.size()) {
      Elf64_Nhdr nh{};
      std::memcpy(&nh, notes.data() + pos, sizeof nh);
      const std::size_t name_at = pos + sizeof nh, desc_at = name_at + align4(nh.n_namesz);
      if (desc_at + nh.n_descsz > notes.size()) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && notes.compare(name_at, 3, "GNU") == 0) {
        static const char hex[] = "0123456789abcdef";
        std::string id;
        for (std::size_t k = 0; k < nh.n_descsz; ++k) {
          auto byte = static_cast<unsigned char>(notes[desc_at + k]);
          id += hex[byte >> 4];
          id += hex[byte & 15];
        }
        return id;
      }
      pos = desc_at + align4(nh.n_descsz);
    }
  }
  return std::nullopt;
}

std::optional<fs::path> build_id_debug_file(const fs::path& elf) {
  auto id = gnu_build_id(elf);
  if (!id || id->size() < 3) return std::nullopt;
  fs::path debug = fs::path("/usr/lib/debug/.build-id") / id->substr(0, 2) / (id->substr(2) + ".debug");
  if (!fs::exists(debug)) return std::nullopt;
  return debug;
}

std::optional<std::vector<std::string>> elf_section_names(const fs::path& elf) {
  std::ifstream in(elf, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr))
    return std::nullopt;
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  in.seekg(static_cast<std::streamoff>(eh.e_shoff));
  if (eh.e_shnum && !in.read(reinterpret_cast<char*>(sections.data()),
                             static_cast<std::streamsize>(sections.size() * sizeof(Elf64_Shdr))))
    return std::nullopt;
  std::vector<std::string> names;
  if (sections.empty()) return names;
  if (eh.e_shstrndx >= sections.size()) return std::nullopt;
  const Elf64_Shdr& strtab = sections[eh.e_shstrndx];
  std::string strings(strtab.sh_size, '\0');
  in.seekg(static_cast<std::streamoff>(strtab.sh_offset));
  if (!in.read(strings.data(), static_cast<std::streamsize>(strings.size()))) return std::nullopt;
  for (const auto& sh : sections) {
    if (sh.sh_name >= strings.size()) return std::nullopt;
    names.emplace_back(strings.c_str() + sh.sh_name);
  }
  return names;
}

std::optional<std::vector<std::string>> elf_debug_sections(const fs::path& elf) {
  auto names = elf_section_names(elf);
  if (!names) return std::nullopt;
  std::vector<std::string> debug;
  for (const auto& n : *names)
    if (n == ".symtab" || n == ".gnu_debugdata" || n.rfind(".debug_", 0) == 0 || n.rfind(".zdebug_", 0) == 0)
      debug.push_back(n);
  return debug;
}

fs::path pyenv_prefix(const Interpreter& interp) { return interp.path.parent_path().parent_path(); }

std::optional<fs::path> pyenv_libpython(const Interpreter& interp) {
  const std::string stem = "libpython" + std::to_string(interp.major) + "." + std::to_string(interp.minor);
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pyenv_prefix(interp) / "lib", ec)) {
    const std::string file = entry.path().filename().string();
    // libpython3.11.so.1.0, libpython3.6m.so.1.0 (not libpython3.so, the stable-ABI stub).
    if (file.rfind(stem, 0) == 0 && file.size() > 7 && file.compare(file.size() - 7, 7, ".so.1.0") == 0 &&
        (file == stem + ".so.1.0" || file == stem + "m.so.1.0"))
      found.push_back(entry.path());
  }
  if (found.size() != 1) return std::nullopt;
  return found.front();
}

}  // namespace pyxray::it
