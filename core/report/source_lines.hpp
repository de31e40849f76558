// Source text for frames: the files the target ran, as the target sees them (a live process's through
// /proc/PID/root, which may be another mount namespace's; a core's by the paths it names).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pyxray {

class Target;

class SourceLines {
 public:
  // Without a target (or for a core) the paths are read as given. also_as_given: a path the
  // target's view cannot read (the process has exited since, or /proc is not ours) is tried as it
  // is, here, if it is absolute (py-sample's line views, written after the target may have gone).
  explicit SourceLines(Target* target = nullptr, bool also_as_given = false)
      : target_(target), also_as_given_(also_as_given) {}
  // Line `line` (1-based) of `path` without its indentation, or nullopt when unreadable.
  std::optional<std::string> line(const std::string& path, int line);
  // The whole file as lines (empty when unreadable), for listings.
  const std::vector<std::string>* lines(const std::string& path);

 private:
  Target* target_ = nullptr;
  bool also_as_given_ = false;
  std::unordered_map<std::string, std::optional<std::vector<std::string>>> files_;
};

// A source line made safe to show: invalid UTF-8 and control characters (C0 but TAB, and DEL) become
// U+FFFD, and TABs are expanded to the next multiple of 8 columns.
std::string printable_source_line(std::string_view raw);

}  // namespace pyxray
