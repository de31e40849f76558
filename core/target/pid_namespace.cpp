#include "target/pid_namespace.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pyxray {

std::unordered_map<int64_t, int64_t> host_tids_by_namespace_tid(int pid) {
  std::unordered_map<int64_t, int64_t> out;
  if (pid <= 0) return out;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path tasks = fs::path("/proc") / std::to_string(pid) / "task";
  int seen = 0;
  for (const auto& task : fs::directory_iterator(tasks, ec)) {
    if (++seen > 1 << 16) break;  // bounded: no real process has more threads
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (!line.starts_with("NSpid:")) continue;
      std::istringstream ids(line.substr(6));
      std::vector<int64_t> chain;
      for (int64_t id; ids >> id;) chain.push_back(id);
      if (chain.size() >= 2 && chain.front() != chain.back()) out[chain.back()] = chain.front();
      break;
    }
  }
  return out;
}

}  // namespace pyxray
