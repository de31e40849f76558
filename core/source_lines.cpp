#include "source_lines.hpp"

#include <fstream>
#include <sstream>

namespace pyxray {

const std::vector<std::string>* SourceLines::lines(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) {
    std::optional<std::vector<std::string>> content;
    std::ifstream in(path, std::ios::binary);
    if (in) {
      in.seekg(0, std::ios::end);
      auto size = in.tellg();
      in.seekg(0);
      if (size >= 0 && static_cast<std::size_t>(size) <= kMaxFileSize) {
        content.emplace();
        std::string l;
        while (std::getline(in, l)) {
          if (!l.empty() && l.back() == '\r') l.pop_back();
          content->push_back(std::move(l));
        }
      }
    }
    it = files_.emplace(path, std::move(content)).first;
  }
  return it->second ? &*it->second : nullptr;
}

std::optional<std::string> SourceLines::line(const std::string& path, int line) {
  const auto* all = lines(path);
  if (!all || line < 1 || static_cast<std::size_t>(line) > all->size()) return std::nullopt;
  const std::string& l = (*all)[line - 1];
  auto start = l.find_first_not_of(" \t\f");
  if (start == std::string::npos) return std::string();
  auto end = l.find_last_not_of(" \t\f");
  return l.substr(start, end - start + 1);
}

}  // namespace pyxray
