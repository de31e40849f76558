#include "sample/source_age.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "target/process_files.hpp"
#include "target/target.hpp"

namespace pyxray {

std::optional<double> process_start_time(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream stat_file(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the last
  // ')'; starttime is field 22, the 20th after it.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 0; i < 20 && fields >> field; ++i) {
  }
  std::ifstream proc_stat("/proc/stat");
  std::string line;
  double boot = -1;
  while (std::getline(proc_stat, line))
    if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (!fields || boot < 0 || ticks <= 0) return std::nullopt;
  try {
    return boot + std::stod(field) / static_cast<double>(ticks);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::function<bool(const std::string&)> changed_since_start(Target& target) {
  const auto started = process_start_time(target.pid());
  if (!started) return [](const std::string&) { return false; };
  return [&target, start = *started](const std::string& file) {
    struct stat st {};
    if (::stat(target_file_path(target, file).c_str(), &st) != 0) return false;
    const double modified = static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) * 1e-9;
    // Boot time is in whole seconds: a second's slack keeps a file written just before the start
    // from counting as changed.
    return modified > start + 1.0;
  };
}

}  // namespace pyxray
