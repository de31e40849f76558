#include "target/process_files.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "target/address_space.hpp"
#include "target/elf_file.hpp"

namespace pyxray {

namespace {

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// gdb names files read through the target "target:/usr/bin/python3.14".
std::string without_target_prefix(std::string path) {
  if (path.rfind("target:", 0) == 0) path.erase(0, 7);
  return path;
}

}  // namespace

std::string target_file_path(Target& target, const std::string& path) {
  if (!target.is_live_local() || target.pid() <= 0 || path.empty()) return path;
  if (path.rfind("target:", 0) == 0) return target_file_path(target, path.substr(7));
  if (path.front() == '/') return fmt::format("/proc/{}/root{}", target.pid(), path);
  return fmt::format("/proc/{}/cwd/{}", target.pid(), path);
}

std::vector<MappedObject> mapped_objects(int pid, const std::function<bool(const MappedObject&)>& parse) {
  std::vector<MappedObject> out;
  std::ifstream in(fmt::format("/proc/{}/maps", pid));
  if (!in) return out;
  std::stringstream text;
  text << in.rdbuf();
  const std::string exe = read_link(fmt::format("/proc/{}/exe", pid));
  std::set<std::string> seen;
  for (const auto& r : parse_proc_maps(text.str())) {
    if (r.offset != 0 || r.path.empty() || r.path.front() != '/' || !seen.insert(r.path).second) continue;
    MappedObject obj{r.path, r.start, nullptr, 0};
    if (!parse(obj)) {
      out.push_back(std::move(obj));
      continue;
    }
    auto elf = read_elf(fmt::format("/proc/{}/root{}", pid, r.path));
    // A file replaced or deleted since it was mapped: the mapping itself still reads it.
    if (!elf) elf = read_elf(fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, r.start, r.end));
    if (elf) {
      if (auto bias = load_bias(*elf, r.start)) {
        obj.bias = *bias;
        obj.elf = std::make_shared<const ElfFile>(std::move(*elf));
      }
    }
    out.push_back(std::move(obj));
  }
  // The executable first: the core takes the first object for a static build's interpreter.
  auto it = std::find_if(out.begin(), out.end(), [&](const MappedObject& o) { return o.path == exe; });
  if (it != out.end()) std::rotate(out.begin(), it, it + 1);
  return out;
}

const std::vector<MappedObject>& ProcessFilesTarget::objects() {
  if (objects_pid_ != inner_->pid()) {
    objects_pid_ = inner_->pid();
    symbols_.clear();
    debugger_paths_.clear();
    debugger_bases_.clear();
    for (const auto& o : inner_->loaded_objects()) {
      debugger_paths_.insert(without_target_prefix(o.path));
      if (o.base) debugger_bases_.insert(*o.base);
    }
    // Only the objects the debugger holds no module for are read: what it has loaded, it has searched.
    objects_ = mapped_objects(objects_pid_, [&](const MappedObject& o) { return !debugger_has(o); });
  }
  return objects_;
}

std::optional<uint64_t> ProcessFilesTarget::symbol_address(std::string_view name) {
  if (auto a = inner_->symbol_address(name)) return a;
  if (!fallback_allowed()) return std::nullopt;
  const auto& objs = objects();
  if (auto it = symbols_.find(name); it != symbols_.end()) return it->second;
  std::optional<uint64_t> found;
  // CPython's own definition wins over another object's of the same name.
  for (int pass = 0; pass < 2 && !found; ++pass) {
    for (const auto& o : objs) {
      if (!o.elf) continue;
      const bool python = base_name(o.path).find("python") != std::string_view::npos;
      if ((pass == 0) != python) continue;
      if (auto v = o.elf->dynamic_symbol(std::string(name))) {
        found = *v + o.bias;
        break;
      }
    }
  }
  if (found) used_fallback_ = true;
  symbols_.emplace(std::string(name), found);
  return found;
}

std::vector<LoadedObject> ProcessFilesTarget::loaded_objects() {
  auto list = inner_->loaded_objects();
  if (!list.empty() || !fallback_allowed()) return list;
  for (const auto& o : objects()) list.push_back({o.path, o.start, std::nullopt});
  return list;
}

bool ProcessFilesTarget::debugger_has(const MappedObject& o) const {
  return debugger_paths_.count(o.path) || debugger_bases_.count(o.start);
}

bool ProcessFilesTarget::debugger_lacks_executable() {
  if (!fallback_allowed() || objects().empty()) return false;
  return !debugger_has(objects().front());
}

std::optional<std::string> ProcessFilesTarget::note() {
  if (!used_fallback_ || !debugger_lacks_executable()) return std::nullopt;
  const int p = pid();
  const std::string exe = objects().front().path;
  const std::string ours = read_link("/proc/self/ns/mnt"), theirs = read_link(fmt::format("/proc/{}/ns/mnt", p));
  const bool other_namespace = !ours.empty() && !theirs.empty() && ours != theirs;
  const bool no_modules = inner_->loaded_objects().empty();
  return fmt::format("pyxray: note: the debugger has no module for {}{}; pyxray reads it through /proc/{}/root{}", exe,
                     other_namespace ? " (the process runs in another mount namespace)" : "", p,
                     no_modules ? "; native frames are unavailable" : "");
}

}  // namespace pyxray
