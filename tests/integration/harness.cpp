#include "harness.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pyxray::it {

namespace fs = std::filesystem;

TempDir::TempDir(const fs::path& base) {
  const char* env = std::getenv("TMPDIR");
  std::string tmpl = (base.empty() ? std::string(env && *env ? env : "/tmp") : base.string()) + "/pyxray-it-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path sid_root() {
  const char* env = std::getenv("PYXRAY_SID_ROOT");
  return env && *env ? fs::path(env) : fs::path("/var/cache/pyxray/sid-root");
}

std::optional<fs::path> container_root_of(const fs::path& program) {
  const std::string root = sid_root().string() + "/";
  if (program.string().rfind(root, 0) == 0) return sid_root();
  return std::nullopt;
}

namespace {

std::vector<std::string> argv_in_container(const std::vector<std::string>& argv) {
  auto root = argv.empty() ? std::nullopt : container_root_of(argv[0]);
  if (!root) return argv;
  const char* tmp = std::getenv("TMPDIR");
  std::vector<std::string> wrapped{(fs::path(PYXRAY_SOURCE_DIR) / "tests/integration/tools/in-root").string(),
                                   root->string(),
                                   tmp && *tmp ? tmp : "/tmp",
                                   PYXRAY_SOURCE_DIR,
                                   "--",
                                   argv[0].substr(root->string().size())};
  wrapped.insert(wrapped.end(), argv.begin() + 1, argv.end());
  return wrapped;
}

}  // namespace

Process::Process(const std::vector<std::string>& program_argv, const fs::path& stdout_path, const fs::path& stderr_path,
                 const EnvOverrides& env) {
  const std::vector<std::string> argv = argv_in_container(program_argv);
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [key, value] : env) overridden = overridden || key == name;
    if (!overridden) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out = stdout_path.string(), err = stderr_path.string();
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed: " + std::string(strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the parent died before prctl took effect
    int in_fd = open("/dev/null", O_RDONLY);
    int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) _exit(125);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execvpe(args[0], args.data(), envp.data());
    const char msg[] = "exec failed: ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, strerror(errno), strlen(strerror(errno)));
    (void)!write(2, ": ", 2);
    (void)!write(2, args[0], strlen(args[0]));
    _exit(127);
  }
  // Also set the group from the parent, so that kill(-pid) works even before the child runs.
  setpgid(pid, pid);
  pid_ = pid;
}

Process::~Process() { kill_group(); }

bool Process::running() {
  if (status_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  return r == 0;
}

bool Process::wait_for(Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

void Process::kill_group() {
  if (pid_ <= 0) return;
  // The group may outlive its leader (e.g. a forked helper), so kill it whether or not the leader
  // has exited.
  ::kill(-pid_, SIGKILL);
  if (!status_) {
    int st = 0;
    while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    status_ = st;
  }
}

std::string CommandResult::describe() const {
  std::ostringstream s;
  if (timed_out) s << "TIMED OUT after " << seconds << " s (killed)\n";
  else s << "exit code " << exit_code << " after " << seconds << " s\n";
  s << "--- stdout ---\n" << truncate_middle(out) << "\n--- stderr ---\n" << truncate_middle(err) << "\n";
  return s.str();
}

CommandResult run_command(const std::vector<std::string>& argv, const fs::path& work_dir, Clock::duration timeout,
                          const EnvOverrides& env) {
  static int counter = 0;
  const std::string stem = "cmd" + std::to_string(++counter);
  const fs::path out_path = work_dir / (stem + ".out"), err_path = work_dir / (stem + ".err");
  CommandResult result;
  const auto start = Clock::now();
  {
    Process proc(argv, out_path, err_path, env);
    if (!proc.wait_for(timeout)) {
      result.timed_out = true;
      proc.kill_group();
    } else {
      int st = *proc.status();
      result.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      proc.kill_group();  // stray children of the command, if any
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.out = read_text(out_path);
  result.err = read_text(err_path);
  return result;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<pid_t> task_ids(pid_t pid) {
  std::vector<pid_t> ids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
    ids.push_back(static_cast<pid_t>(std::stol(entry.path().filename().string())));
  return ids;
}

std::vector<std::string> left_running_problems(pid_t pid) {
  std::vector<std::string> problems;
  const std::string status = read_text("/proc/" + std::to_string(pid) + "/status");
  if (::kill(pid, 0) != 0 || status.empty()) return {"process " + std::to_string(pid) + " is gone"};
  for (pid_t tid : task_ids(pid)) {
    const char state = proc_state(pid, tid);
    if (state == 't' || state == 'T')
      problems.push_back("thread " + std::to_string(tid) + " left in state '" + state + "'");
  }
  // The process-wide and the main thread's pending signals: a SIGSTOP left behind shows here.
  for (const char* field : {"TracerPid:\t0\n", "ShdPnd:\t0000000000000000\n", "SigPnd:\t0000000000000000\n"}) {
    if (status.find(field) == std::string::npos)
      problems.push_back("expected \"" + std::string(field, std::strlen(field) - 1) + "\" in /proc/" +
                         std::to_string(pid) + "/status:\n" + status);
  }
  return problems;
}

char proc_state(pid_t pid, std::optional<pid_t> tid) {
  std::string path = "/proc/" + std::to_string(pid);
  if (tid) path += "/task/" + std::to_string(*tid);
  for (const auto& line : split_lines(read_text(path + "/status"))) {
    if (line.rfind("State:", 0) == 0) {
      auto pos = line.find_first_not_of(" \t", 6);
      return pos == std::string::npos ? '\0' : line[pos];
    }
  }
  return '\0';
}

std::optional<unsigned long long> cpu_ticks(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  // Fields after the parenthesised command name (which may itself contain spaces or parens).
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (f.size() < 13) return std::nullopt;
  return std::stoull(f[11]) + std::stoull(f[12]);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::string truncate_middle(const std::string& text, std::size_t max_chars) {
  if (text.size() <= max_chars) return text;
  const std::size_t half = max_chars / 2;
  return text.substr(0, half) + "\n[... " + std::to_string(text.size() - 2 * half) + " characters omitted ...]\n" +
         text.substr(text.size() - half);
}

}  // namespace pyxray::it
