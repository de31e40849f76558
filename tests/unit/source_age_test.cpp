// The line views' source as the target sees it: the start time of a process, files modified after it
// (core/sample/source_age.cpp), and SourceLines reading a path as given when the target's view of
// it is gone (a process that exited). Tested on this process, behind a Target that knows nothing.
#include "sample/source_age.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "report/source_lines.hpp"
#include "target/target.hpp"

namespace pyxray {
namespace {

namespace fs = std::filesystem;

// A live local target that is process `id` (this one by default), with nothing else.
class PidTarget : public Target {
 public:
  explicit PidTarget(int id = static_cast<int>(::getpid())) : id_(id) {}
  int pid() const override { return id_; }
  bool is_live_local() const override { return true; }
  std::size_t read_memory(uint64_t, std::span<std::byte>) override { return 0; }
  std::optional<uint64_t> symbol_address(std::string_view) override { return std::nullopt; }
  std::optional<int64_t> type_offset(std::string_view, std::string_view) override { return std::nullopt; }
  std::vector<NativeThread> threads() override { return {}; }
  std::optional<int64_t> selected_thread() override { return std::nullopt; }
  std::vector<LoadedObject> loaded_objects() override { return {}; }

 private:
  int id_;
};

// A pid no process has: above the kernel's pid_max limit (2^22).
constexpr int kNoProcess = (1 << 22) + 1;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

fs::path temp_file(const char* name) {
  std::string templ = (fs::temp_directory_path() / "pyxray-age-XXXXXX").string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  const fs::path p = fs::path(templ) / name;
  std::ofstream(p) << "x = 1\n";
  return p;
}

TEST(SourceAge, ThisProcessStartedBeforeNow) {
  const auto start = process_start_time(static_cast<int>(::getpid()));
  ASSERT_TRUE(start);
  // Boot time is in whole seconds; the test binary has not run for an hour.
  EXPECT_LE(*start, now_seconds() + 1.0);
  EXPECT_GE(*start, now_seconds() - 3600.0);
  EXPECT_FALSE(process_start_time(kNoProcess));
  EXPECT_FALSE(process_start_time(0));
}

TEST(SourceAge, FilesModifiedAfterTheStartAreChanged) {
  const fs::path file = temp_file("mod.py");
  PidTarget self;
  auto changed = changed_since_start(self);
  const auto start = *process_start_time(self.pid());
  auto set_mtime = [&](double seconds_since_epoch) {
    timespec times[2];
    times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(seconds_since_epoch);
    times[0].tv_nsec = times[1].tv_nsec = 0;
    ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  };
  set_mtime(start + 60);
  EXPECT_TRUE(changed(file.string()));
  set_mtime(start - 60);
  EXPECT_FALSE(changed(file.string()));
  EXPECT_FALSE(changed((file.parent_path() / "missing.py").string()));
  // A process that is gone: nothing can be told.
  PidTarget gone(kNoProcess);
  set_mtime(now_seconds());
  EXPECT_FALSE(changed_since_start(gone)(file.string()));
  fs::remove_all(file.parent_path());
}

TEST(SourceAge, SourceLinesReadsThePathAsGivenOnlyWhenAsked) {
  const fs::path file = temp_file("gone.py");
  PidTarget gone(kNoProcess);  // /proc/PID/root of no process: the target's view cannot be read
  SourceLines strict(&gone);
  EXPECT_EQ(strict.lines(file.string()), nullptr);
  SourceLines fallback(&gone, /*also_as_given=*/true);
  ASSERT_NE(fallback.lines(file.string()), nullptr);
  EXPECT_EQ(fallback.line(file.string(), 1), "x = 1");
  // A relative path was relative to the target's working directory: never read from ours.
  const fs::path here = fs::current_path();
  fs::current_path(file.parent_path());
  EXPECT_EQ(fallback.lines("gone.py"), nullptr);
  fs::current_path(here);
  fs::remove_all(file.parent_path());
}

}  // namespace
}  // namespace pyxray
