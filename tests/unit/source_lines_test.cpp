// SourceLines reads files the target names (co_filename): anything that is not a regular file must be
// refused without blocking or reading forever.
#include "report/source_lines.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace pyxray {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  std::string templ = (fs::temp_directory_path() / "pyxray-source-XXXXXX").string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  return templ;
}

TEST(SourceLines, ReadsLinesOfARegularFile) {
  fs::path dir = temp_dir();
  { std::ofstream(dir / "a.py", std::ios::binary) << "import os\r\n\n    x = 1  \nlast"; }
  SourceLines s;
  const auto* all = s.lines((dir / "a.py").string());
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(*all, (std::vector<std::string>{"import os", "", "    x = 1  ", "last"}));
  EXPECT_EQ(s.line((dir / "a.py").string(), 3), "x = 1");
  EXPECT_EQ(s.line((dir / "a.py").string(), 5), std::nullopt);
  fs::remove_all(dir);
}

TEST(SourceLines, RefusesWhatIsNotARegularFile) {
  fs::path dir = temp_dir();
  ASSERT_EQ(::mkfifo((dir / "fifo.py").c_str(), 0600), 0);
  auto start = std::chrono::steady_clock::now();
  SourceLines s;
  // A FIFO nobody writes to would block open(); /dev/zero and /dev/urandom never end.
  for (const char* path : {"fifo.py", "/dev/zero", "/dev/urandom", "/proc/self", "/nonexistent/x.py"}) {
    std::string p = path[0] == '/' ? path : (dir / path).string();
    EXPECT_EQ(s.lines(p), nullptr) << p;
    EXPECT_EQ(s.line(p, 1), std::nullopt) << p;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pyxray
