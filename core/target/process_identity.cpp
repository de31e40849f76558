#include "target/process_identity.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <climits>

#include <fmt/format.h>

#include "target/target.hpp"

namespace pyxray {
namespace {

std::string read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The same file, seen from a container or from its host: "/usr/bin/python3.14" inside a chroot is
// "/var/cache/root/usr/bin/python3.14" outside it, and which of the two a process or a core names
// depends on who reads it.
bool same_executable(const std::string& a, const std::string& b) {
  if (a == b) return true;
  const std::string& shorter = a.size() < b.size() ? a : b;
  const std::string& longer = a.size() < b.size() ? b : a;
  return !shorter.empty() && shorter.front() == '/' &&
         longer.compare(longer.size() - shorter.size(), shorter.size(), shorter) == 0;
}

}  // namespace

std::optional<uint64_t> parse_start_ticks(std::string_view line) {
  auto paren = line.rfind(')');  // the command name (field 2) may hold anything, even ')'
  if (paren == std::string_view::npos) return std::nullopt;
  // Field 3 (the state) starts two characters after it; field 22 is 19 words later.
  std::size_t at = paren + 2;
  for (int field = 3; field < 22; ++field) {
    at = line.find(' ', at);
    if (at == std::string_view::npos) return std::nullopt;
    ++at;
  }
  uint64_t v = 0;
  auto end = line.find(' ', at);
  std::string_view word = line.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
  auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  if (ec != std::errc() || p != word.data() + word.size() || word.empty()) return std::nullopt;
  return v;
}

std::optional<uint64_t> proc_start_ticks(int pid) {
  return parse_start_ticks(read_small_file(fmt::format("/proc/{}/stat", pid)));
}

ProcessIdentity process_identity(Target& target) {
  ProcessIdentity id;
  id.pid = target.pid();
  if (target.is_live_local() && id.pid > 0) {
    id.source = "live";
    id.start_ticks = proc_start_ticks(static_cast<int>(id.pid)).value_or(0);
    id.boot_id = trim(read_small_file("/proc/sys/kernel/random/boot_id"));
    char buf[PATH_MAX];
    ssize_t n = ::readlink(fmt::format("/proc/{}/exe", id.pid).c_str(), buf, sizeof buf);
    if (n > 0) id.exe = std::string(buf, static_cast<std::size_t>(n));
  } else {
    id.source = "core";
  }
  if (id.exe.empty()) {
    // The debugger lists the main program first (a core's file list does too).
    auto objects = target.loaded_objects();
    if (!objects.empty()) id.exe = objects.front().path;
  }
  return id;
}

SameProcess same_process(const ProcessIdentity& a, const ProcessIdentity& b) {
  if (a.pid != b.pid || a.pid == 0) return {false, true};
  if (a.source == "live" && b.source == "live") {
    // Same boot, same pid, same start time: the same run, whatever the executable says now.
    bool same = a.boot_id == b.boot_id && a.start_ticks == b.start_ticks;
    return {same, true};
  }
  // A core records neither the boot nor the start time.
  return {same_executable(a.exe, b.exe), false};
}

std::string describe(const ProcessIdentity& p) {
  std::string what =
      p.source == "core" ? fmt::format("the core of process {}", p.pid) : fmt::format("process {}", p.pid);
  std::string more;
  if (!p.exe.empty()) more = p.exe;
  if (p.start_ticks) more += fmt::format("{}started {} ticks after boot", more.empty() ? "" : ", ", p.start_ticks);
  return more.empty() ? what : fmt::format("{} ({})", what, more);
}

}  // namespace pyxray
