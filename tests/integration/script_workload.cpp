#include "script_workload.hpp"

#include <sys/wait.h>
#include <stdexcept>
#include <thread>

namespace pyxray::it {

namespace fs = std::filesystem;

namespace {

constexpr auto kReadyTimeout = 30s;  // the scripts give up after 20 s themselves
constexpr auto kReporterExitTimeout = 10s;
constexpr int kWorkloadLifetimeSeconds = 240;  // SIGALRM safety net inside the script

std::string exit_reason(std::optional<int> status) {
  if (!status) return "still running";
  if (WIFEXITED(*status)) return "exited with status " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return "killed by signal " + std::to_string(WTERMSIG(*status));
  return "stopped";
}

}  // namespace

std::unique_ptr<ScriptWorkload> ScriptWorkload::start(const fs::path& executable, const EnvOverrides& env,
                                                      const std::string& script, const std::vector<std::string>& args) {
  std::unique_ptr<ScriptWorkload> w(new ScriptWorkload());
  const fs::path script_path = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads" / script;
  const fs::path truth_path = w->dir() / "truth.json";
  const fs::path err_path = w->dir() / "workload.err";
  std::vector<std::string> argv{executable.string(), "-E", "-s", script_path.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(truth_path.string());
  argv.push_back(std::to_string(kWorkloadLifetimeSeconds));
  w->proc_ = std::make_unique<Process>(argv, w->dir() / "workload.out", err_path, env);

  const auto fail = [&](const std::string& what) {
    throw std::runtime_error(what + " [" + executable.string() + " " + script + ", " + exit_reason(w->proc_->status()) +
                             "]\n--- workload stderr ---\n" + truncate_middle(read_text(err_path)));
  };
  const auto ready_deadline = Clock::now() + kReadyTimeout;
  while (!fs::exists(truth_path)) {
    if (!w->proc_->running()) fail(script + " died before writing its ground truth");
    if (Clock::now() > ready_deadline) fail(script + " wrote no ground truth within 30 s");
    std::this_thread::sleep_for(20ms);
  }
  try {
    w->truth_ = nlohmann::json::parse(read_text(truth_path));
    if (w->truth_.at("pid").get<int>() != w->pid()) fail("ground truth from another process");
    if (!w->truth_.at("threads").is_array()) fail("ground truth without a threads list");
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("bad ground truth: ") + e.what() + "\n" + read_text(truth_path));
  }
  const std::size_t threads = w->truth_["threads"].size();
  const auto exit_deadline = Clock::now() + kReporterExitTimeout;
  while (task_ids(w->pid()).size() != threads) {
    if (!w->proc_->running()) fail(script + " died after writing its ground truth");
    if (Clock::now() > exit_deadline)
      fail("process still has " + std::to_string(task_ids(w->pid()).size()) + " threads, expected " +
           std::to_string(threads) + " after the reporter's exit");
    std::this_thread::sleep_for(10ms);
  }
  return w;
}

std::vector<std::string> stopped_threads(pid_t pid) {
  std::vector<std::string> out;
  for (pid_t tid : task_ids(pid)) {
    const char state = proc_state(pid, tid);
    if (state == 't' || state == 'T') out.push_back(std::to_string(tid) + ": state '" + state + "'");
  }
  return out;
}

}  // namespace pyxray::it
