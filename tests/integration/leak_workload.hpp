// tests/workloads/heap_leak.py as a test drives it: started in a temporary directory, advanced stage by
// stage through its FIFO, its ground truth (truthN.json) read at each stage. Shared by the
// py-heap-diff tests and the py-referrers --path / py-biggest --deep tests.
#pragma once

#include "harness.hpp"
#include "interpreters.hpp"
#include "variants.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

namespace pyxray::it {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr auto kStageTimeout = 90s;
constexpr int kWorkloadLifetimeSeconds = 300;

// A running heap_leak.py; the destructor kills its process group, then the directory goes.
class LeakWorkload {
 public:
  static std::unique_ptr<LeakWorkload> start(const Interpreter& interp) {
    std::unique_ptr<LeakWorkload> w(new LeakWorkload());
    const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/heap_leak.py";
    w->proc_ =
        std::make_unique<Process>(std::vector<std::string>{interp.path.string(), "-E", "-s", script.string(),
                                                           w->dir().string(), std::to_string(kWorkloadLifetimeSeconds)},
                                  w->dir() / "workload.out", w->dir() / "workload.err");
    w->wait_truth(1);
    return w;
  }

  // Starts the next stage and waits for its ground truth.
  void next() {
    int fd = ::open((dir() / "go").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fail("cannot open the workload's FIFO");
    const char go = 'g';
    const bool written = ::write(fd, &go, 1) == 1;
    ::close(fd);
    if (!written) fail("cannot write to the workload's FIFO");
    wait_truth(stage_ + 1);
  }

  pid_t pid() const { return proc_->pid(); }
  bool running() const { return proc_->running(); }
  const json& truth() const { return truth_; }
  const fs::path& dir() const { return dir_.path(); }

 private:
  LeakWorkload() = default;
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + "\n--- workload stderr ---\n" + truncate_middle(read_text(dir() / "workload.err")));
  }
  void wait_truth(int stage) {
    const fs::path path = dir() / ("truth" + std::to_string(stage) + ".json");
    const auto deadline = Clock::now() + kStageTimeout;
    while (!fs::exists(path)) {  // written by rename
      if (!proc_->running()) fail("heap_leak.py died before stage " + std::to_string(stage));
      if (Clock::now() > deadline) fail("heap_leak.py did not reach stage " + std::to_string(stage));
      std::this_thread::sleep_for(50ms);
    }
    truth_ = json::parse(read_text(path));
    if (truth_.at("pid").get<int>() != pid()) fail("ground truth from another process");
    stage_ = stage;
  }

  TempDir dir_;  // declared first: destroyed after the process is gone
  std::unique_ptr<Process> proc_;
  json truth_;
  int stage_ = 0;
};

// The interpreters issue 18 names: pyenv's 3.8, 3.11, 3.12 and 3.13, and sid's 3.14 and 3.15.
inline std::vector<Interpreter> leak_interpreters() {
  std::vector<Interpreter> out;
  for (const auto& i : pyenv_interpreters())
    if (i.major == 3 && (i.minor == 8 || i.minor == 11 || i.minor == 12 || i.minor == 13)) out.push_back(i);
  for (const auto& i : sid_interpreters()) out.push_back(i);
  return out;
}

// The same as variants with their debuginfo (for run_on_core).
inline std::vector<Variant> leak_variants() {
  std::vector<Variant> out;
  for (const auto& i : leak_interpreters())
    for (auto& v : all_variants())
      if (v.has_debuginfo() && v.interp.path == i.path) out.push_back(v);
  return out;
}

}  // namespace pyxray::it
