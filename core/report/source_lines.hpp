// Source text for frames: the files the target ran, as the target sees them (a live process's through
// /proc/PID/root, which may be another mount namespace's; a core's by the paths it names).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace pyxray {

class Target;

class SourceLines {
 public:
  // Without a target (or for a core) the paths are read as given.
  explicit SourceLines(Target* target = nullptr) : target_(target) {}
  // Line `line` (1-based) of `path` without its indentation, or nullopt when unreadable.
  std::optional<std::string> line(const std::string& path, int line);
  // The whole file as lines (empty when unreadable), for listings.
  const std::vector<std::string>* lines(const std::string& path);

 private:
  Target* target_ = nullptr;
  std::unordered_map<std::string, std::optional<std::vector<std::string>>> files_;
};

}  // namespace pyxray
