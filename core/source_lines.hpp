// Source text for frames, read from the debugger host's file system (the files the target ran).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace pyxray {

class SourceLines {
 public:
  // Line `line` (1-based) of `path` without its indentation, or nullopt when unreadable.
  std::optional<std::string> line(const std::string& path, int line);
  // The whole file as lines (empty when unreadable), for listings.
  const std::vector<std::string>* lines(const std::string& path);

 private:
  std::unordered_map<std::string, std::optional<std::vector<std::string>>> files_;
};

}  // namespace pyxray
