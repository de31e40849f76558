#include "workload.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pyxray::it {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Bounds for getting the workload ready; the workload itself gives up after 20 s.
constexpr auto kReadyTimeout = 30s;
constexpr auto kReporterExitTimeout = 10s;
// The workload ends itself (SIGALRM) after this long, in case nothing else kills it.
constexpr int kWorkloadLifetimeSeconds = 240;

std::string exit_reason(std::optional<int> status) {
  if (!status) return "still running";
  if (WIFEXITED(*status)) return "exited with status " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return "killed by signal " + std::to_string(WTERMSIG(*status));
  return "stopped";
}

}  // namespace

const ThreadTruth* GroundTruth::by_name(const std::string& name) const {
  for (const auto& t : threads)
    if (t.name == name) return &t;
  return nullptr;
}

GroundTruth parse_ground_truth(const json& j) {
  GroundTruth truth;
  truth.pid = j.at("pid").get<int>();
  truth.python = j.at("python").get<std::string>();
  const auto& vi = j.at("version_info");
  truth.major = vi.at(0).get<int>();
  truth.minor = vi.at(1).get<int>();
  truth.micro = vi.at(2).get<int>();
  for (const auto& jt : j.at("threads")) {
    ThreadTruth t;
    t.thread_id = jt.at("thread_id").get<uint64_t>();
    if (!jt.at("native_id").is_null()) t.native_id = jt.at("native_id").get<int64_t>();
    t.name = jt.at("name").get<std::string>();
    t.spinner = jt.at("spinner").get<bool>();
    for (const auto& jf : jt.at("frames")) {
      Frame f;
      f.function = jf.at("function").get<std::string>();
      if (!jf.at("qualname").is_null()) f.qualname = jf.at("qualname").get<std::string>();
      f.file = jf.at("file").get<std::string>();
      f.line = jf.at("line").get<int64_t>();
      t.frames.push_back(std::move(f));
    }
    truth.threads.push_back(std::move(t));
  }
  return truth;
}

std::unique_ptr<Workload> Workload::start(const Interpreter& interp, const Launch& launch) {
  std::unique_ptr<Workload> w(new Workload());
  const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/stacks.py";
  const fs::path truth_path = w->dir() / "truth.json";
  const fs::path err_path = w->dir() / "workload.err";
  // -E -s: no PYTHON* environment variables, no user site-packages: same process on every machine.
  const fs::path exe = launch.executable.empty() ? interp.path : launch.executable;
  w->proc_ =
      std::make_unique<Process>(std::vector<std::string>{exe.string(), "-E", "-s", script.string(), truth_path.string(),
                                                         std::to_string(kWorkloadLifetimeSeconds)},
                                w->dir() / "workload.out", err_path, launch.env);

  const auto fail = [&](const std::string& what) {
    throw std::runtime_error(what + " [" + exe.string() + ", " + exit_reason(w->proc_->status()) +
                             "]\n--- workload stderr ---\n" + truncate_middle(read_text(err_path)));
  };

  // 1. The ground truth appears (written atomically by rename).
  const auto ready_deadline = Clock::now() + kReadyTimeout;
  while (!fs::exists(truth_path)) {
    if (!w->proc_->running()) fail("workload died before writing its ground truth");
    if (Clock::now() > ready_deadline) fail("workload wrote no ground truth within 30 s");
    std::this_thread::sleep_for(20ms);
  }
  try {
    w->truth_ = parse_ground_truth(json::parse(read_text(truth_path)));
  } catch (const std::exception& e) {
    fail(std::string("bad ground truth: ") + e.what() + "\n" + read_text(truth_path));
  }
  if (w->truth_.pid != w->pid()) fail("ground truth pid " + std::to_string(w->truth_.pid) + " != spawned pid");

  // 2. The reporter thread has exited: the process holds exactly the reported threads.
  const auto exit_deadline = Clock::now() + kReporterExitTimeout;
  while (task_ids(w->pid()).size() != w->truth_.threads.size()) {
    if (!w->proc_->running()) fail("workload died after writing its ground truth");
    if (Clock::now() > exit_deadline)
      fail("process still has " + std::to_string(task_ids(w->pid()).size()) + " threads, expected " +
           std::to_string(w->truth_.threads.size()) + " after the reporter's exit");
    std::this_thread::sleep_for(10ms);
  }
  return w;
}

std::string gdb_thread_is(uint64_t pthread_id, std::optional<int64_t> native_id) {
  if (native_id) return "t.ptid[1] == " + std::to_string(*native_id);
  return "int.from_bytes(t.handle(), 'little') == " + std::to_string(pthread_id);
}

std::string gdb_thread_label(uint64_t pthread_id, std::optional<int64_t> native_id) {
  if (native_id) return "LWP " + std::to_string(*native_id) + ")";
  std::ostringstream hex;
  hex << "Thread 0x" << std::hex << pthread_id << " ";
  return hex.str();
}

fs::path gdb_plugin_path() {
  if (const char* env = std::getenv("PYXRAY_GDB_PLUGIN"); env && *env) return env;
  return fs::path(PYXRAY_BUILD_DIR) / "pyxray-gdb.py";
}

std::string gdb_program() {
  if (const char* env = std::getenv("PYXRAY_GDB"); env && *env) return env;
  return "gdb";
}

namespace {

// -nx keeps the user's gdbinit out. Disabling debuginfod keeps a stray DEBUGINFOD_URLS from turning
// the test into a network download; everything needed is installed locally.
std::vector<std::string> gdb_argv(const std::vector<std::string>& init_commands) {
  std::vector<std::string> argv{gdb_program(), "-nx", "-batch", "-iex", "set debuginfod enabled off"};
  for (const auto& c : init_commands) {
    argv.push_back("-iex");
    argv.push_back(c);
  }
  return argv;
}

void add_plugin_and_commands(std::vector<std::string>& argv, const std::vector<std::string>& commands) {
  argv.push_back("-x");
  argv.push_back(gdb_plugin_path().string());
  for (const auto& c : commands) {
    argv.push_back("-ex");
    argv.push_back(c);
  }
}

}  // namespace

std::vector<std::string> gdb_attach_argv(pid_t pid, const std::vector<std::string>& commands,
                                         const std::vector<std::string>& init_commands) {
  auto argv = gdb_argv(init_commands);
  argv.push_back("-p");
  argv.push_back(std::to_string(pid));
  add_plugin_and_commands(argv, commands);
  return argv;
}

CommandResult run_gdb(pid_t pid, const std::vector<std::string>& commands, const fs::path& work_dir,
                      Clock::duration timeout, const std::vector<std::string>& init_commands) {
  return run_command(gdb_attach_argv(pid, commands, init_commands), work_dir, timeout);
}

CommandResult run_gdb_core(const fs::path& executable, const fs::path& core, const std::vector<std::string>& commands,
                           const fs::path& work_dir, Clock::duration timeout,
                           const std::vector<std::string>& init_commands) {
  auto argv = gdb_argv(init_commands);
  argv.push_back(executable.string());
  argv.push_back(core.string());
  add_plugin_and_commands(argv, commands);
  return run_command(argv, work_dir, timeout);
}

void write_core(pid_t pid, const fs::path& core, const fs::path& work_dir) {
  auto argv = gdb_argv({});
  argv.insert(argv.end(), {"-p", std::to_string(pid), "-ex", "gcore " + core.string()});
  auto r = run_command(argv, work_dir, 120s);
  std::error_code ec;
  if (r.timed_out || r.exit_code != 0 || r.out.find("Saved corefile") == std::string::npos || !fs::exists(core, ec) ||
      fs::file_size(core, ec) == 0)
    throw std::runtime_error("gcore of process " + std::to_string(pid) + " into " + core.string() + " failed\n" +
                             r.describe());
}

void write_kernel_core(Workload& w, const fs::path& root, const fs::path& core) {
  write_kernel_core(
      w.pid(), [&w] { return w.alive(); }, root, core);
}

void write_kernel_core(pid_t pid, const std::function<bool()>& alive, const fs::path& root, const fs::path& core) {
  const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  if (prlimit(pid, RLIMIT_CORE, &unlimited, nullptr) != 0)
    throw std::runtime_error("prlimit(RLIMIT_CORE) on " + std::to_string(pid) + ": " + strerror(errno));
  for (const auto& stale : {root / "core", root / ("core." + std::to_string(pid))}) fs::remove(stale);
  if (::kill(pid, SIGABRT) != 0) throw std::runtime_error("kill(SIGABRT): " + std::string(strerror(errno)));
  const auto deadline = Clock::now() + 120s;
  while (alive() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  if (alive()) throw std::runtime_error("the workload did not end after SIGABRT");
  for (const auto& written : {root / ("core." + std::to_string(pid)), root / "core"}) {
    std::error_code ec;
    if (fs::exists(written, ec)) {
      fs::rename(written, core, ec);
      if (ec) {  // another file system: copy, then remove
        fs::copy_file(written, core, fs::copy_options::overwrite_existing);
        fs::remove(written);
      }
      return;
    }
  }
  throw std::runtime_error("the kernel wrote no core for " + std::to_string(pid) + " in " + root.string() +
                           " (core_pattern: " + read_text("/proc/sys/kernel/core_pattern") + ")");
}

std::optional<json> find_json_line(const std::string& out, std::string* error, const std::string& prefix) {
  for (const auto& line : split_lines(out)) {
    if (line.rfind(prefix, 0) != 0) continue;
    try {
      return json::parse(line);
    } catch (const std::exception& e) {
      *error = "the " + prefix + " line is not valid JSON: " + e.what();
      return std::nullopt;
    }
  }
  *error = "no stdout line starts with " + prefix;
  return std::nullopt;
}

std::vector<std::string> gdb_run_problems(const CommandResult& r, bool require_success) {
  std::vector<std::string> problems;
  if (r.timed_out) problems.push_back("gdb was killed after its timeout");
  else if (r.exit_code < 0) problems.push_back("gdb died by a signal");
  else if (require_success && r.exit_code != 0)
    problems.push_back("gdb exited with status " + std::to_string(r.exit_code));
  // The sanitizers' reports, from a PYXRAY_SANITIZE build's module in gdb (PYXRAY_GDB=gdb-asan).
  for (const char* bad :
       {"Traceback", "Python Exception", "Fatal signal", "pyxray: internal error", "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"})
    for (const auto* stream : {&r.out, &r.err})
      if (stream->find(bad) != std::string::npos)
        problems.push_back(std::string("\"") + bad + "\" on " + (stream == &r.out ? "stdout" : "stderr"));
  return problems;
}

std::vector<std::string> marked_script(const std::vector<std::string>& commands) {
  std::vector<std::string> script;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    script.push_back("echo @@CMD " + std::to_string(i) + "\\n");
    script.push_back(commands[i]);
  }
  script.push_back("echo @@CMD end\\n");
  return script;
}

std::vector<std::string> marked_outputs(const std::string& out, std::size_t commands) {
  std::vector<std::string> parts(commands);
  long current = -1;
  for (const auto& line : split_lines(out)) {
    if (line.rfind("@@CMD ", 0) == 0) {
      current = line == "@@CMD end" ? -1 : std::stol(line.substr(6));
      if (current >= static_cast<long>(commands)) current = -1;
      continue;
    }
    if (current >= 0) parts[static_cast<std::size_t>(current)] += line + "\n";
  }
  return parts;
}

std::vector<std::string> pyxray_lines(const CommandResult& r) {
  std::vector<std::string> lines;
  for (const auto* stream : {&r.out, &r.err})
    for (const auto& line : split_lines(*stream)) {
      auto first = line.find_first_not_of(" \t");
      if (first != std::string::npos && line.compare(first, 7, "pyxray:") == 0) lines.push_back(line.substr(first));
    }
  return lines;
}

}  // namespace pyxray::it
