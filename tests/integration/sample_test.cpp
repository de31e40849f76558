// End-to-end tests of `py-sample`: tests/workloads/sample_split.py splits its time between two
// pure-Python functions and measures the split itself (wall-clock time around each call, written to
// a log every 0.05 s); gdb samples it from outside with the plugin; the split in the profile must
// match the one the process measured over the same window. The other tests check what the brief of
// the command promises: the target is stopped afterwards exactly as before (same threads, same
// selected thread, nothing pending, no signal delivered to the program, running normally after
// detaching), Ctrl-C and a target that exits end sampling cleanly with the samples so far, the three
// output formats are well formed and hold exactly the recorded samples, and core files are refused.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "lldb_harness.hpp"
#include "script_workload.hpp"
#include "workload.hpp"

#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kShareA = 0.3;
constexpr double kMaxSplitError = 2.0;  // percentage points

// One line of the workload's log.
struct StatusLine {
  double t = 0, a = 0, b = 0;
  long rounds = 0;
  std::vector<int> signals;
};

// The first line of a py-sample summary.
struct Summary {
  long taken = 0, rounds = 0, recorded = 0, errors = 0, idle = 0;
  double seconds = 0, rate = 0;
  std::string text;  // the whole summary, for messages
};

std::optional<Summary> parse_summary(const std::string& out, std::size_t nth = 0) {
  static const std::regex first(
      R"(^py-sample: (\d+) thread samples? in (\d+) rounds? over ([0-9.]+) s \((\d+) Hz, \d+ Hz requested[^)]*\): (\d+) recorded, (\d+) errors \([^)]*\), (\d+) idle)");
  auto lines = split_lines(out);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_search(lines[i], m, first)) continue;
    if (nth-- > 0) continue;
    Summary s;
    s.taken = std::stol(m[1]);
    s.rounds = std::stol(m[2]);
    s.seconds = std::stod(m[3]);
    s.rate = std::stod(m[4]);
    s.recorded = std::stol(m[5]);
    s.errors = std::stol(m[6]);
    s.idle = std::stol(m[7]);
    for (std::size_t j = i; j < lines.size() && (j == i || lines[j].rfind("py-sample:", 0) != 0); ++j)
      s.text += lines[j] + "\n";
    return s;
  }
  return std::nullopt;
}

// Folded stacks: every line "frame;frame;... count", each frame "function (file:line)" or
// "function (file)". Returns stack -> count; *problem says what is wrong, if anything.
std::map<std::string, long> parse_folded(const fs::path& path, std::string* problem) {
  static const std::regex frame(R"(^.+ \(.+\)$)");
  std::map<std::string, long> stacks;
  std::ifstream in(path);
  if (!in) {
    *problem = "cannot open " + path.string();
    return stacks;
  }
  std::string line;
  while (std::getline(in, line)) {
    auto space = line.rfind(' ');
    if (space == std::string::npos || space + 1 == line.size() ||
        line.find_first_not_of("0123456789", space + 1) != std::string::npos) {
      *problem = "not 'frames count': " + line;
      return stacks;
    }
    std::string stack = line.substr(0, space);
    std::stringstream frames(stack);
    std::string f;
    while (std::getline(frames, f, ';')) {
      if (!std::regex_match(f, frame)) {
        *problem = "frame not 'function (file:line)': '" + f + "' in " + line;
        return stacks;
      }
    }
    stacks[stack] += std::stol(line.substr(space + 1));
  }
  return stacks;
}

long total(const std::map<std::string, long>& stacks) {
  long n = 0;
  for (const auto& [stack, count] : stacks) n += count;
  return n;
}

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

// A gdb command that writes time.time() to DIR/NAME: it runs while the target is stopped, so it
// brackets what happens between two commands.
std::string mark(const fs::path& dir, const std::string& name) {
  return "python open('" + (dir / name).string() + "', 'w').write(repr(__import__('time').time()))";
}

// A gdb command printing "TASK tid state SigPnd" for every thread and "SHDPND mask" for the process.
const char* kTaskStates =
    "python import os\n"
    "pid = gdb.selected_inferior().pid\n"
    "for t in sorted(os.listdir('/proc/%d/task' % pid)):\n"
    "    d = dict(l.split(':', 1) for l in open('/proc/%d/task/%s/status' % (pid, t)) if ':' in l)\n"
    "    print('TASK %s %s %s' % (t, d['State'].split()[0], d['SigPnd'].strip()))\n"
    "d = dict(l.split(':', 1) for l in open('/proc/%d/status' % pid) if ':' in l)\n"
    "print('SHDPND %s' % d['ShdPnd'].strip())\n";

class Sample : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    Start("0");
  }

  // (Re)starts the workload; exit_after > 0: it exits by itself after that many CPU seconds.
  void Start(const std::string& exit_after) {
    proc_.reset();
    status_ = dir_.path() / "status.json";
    fs::remove(status_);
    fs::remove(status_.string() + ".log");
    const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/sample_split.py";
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{GetParam().path.string(), "-E", "-s", script.string(), status_.string(),
                                 std::to_string(kShareA), exit_after, "240"},
        dir_.path() / "workload.out", dir_.path() / "workload.err");
    const auto deadline = Clock::now() + 30s;
    while (!fs::exists(status_)) {
      ASSERT_TRUE(proc_->running()) << "workload died\n" << read_text(dir_.path() / "workload.err");
      ASSERT_LT(Clock::now(), deadline) << "workload wrote no status within 30 s";
      std::this_thread::sleep_for(20ms);
    }
    // Both threads exist once the first status is written (the sleeper starts first).
  }

  pid_t pid() const { return proc_->pid(); }
  const fs::path& dir() const { return dir_.path(); }

  std::vector<StatusLine> Log() const {
    std::vector<StatusLine> out;
    std::string text = read_text(status_.string() + ".log");
    std::size_t pos = 0;
    while (true) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) break;  // a line still being written
      try {
        json j = json::parse(text.substr(pos, end - pos));
        StatusLine s;
        s.t = j.at("t").get<double>();
        s.a = j.at("a").get<double>();
        s.b = j.at("b").get<double>();
        s.rounds = j.at("rounds").get<long>();
        s.signals = j.at("signals").get<std::vector<int>>();
        out.push_back(std::move(s));
      } catch (const std::exception&) {
      }
      pos = end + 1;
    }
    return out;
  }

  // gdb in the test's directory ("cd": relative output files and the default one go there).
  CommandResult Gdb(std::vector<std::string> commands, Clock::duration timeout = 120s) {
    commands.insert(commands.begin(), "cd " + dir().string());
    auto r = run_gdb(pid(), commands, dir(), timeout);
    for (const auto& p : gdb_run_problems(r, /*require_success=*/true)) ADD_FAILURE() << p << "\n" << r.describe();
    return r;
  }

  // The debugger the split is measured under, and its command that writes time.time() to DIR/NAME.
  virtual CommandResult Run(std::vector<std::string> commands) { return Gdb(std::move(commands)); }
  virtual std::string Mark(const std::string& name) { return mark(dir(), name); }
  virtual std::string Debugger() const { return ""; }

  // The share of part_a in samples that are in part_a or part_b.
  static double SampledShare(const std::map<std::string, long>& stacks, long* in_parts) {
    long a = 0, b = 0;
    for (const auto& [stack, count] : stacks) {
      if (stack.find("part_a (") != std::string::npos) a += count;
      else if (stack.find("part_b (") != std::string::npos) b += count;
    }
    *in_parts = a + b;
    return a + b ? static_cast<double>(a) / static_cast<double>(a + b) : 0;
  }

  // Samples at `rate` for `duration` and compares the split with the one the process measured over
  // the lines it logged while py-sample ran (between the two marks, the target is never stopped).
  // The split depends on the scheduler as much as on the sampler: on a machine busy with something
  // else (a build, another test), one run can be off. A second run decides; each is reported.
  void CheckSplit(const std::string& rate, const std::string& duration, long min_samples) {
    for (int attempt = 1; attempt <= 2; ++attempt) {
      double error = 0;
      if (!MeasureSplit(rate, duration, min_samples, &error)) return;  // a fatal failure: reported
      if (error <= kMaxSplitError) return;
      std::cout << "  attempt " << attempt << ": " << error << " percentage points off\n";
    }
    ADD_FAILURE() << "the sampled split was more than " << kMaxSplitError << " percentage points off twice";
  }

  // One run: false after a failure that makes the split meaningless, else *error = |sampled - truth|.
  bool MeasureSplit(const std::string& rate, const std::string& duration, long min_samples, double* error) {
    const fs::path out = dir() / "split.folded";
    auto r = Run({Mark("start"), "py-sample " + duration + " --rate " + rate + " -o " + out.string(), Mark("end")});
    auto summary = parse_summary(r.out);
    if (!summary) {
      ADD_FAILURE() << "no summary\n" << r.describe();
      return false;
    }
    std::string problem;
    auto stacks = parse_folded(out, &problem);
    if (!problem.empty()) {
      ADD_FAILURE() << problem;
      return false;
    }
    EXPECT_EQ(total(stacks), summary->recorded) << summary->text;
    EXPECT_LT(summary->errors, std::max<long>(1, summary->taken / 100)) << "more than 1% errors\n" << summary->text;

    const double t0 = std::stod(read_text(dir() / "start")), t1 = std::stod(read_text(dir() / "end"));
    std::vector<StatusLine> inside;
    for (const auto& s : Log())
      if (s.t > t0 && s.t < t1) inside.push_back(s);
    if (inside.size() < 10) {
      ADD_FAILURE() << "the workload logged too little while py-sample ran";
      return false;
    }
    const double ta = inside.back().a - inside.front().a, tb = inside.back().b - inside.front().b;
    const double truth = ta / (ta + tb);
    long in_parts = 0;
    const double sampled = SampledShare(stacks, &in_parts);
    EXPECT_GE(in_parts, min_samples) << summary->text;
    *error = std::abs(100 * sampled - 100 * truth);
    std::cout << "  " << GetParam().name << Debugger() << " at " << rate << " Hz: truth " << truth << ", sampled "
              << sampled << " (" << in_parts << " samples, " << summary->rate << " Hz achieved, " << summary->errors
              << " errors, measured by the process over " << inside.back().t - inside.front().t << " s)\n";
    return true;
  }

  // Waits until `debugger` samples: it attached (the workload stopped) and the workload logs again.
  void WaitUntilSampling(Process& debugger) {
    const auto deadline = Clock::now() + 60s;
    bool attached = false;
    long rounds_at_attach = 0;
    while (Clock::now() < deadline && debugger.running()) {
      if (!attached && proc_state(pid()) == 't') {
        attached = true;
        auto log = Log();
        rounds_at_attach = log.empty() ? 0 : log.back().rounds;
      }
      if (attached) {
        auto log = Log();
        if (!log.empty() && log.back().rounds > rounds_at_attach + 5 && proc_state(pid()) != 't') break;
      }
      std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(1s);
  }

  // After gdb has detached: the workload runs normally, nothing is pending, no thread is stopped and
  // it received no signal.
  void ExpectRunningUntouched() {
    ASSERT_TRUE(proc_->running()) << "the workload died";
    const auto before = Log();
    ASSERT_FALSE(before.empty());
    std::this_thread::sleep_for(400ms);
    const auto after = Log();
    ASSERT_FALSE(after.empty());
    EXPECT_GT(after.back().rounds, before.back().rounds) << "the workload makes no progress after detaching";
    EXPECT_TRUE(after.back().signals.empty()) << "the workload received signals: " << json(after.back().signals).dump();
    const auto problems = left_running_problems(pid());
    EXPECT_TRUE(problems.empty()) << join_diffs(problems);
  }

  TempDir dir_;  // first: outlives the process
  fs::path status_;
  std::unique_ptr<Process> proc_;
};

TEST_P(Sample, SplitAt1kHz) { CheckSplit("1000", "6s", 4000); }

TEST_P(Sample, SplitAt20kHz) { CheckSplit("20000", "2s", 20000); }

// Sampling leaves the target stopped exactly as before: same threads, same selected thread, stacks
// readable, no signal pending; a second py-sample runs its full time (a stray SIGSTOP or SIGINT
// would stop it at once); after detaching the program runs on and received nothing.
TEST_P(Sample, TargetStoppedAsBefore) {
  auto r = Gdb({"thread 2", "info threads", "py-bt-all --json", kTaskStates, "py-sample 2s --rate 2000 -o first.folded",
                "echo ==AFTER==\\n", "info threads", "py-bt-all --json", kTaskStates,
                "py-sample 1s --rate 200 -o second.folded"});
  const std::string& out = r.out;
  auto split = out.find("==AFTER==");
  ASSERT_NE(split, std::string::npos) << r.describe();
  const std::string before = out.substr(0, split), after = out.substr(split);

  auto thread_lines = [](const std::string& text) {
    std::vector<std::string> lines;
    // "Thread 0x... (LWP n)", or "LWP n" where gdb has no libthread_db for the libc (a container).
    static const std::regex row(R"(^(\*?)\s+(\d+)\s+(?:Thread 0x[0-9a-f]+ \()?LWP (\d+)\b)");
    for (const auto& l : split_lines(text)) {
      std::smatch m;
      if (std::regex_search(l, m, row)) lines.push_back(m[1].str() + m[2].str() + ":" + m[3].str());
    }
    return lines;
  };
  auto threads_before = thread_lines(before), threads_after = thread_lines(after);
  EXPECT_EQ(threads_before.size(), 2u) << before;
  EXPECT_EQ(threads_before, threads_after) << "threads or the selected thread changed\n" << r.describe();

  std::string error;
  auto bt_before = find_json_line(before, &error), bt_after = find_json_line(after, &error);
  ASSERT_TRUE(bt_before && bt_after) << error << "\n" << r.describe();
  auto ids = [](const json& j) {
    std::set<uint64_t> s;
    for (const auto& t : j.at("threads")) s.insert(t.at("thread_id").get<uint64_t>());
    return s;
  };
  EXPECT_EQ(ids(*bt_before), ids(*bt_after));
  EXPECT_EQ(bt_after->at("threads").size(), 2u);

  for (const auto& l : split_lines(after)) {
    if (l.rfind("TASK ", 0) == 0) {
      std::istringstream w(l.substr(5));
      std::string tid, state, pending;
      w >> tid >> state >> pending;
      EXPECT_EQ(state, "t") << "thread " << tid << " should be in a tracing stop: " << l;
      EXPECT_EQ(pending, "0000000000000000") << "signal pending on thread " << tid;
    } else if (l.rfind("SHDPND ", 0) == 0) {
      EXPECT_EQ(l, "SHDPND 0000000000000000") << "signal pending on the process";
    }
  }

  auto first = parse_summary(out, 0), second = parse_summary(out, 1);
  ASSERT_TRUE(first && second) << r.describe();
  EXPECT_GT(first->recorded, 0);
  EXPECT_EQ(first->text.find("pyxray:"), std::string::npos) << first->text;
  EXPECT_EQ(second->text.find("pyxray:"), std::string::npos) << "the second run did not run normally\n" << second->text;
  EXPECT_GE(second->seconds, 0.95) << second->text;
  ExpectRunningUntouched();
}

// The three formats, each holding exactly the samples the summary says were recorded; the default
// file name; --mode wall keeps the sleeper thread's samples, which --mode cpu (the default) drops;
// --mode gil keeps only the GIL holder's.
// Seconds the process's threads other than its main thread have been runnable (running or waiting
// for a CPU) so far, from the scheduler's own accounting (/proc/PID/task/TID/schedstat).
double OtherThreadsRunnableSeconds(pid_t pid) {
  double total = 0;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(fs::path("/proc") / std::to_string(pid) / "task", ec)) {
    if (task.path().filename() == std::to_string(pid)) continue;
    std::istringstream in(read_text(task.path() / "schedstat"));
    double ran = 0, waited = 0;
    if (in >> ran >> waited) total += (ran + waited) / 1e9;
  }
  return total;
}

TEST_P(Sample, OutputFiles) {
  const double sleeper_runnable_before = OtherThreadsRunnableSeconds(pid());
  auto r = Gdb({"py-sample 1s --rate 500 -o prof.folded --mode cpu", "py-sample 1s --rate 500 -o prof.json --mode wall",
                "py-sample 1s --rate 500", "py-sample 1s --rate 500 -o prof.txt --mode gil"});
  auto folded = parse_summary(r.out, 0), speedscope = parse_summary(r.out, 1), svg = parse_summary(r.out, 2),
       gil = parse_summary(r.out, 3);
  ASSERT_TRUE(folded && speedscope && svg && gil) << r.describe();

  // The summary counts thread samples and sampling rounds apart: every round samples each of the two
  // threads (main and sleeper) once (a round whose thread list could not be read is one error), with
  // --mode gil only the holder; the rate is of rounds.
  for (const auto* s : {&*folded, &*speedscope, &*svg, &*gil}) {
    EXPECT_GT(s->rounds, 0) << s->text;
    if (s == &*gil) {
      EXPECT_LE(s->taken, s->rounds) << s->text;
    } else {
      EXPECT_LE(s->taken, 2 * s->rounds) << s->text;
      EXPECT_GE(s->taken, 2 * s->rounds - s->errors) << s->text;
    }
    EXPECT_NEAR(s->rate, static_cast<double>(s->rounds) / s->seconds, 1.0 + s->rate * 0.01) << s->text;
  }

  // Folded: the main thread's stacks start at <module>; the sleeper's idle samples were dropped.
  std::string problem;
  auto stacks = parse_folded(dir() / "prof.folded", &problem);
  ASSERT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), folded->recorded) << folded->text;
  EXPECT_GT(folded->idle, 0) << "the sleeper thread's samples should be dropped as idle\n" << folded->text;
  long sleeper_recorded = 0;
  for (const auto& [stack, count] : stacks) {
    if (stack.find("main (") != std::string::npos) {
      EXPECT_EQ(stack.rfind("<module> (", 0), 0u) << "not root first: " << stack;
    }
    if (stack.find("sleeper (") != std::string::npos) sleeper_recorded += count;
  }
  // The sleeper waits all the time, but it is runnable for a moment whenever it resumes from a
  // debugger stop (its wait restarts), longer on a busy machine, where it waits for a CPU: --mode cpu
  // keeps those samples. The scheduler says how long that was over the whole gdb session (more than
  // the one sampling run); at 500 rounds a second, Poisson-distributed, that many seconds hold about
  // 500 x as many rounds.
  const double sleeper_runnable = OtherThreadsRunnableSeconds(pid()) - sleeper_runnable_before;
  const double expected = 500 * sleeper_runnable;
  EXPECT_LE(static_cast<double>(sleeper_recorded), 3 + expected + 4 * std::sqrt(expected))
      << "idle samples were recorded: the sleeper was runnable for " << sleeper_runnable << " s\n"
      << folded->text;
  auto gil_stacks = parse_folded(dir() / "prof.txt", &problem);
  ASSERT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(gil_stacks), gil->recorded) << gil->text;
  EXPECT_EQ(gil->idle, 0) << gil->text;

  // Speedscope: schema, frames and samples consistent, weights summing to the recorded samples; with
  // --mode wall the sleeper thread is a second profile.
  json j;
  try {
    j = json::parse(read_text(dir() / "prof.json"));
  } catch (const std::exception& e) {
    FAIL() << "prof.json is not JSON: " << e.what();
  }
  EXPECT_EQ(j.value("$schema", ""), "https://www.speedscope.app/file-format-schema.json");
  ASSERT_TRUE(j.contains("shared") && j["shared"].contains("frames") && j.contains("profiles"))
      << j.dump().substr(0, 500);
  const auto& frames = j["shared"]["frames"];
  for (const auto& f : frames) EXPECT_TRUE(f.contains("name") && f["name"].is_string()) << f.dump();
  long weights = 0;
  bool sleeper_profile = false;
  for (const auto& p : j["profiles"]) {
    EXPECT_EQ(p.value("type", ""), "sampled");
    EXPECT_TRUE(p.contains("unit") && p.contains("startValue") && p.contains("endValue") && p.contains("name"));
    ASSERT_EQ(p["samples"].size(), p["weights"].size());
    long profile_weights = 0;
    for (const auto& w : p["weights"]) profile_weights += w.get<long>();
    EXPECT_EQ(p["endValue"].get<long>() - p["startValue"].get<long>(), profile_weights);
    weights += profile_weights;
    for (const auto& s : p["samples"]) {
      EXPECT_FALSE(s.empty());
      for (const auto& i : s) EXPECT_LT(i.get<std::size_t>(), frames.size());
    }
    if (p["name"].get<std::string>().find("sleeper") != std::string::npos) sleeper_profile = true;
  }
  EXPECT_EQ(weights, speedscope->recorded) << speedscope->text;
  EXPECT_TRUE(sleeper_profile) << "--mode wall: the sleeper thread should have a profile\n" << speedscope->text;

  // SVG, at the default name: well-formed XML with the script, the root frame counting the samples.
  const fs::path svg_path = dir() / ("pyxray-" + std::to_string(pid()) + ".svg");
  ASSERT_TRUE(fs::exists(svg_path)) << svg->text;
  const char* check =
      "import sys, xml.etree.ElementTree as ET\n"
      "root = ET.parse(sys.argv[1]).getroot()\n"
      "ns = '{http://www.w3.org/2000/svg}'\n"
      "assert root.tag == ns + 'svg', root.tag\n"
      "script = root.find(ns + 'script')\n"
      "assert script is not None and 'function zoom' in script.text and 'function search' in script.text\n"
      "frames = [g for g in root.iter(ns + 'g') if g.get('id') == 'frames'][0]\n"
      "boxes = list(frames)\n"
      "assert boxes[0].find(ns + 'title').text.startswith('all (')\n"
      "print('TOTAL', frames.get('data-total'), boxes[0].get('data-n'), len(boxes))\n";
  auto v = run_command({"python3", "-c", check, svg_path.string()}, dir(), 60s);
  ASSERT_EQ(v.exit_code, 0) << "the flame graph is not well-formed or lacks its parts\n" << v.describe();
  std::istringstream w(v.out);
  std::string word;
  long data_total = 0, root_count = 0, boxes = 0;
  w >> word >> data_total >> root_count >> boxes;
  EXPECT_EQ(data_total, svg->recorded) << svg->text;
  EXPECT_EQ(root_count, svg->recorded) << svg->text;
  EXPECT_GT(boxes, 3);
  ExpectRunningUntouched();
}

// Ctrl-C (SIGINT to gdb) ends sampling early; the samples so far are written, gdb goes on with the
// next command, and the program receives no SIGINT.
TEST_P(Sample, CtrlCEndsEarly) {
  const auto argv =
      gdb_attach_argv(pid(), {"cd " + dir().string(), "py-sample 60s --rate 500 -o int.folded", "py-bt-all --json"});
  Process gdb(argv, dir() / "gdb.out", dir() / "gdb.err");
  WaitUntilSampling(gdb);
  ASSERT_TRUE(gdb.running()) << read_text(dir() / "gdb.out") << read_text(dir() / "gdb.err");
  ::kill(gdb.pid(), SIGINT);
  ASSERT_TRUE(gdb.wait_for(30s)) << "gdb did not end after Ctrl-C\n" << read_text(dir() / "gdb.out");
  const std::string out = read_text(dir() / "gdb.out");
  auto summary = parse_summary(out);
  ASSERT_TRUE(summary) << out << read_text(dir() / "gdb.err");
  EXPECT_NE(summary->text.find("pyxray: interrupted (Ctrl-C) after"), std::string::npos) << summary->text;
  EXPECT_LT(summary->seconds, 30) << summary->text;
  EXPECT_GT(summary->recorded, 0) << summary->text;
  std::string problem;
  auto stacks = parse_folded(dir() / "int.folded", &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), summary->recorded);
  std::string error;
  EXPECT_TRUE(find_json_line(out, &error)) << "gdb was not usable after the interrupt: " << error << "\n" << out;
  ExpectRunningUntouched();
}

// SIGTERM to gdb while it samples: sampling ends as with Ctrl-C (the samples so far written), then
// gdb exits as SIGTERM asks -- without an internal error, within seconds, and leaving the program
// running as it was.
TEST_P(Sample, SigtermEndsSamplingAndGdbExits) {
  const auto argv = gdb_attach_argv(pid(), {"cd " + dir().string(), "py-sample 60s --rate 500 -o term.folded"});
  Process gdb(argv, dir() / "gdb.out", dir() / "gdb.err");
  WaitUntilSampling(gdb);
  ASSERT_TRUE(gdb.running()) << read_text(dir() / "gdb.out") << read_text(dir() / "gdb.err");
  const auto signalled = Clock::now();
  ::kill(gdb.pid(), SIGTERM);
  ASSERT_TRUE(gdb.wait_for(30s)) << "gdb did not exit after SIGTERM\n" << read_text(dir() / "gdb.out");
  // 0.1 s on a quiet machine: the sampler stops at once and gdb detaches.
  EXPECT_LT(Clock::now() - signalled, 5s);
  const std::string out = read_text(dir() / "gdb.out"), err = read_text(dir() / "gdb.err");
  ASSERT_TRUE(gdb.status() && WIFEXITED(*gdb.status())) << "gdb died of a signal\n" << out << err;
  EXPECT_EQ(WEXITSTATUS(*gdb.status()), 0) << out << err;
  EXPECT_EQ((out + err).find("internal problem"), std::string::npos) << out << err;
  EXPECT_EQ((out + err).find('\0'), std::string::npos) << "a NUL byte in gdb's output";
  auto summary = parse_summary(out);
  ASSERT_TRUE(summary) << out << err;
  EXPECT_NE(summary->text.find("pyxray: cut short by SIGTERM after"), std::string::npos) << summary->text;
  EXPECT_GT(summary->recorded, 0) << summary->text;
  std::string problem;
  auto stacks = parse_folded(dir() / "term.folded", &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), summary->recorded);
  ExpectRunningUntouched();
}

// A target that exits while it is sampled: the samples so far are kept and written, the summary says
// so, and gdb stays usable (the next command says there is no process).
TEST_P(Sample, TargetExitsWhileSampled) {
  Start("2");  // exits after 2 CPU seconds
  auto r = run_gdb(
      pid(), {"cd " + dir().string(), "py-sample 60s --rate 500 -o exit.folded", "py-bt-all", "echo STILL-HERE\\n"},
      dir(), 120s);
  for (const auto& p : gdb_run_problems(r, /*require_success=*/false)) ADD_FAILURE() << p << "\n" << r.describe();
  auto summary = parse_summary(r.out);
  ASSERT_TRUE(summary) << r.describe();
  EXPECT_NE(summary->text.find("pyxray: the target exited"), std::string::npos) << summary->text;
  EXPECT_LT(summary->seconds, 30) << summary->text;
  EXPECT_GT(summary->recorded, 0) << summary->text;
  std::string problem;
  auto stacks = parse_folded(dir() / "exit.folded", &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), summary->recorded);
  EXPECT_NE(r.out.find("STILL-HERE"), std::string::npos) << r.describe();
  auto lines = pyxray_lines(r);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("no process") != std::string::npos;
  })) << r.describe();
  EXPECT_TRUE(proc_->wait_for(10s)) << "the workload should have exited";
}

// --blocking stops the target for every sample: exact stacks, no errors; --native adds the native
// frames around them. The target is left as before.
TEST_P(Sample, Blocking) {
  auto r = Gdb({"py-sample 2s --rate 200 --blocking -o blocking.folded",
                "py-sample 1s --rate 50 --blocking --native -o native.folded"});
  auto plain = parse_summary(r.out, 0), native = parse_summary(r.out, 1);
  ASSERT_TRUE(plain && native) << r.describe();
  EXPECT_EQ(plain->errors, 0) << plain->text;
  EXPECT_GT(plain->recorded, 10) << plain->text;
  std::string problem;
  auto stacks = parse_folded(dir() / "blocking.folded", &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), plain->recorded);
  auto native_stacks = parse_folded(dir() / "native.folded", &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(native_stacks), native->recorded);
  // Native frames have no line: "symbol (library)". At least the C entry point is below Python.
  bool has_native = false;
  for (const auto& [stack, count] : native_stacks)
    if (std::regex_search(stack, std::regex(R"((^|;)[^;:]+ \([^;:]+\);)"))) has_native = true;
  EXPECT_TRUE(has_native || native->text.find("warning") != std::string::npos) << native->text;
  ExpectRunningUntouched();
}

INSTANTIATE_TEST_SUITE_P(Interpreters, Sample, testing::ValuesIn(all_interpreters()), param_name);

// ---- torn chains: tests/workloads/genexpr.py runs, in the main thread and in "worker", a loop whose
// leaf consumes a generator expression from C (sum), so a generator's frame is linked into and out of
// each thread's chain thousands of times a second. Sampled flat out, a chain read while that happens
// is torn (a lone <genexpr> cut off from its callers, or one linked below frames not running it):
// it must be counted as an error, never recorded.

class SampleGenexpr : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    const fs::path status = dir_.path() / "status.json";
    const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/genexpr.py";
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{GetParam().path.string(), "-E", "-s", script.string(), status.string(), "240"},
        dir_.path() / "workload.out", dir_.path() / "workload.err");
    const auto deadline = Clock::now() + 30s;
    while (!fs::exists(status)) {
      ASSERT_TRUE(proc_->running()) << "workload died\n" << read_text(dir_.path() / "workload.err");
      ASSERT_LT(Clock::now(), deadline) << "workload wrote no status within 30 s";
      std::this_thread::sleep_for(20ms);
    }
  }

  TempDir dir_;  // first: outlives the process
  std::unique_ptr<Process> proc_;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The per-kind counts of the summary's error line ("  errors (...): 9 kind, 3 other kind"), summed.
long error_kinds_sum(const std::string& summary) {
  static const std::regex line(R"(^  errors \([^)]*\): (.*)$)");
  long sum = 0;
  for (const auto& l : split_lines(summary)) {
    std::smatch m;
    if (!std::regex_search(l, m, line)) continue;
    std::stringstream kinds(m[1].str());
    std::string kind;
    while (std::getline(kinds, kind, ',')) sum += std::stol(kind);
  }
  return sum;
}

// Every recorded stack of the main thread starts at <module>, every one of the worker's at threading's
// bootstrap function, and every <genexpr> frame is right above leaf_b, the one function that runs it.
// Torn reads are errors, each counted under its kind. What a busy machine changes is how many torn
// reads there are, not these.
TEST_P(SampleGenexpr, EveryStackStartsAtItsThreadsEntry) {
  const fs::path out = dir_.path() / "genexpr.json";
  auto r = run_gdb(proc_->pid(), {"py-sample 4s --rate 10000k -o " + out.string()}, dir_.path(), 120s);
  for (const auto& p : gdb_run_problems(r, /*require_success=*/true)) ADD_FAILURE() << p << "\n" << r.describe();
  auto summary = parse_summary(r.out);
  ASSERT_TRUE(summary) << r.describe();
  std::cout << "  " << GetParam().name << ": " << summary->text;
  EXPECT_GT(summary->recorded, 100) << summary->text;
  EXPECT_EQ(error_kinds_sum(summary->text), summary->errors) << "errors not counted by kind\n" << summary->text;

  json j;
  try {
    j = json::parse(read_text(out));
  } catch (const std::exception& e) {
    FAIL() << out << " is not JSON: " << e.what();
  }
  const auto& frames = j.at("shared").at("frames");
  auto name = [&](const json& index) { return frames.at(index.get<std::size_t>()).at("name").get<std::string>(); };
  long weights = 0, main_samples = 0, worker_samples = 0, genexpr_samples = 0;
  std::map<std::string, long> bad;  // a wrong stack -> its weight
  for (const auto& p : j.at("profiles")) {
    const std::string thread = p.at("name").get<std::string>();
    const bool is_main = thread.rfind("MainThread", 0) == 0, is_worker = thread.rfind("worker", 0) == 0;
    const auto& samples = p.at("samples");
    const auto& w = p.at("weights");
    ASSERT_EQ(samples.size(), w.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const auto& stack = samples[i];  // root first
      const long weight = w[i].get<long>();
      weights += weight;
      std::string text = thread + ":";
      for (const auto& f : stack) text += " " + name(f) + ";";
      bool ok = !stack.empty();
      if (ok && is_main) {
        ok = name(stack.front()) == "<module>";
        main_samples += weight;
      } else if (ok && is_worker) {
        ok = ends_with(name(stack.front()), "_bootstrap");
        worker_samples += weight;
      }
      for (std::size_t k = 0; ok && k < stack.size(); ++k) {
        if (!ends_with(name(stack[k]), "<genexpr>")) continue;
        ok = k > 0 && name(stack[k - 1]) == "leaf_b";
        genexpr_samples += weight;
      }
      if (!ok) bad[text] += weight;
    }
  }
  EXPECT_EQ(weights, summary->recorded) << summary->text;
  EXPECT_GT(main_samples, 0) << summary->text;
  EXPECT_GT(genexpr_samples, 0) << "no sample in the generator expression: the workload is not what it should be\n"
                                << summary->text;
  std::string listing;
  long bad_total = 0;
  for (const auto& [stack, count] : bad) {
    bad_total += count;
    if (listing.size() < 4000) listing += "  " + std::to_string(count) + "x " + stack + "\n";
  }
  EXPECT_TRUE(bad.empty()) << bad_total << " recorded samples are not whole stacks (main thread " << main_samples
                           << ", worker " << worker_samples << " samples)\n"
                           << listing << summary->text;
  ASSERT_TRUE(proc_->running()) << "the workload died";
}

INSTANTIATE_TEST_SUITE_P(Interpreters, SampleGenexpr, testing::ValuesIn(all_interpreters()), param_name);

// ---- the same under LLDB: the sampling engine is the core's, the resume/stop is LLDB's own
// (lldb_plugin/run_while.cpp), so what is checked here is the front end's part.

// An LLDB `script` command running Python statements (one line for LLDB; "\n" for Python).
std::string lldb_script(const std::string& statements) {
  std::string escaped;
  for (char c : statements) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
  return "script exec(\"" + escaped + "\")";
}

class LldbSample : public Sample {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(lldb_plugin_path())) << "LLDB plugin not found: " << lldb_plugin_path();
    Sample::SetUp();
  }
  CommandResult Run(std::vector<std::string> commands) override {
    auto r = run_lldb_attached(pid(), std::move(commands), dir());
    for (const auto& p : lldb_run_problems(r, /*require_success=*/true)) ADD_FAILURE() << p << "\n" << r.describe();
    return r;
  }
  std::string Mark(const std::string& name) override {
    return lldb_script("open('" + (dir() / name).string() + "', 'w').write(repr(__import__('time').time()))");
  }
  std::string Debugger() const override { return " (lldb)"; }
};

// "TASK tid state SigPnd" for every thread and "SHDPND mask" for the process, from LLDB.
std::string lldb_task_states() {
  return lldb_script(
      "import os\n"
      "pid = lldb.process.GetProcessID()\n"
      "for t in sorted(os.listdir('/proc/%d/task' % pid)):\n"
      "    d = dict(l.split(':', 1) for l in open('/proc/%d/task/%s/status' % (pid, t)) if ':' in l)\n"
      "    print('TASK %s %s %s' % (t, d['State'].split()[0], d['SigPnd'].strip()))\n"
      "d = dict(l.split(':', 1) for l in open('/proc/%d/status' % pid) if ':' in l)\n"
      "print('SHDPND %s' % d['ShdPnd'].strip())");
}

// 20 kHz for 2 s: as many samples as 1 kHz would need 40 s for, so the split is tight.
TEST_P(LldbSample, SplitAt20kHz) { CheckSplit("20000", "2s", 20000); }

// As TargetStoppedAsBefore under gdb: the same threads and selected thread, every thread in a
// tracing stop with nothing pending, a second py-sample that runs its full time, and the program
// untouched after LLDB detaches.
TEST_P(LldbSample, TargetStoppedAsBefore) {
  // LLDB has no `cd`: output files by absolute path.
  auto r = Run({"thread select 2", "thread list", lldb_task_states(),
                "py-sample 2s --rate 2000 -o " + (dir() / "first.folded").string(), lldb_script("print('==AFTER==')"),
                "thread list", "py-bt-all --json", lldb_task_states(),
                "py-sample 1s --rate 200 -o " + (dir() / "second.folded").string()});
  const std::string& out = r.out;
  auto split = out.rfind("\n==AFTER==");
  ASSERT_NE(split, std::string::npos) << r.describe();
  const std::string before = out.substr(0, split), after = out.substr(split);
  auto thread_lines = [](const std::string& text) {
    std::vector<std::string> lines;
    static const std::regex row(R"(^(\*?)\s*thread #(\d+): tid = (\d+))");
    for (const auto& l : split_lines(text)) {
      std::smatch m;
      if (std::regex_search(l, m, row)) lines.push_back(m[1].str() + m[2].str() + ":" + m[3].str());
    }
    return lines;
  };
  auto threads_before = thread_lines(before), threads_after = thread_lines(after);
  EXPECT_EQ(threads_before.size(), 2u) << before;
  EXPECT_EQ(threads_before, threads_after) << "threads or the selected thread changed\n" << r.describe();
  std::string error;
  auto bt = find_json_line(after, &error);
  ASSERT_TRUE(bt) << error << "\n" << r.describe();
  EXPECT_EQ(bt->at("threads").size(), 2u);
  int tasks = 0;
  for (const auto& l : split_lines(after)) {
    if (l.rfind("TASK ", 0) == 0) {
      ++tasks;
      std::istringstream w(l.substr(5));
      std::string tid, state, pending;
      w >> tid >> state >> pending;
      EXPECT_EQ(state, "t") << "thread " << tid << " should be in a tracing stop: " << l;
      EXPECT_EQ(pending, "0000000000000000") << "signal pending on thread " << tid;
    } else if (l.rfind("SHDPND ", 0) == 0) {
      EXPECT_EQ(l, "SHDPND 0000000000000000") << "signal pending on the process";
    }
  }
  EXPECT_EQ(tasks, 2) << r.describe();
  auto first = parse_summary(out, 0), second = parse_summary(out, 1);
  ASSERT_TRUE(first && second) << r.describe();
  EXPECT_GT(first->recorded, 0);
  EXPECT_EQ(first->text.find("pyxray:"), std::string::npos) << first->text;
  EXPECT_EQ(second->text.find("pyxray:"), std::string::npos) << "the second run did not run normally\n" << second->text;
  EXPECT_GE(second->seconds, 0.95) << second->text;
  ExpectRunningUntouched();
}

// Ctrl-C (SIGINT to lldb) ends sampling early with the samples so far; LLDB goes on.
TEST_P(LldbSample, CtrlCEndsEarly) {
  const auto argv =
      lldb_attach_argv(pid(), {"py-sample 60s --rate 500 -o " + (dir() / "int.folded").string(), "py-bt-all --json"});
  Process lldb(argv, dir() / "lldb.out", dir() / "lldb.err");
  WaitUntilSampling(lldb);
  ASSERT_TRUE(lldb.running()) << read_text(dir() / "lldb.out") << read_text(dir() / "lldb.err");
  ::kill(lldb.pid(), SIGINT);
  ASSERT_TRUE(lldb.wait_for(30s)) << "lldb did not end after Ctrl-C\n" << read_text(dir() / "lldb.out");
  const std::string out = read_text(dir() / "lldb.out");
  auto summary = parse_summary(out);
  ASSERT_TRUE(summary) << out << read_text(dir() / "lldb.err");
  EXPECT_NE(summary->text.find("pyxray: interrupted (Ctrl-C) after"), std::string::npos) << summary->text;
  EXPECT_LT(summary->seconds, 30) << summary->text;
  EXPECT_GT(summary->recorded, 0) << summary->text;
  std::string problem;
  auto stacks = parse_folded(dir() / "int.folded", &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), summary->recorded);
  std::string error;
  EXPECT_TRUE(find_json_line(out, &error)) << "lldb was not usable after the interrupt: " << error << "\n" << out;
  ExpectRunningUntouched();
}

// A target that exits while LLDB samples it: the samples so far are kept, the summary says so.
TEST_P(LldbSample, TargetExitsWhileSampled) {
  Start("2");
  auto r = run_lldb({"-p", std::to_string(pid())},
                    {"py-sample 60s --rate 500 -o " + (dir() / "exit.folded").string(), "py-bt-all"}, dir(), 120s);
  for (const auto& p : lldb_run_problems(r, /*require_success=*/false)) ADD_FAILURE() << p << "\n" << r.describe();
  auto summary = parse_summary(r.out);
  ASSERT_TRUE(summary) << r.describe();
  EXPECT_NE(summary->text.find("pyxray: the target exited"), std::string::npos) << summary->text;
  EXPECT_LT(summary->seconds, 30) << summary->text;
  EXPECT_GT(summary->recorded, 0) << summary->text;
  std::string problem;
  auto stacks = parse_folded(dir() / "exit.folded", &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), summary->recorded);
  EXPECT_TRUE(proc_->wait_for(10s)) << "the workload should have exited";
}

// Where the process cannot be read while it runs (macOS; here forced with PYXRAY_READER=debugger),
// py-sample reads through LLDB and stops the process for every sample, and says so.
TEST_P(LldbSample, ThroughDebuggerReads) {
  const fs::path out = dir() / "via.folded";
  auto r = run_command({lldb_program(), "--no-lldbinit", "--batch", "-p", std::to_string(pid()), "-o",
                        "plugin load " + lldb_plugin_path().string(), "-o",
                        "py-sample 1s --rate 200 -o " + out.string(), "-o", "process detach"},
                       dir(), 120s, {{"PYXRAY_READER", "debugger"}});
  for (const auto& p : lldb_run_problems(r, /*require_success=*/true)) ADD_FAILURE() << p << "\n" << r.describe();
  auto summary = parse_summary(r.out);
  ASSERT_TRUE(summary) << r.describe();
  EXPECT_NE(summary->text.find(", blocking)"), std::string::npos) << summary->text;
  EXPECT_NE(summary->text.find("pyxray: note: process " + std::to_string(pid()) + " cannot be read while it runs"),
            std::string::npos)
      << summary->text;
  EXPECT_EQ(summary->errors, 0) << summary->text;
  EXPECT_GT(summary->recorded, 20) << summary->text;
  std::string problem;
  auto stacks = parse_folded(out, &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), summary->recorded);
  long in_parts = 0;
  SampledShare(stacks, &in_parts);
  EXPECT_GT(in_parts, 0) << "no sample in part_a or part_b\n" << summary->text;
  ExpectRunningUntouched();
}

// The sampling engine is checked on every interpreter under gdb; under LLDB, one per stack model.
INSTANTIATE_TEST_SUITE_P(Interpreters, LldbSample, testing::ValuesIn(model_interpreters()), param_name);

// A core file cannot be sampled: one line saying so.
TEST(SampleCore, NeedsLiveProcess) {
  auto interps = pyenv_interpreters();
  ASSERT_FALSE(interps.empty());
  const Interpreter& interp = interps.back();
  TempDir dir;
  const fs::path status = dir.path() / "status.json";
  Process proc(
      {interp.path.string(), "-E", "-s", (fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/sample_split.py").string(),
       status.string(), "0.3", "0", "240"},
      dir.path() / "out", dir.path() / "err");
  const auto deadline = Clock::now() + 30s;
  while (!fs::exists(status) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(fs::exists(status)) << read_text(dir.path() / "err");
  const fs::path core = dir.path() / "core";
  write_core(proc.pid(), core, dir.path());
  proc.kill_group();
  auto r = run_gdb_core(interp.path, core, {"py-sample 1s"}, dir.path());
  fs::remove(core);
  for (const auto& p : gdb_run_problems(r, /*require_success=*/false)) ADD_FAILURE() << p << "\n" << r.describe();
  auto lines = pyxray_lines(r);
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  EXPECT_EQ(lines[0], "pyxray: py-sample needs a live process (this target is a core file or not on this host)");
  EXPECT_EQ(r.out.find("py-sample:"), std::string::npos) << r.describe();
}

// An output path that cannot be written fails before sampling starts (a 60-second run that sampled
// first would outlast the timeout), in one line that names it; a run in which every thread was idle
// says so and how to keep those samples, instead of only "wrote" an empty profile.
TEST(SampleOutput, BadPathsFailBeforeSamplingAndAllIdleSaysWhy) {
  auto interps = pyenv_interpreters();
  ASSERT_FALSE(interps.empty());
  auto w = ScriptWorkload::start(interps.back().path, {}, "frames.py");  // every thread parked
  TempDir dir;
  fs::create_directory(dir.path() / "dir.svg");
  auto r = run_gdb(
      w->pid(),
      {"cd " + dir.path().string(), "py-sample 60s -o /proc/pyxray-test.svg", "py-sample 60s -o dir.svg",
       "py-sample 60s -o no/such/dir/x.folded", "py-sample 60s --mode fast", "py-sample 60s --mode wall --idle",
       "echo @@idle\n", "py-sample 1s -o idle.folded", "echo @@keep\n", "py-sample 1s -o idle-kept.folded --idle"},
      dir.path(), 50s);
  ASSERT_FALSE(r.timed_out) << "a bad path was noticed only after sampling\n" << r.describe();
  for (const char* line : {"pyxray: py-sample: cannot write /proc/pyxray-test.svg: ",
                           "pyxray: py-sample: cannot write dir.svg: it is a directory",
                           "pyxray: py-sample: cannot write no/such/dir/x.folded: no/such/dir is not a directory",
                           "pyxray: py-sample: --mode is wall, cpu or gil, not 'fast'\n",
                           "pyxray: py-sample: --mode says which samples are kept, as --threads and --idle did: give "
                           "one of them\n"})
    EXPECT_NE((r.out + r.err).find(line), std::string::npos) << line << "\n" << r.describe();
  EXPECT_FALSE(fs::exists("/proc/pyxray-test.svg"));
  EXPECT_TRUE(fs::is_directory(dir.path() / "dir.svg"));

  const std::string idle = r.out.substr(r.out.find("@@idle"), r.out.find("@@keep") - r.out.find("@@idle"));
  auto summary = parse_summary(idle);
  ASSERT_TRUE(summary) << r.describe();
  EXPECT_EQ(summary->recorded, 0) << summary->text;
  EXPECT_GT(summary->idle, 0) << summary->text;
  EXPECT_NE(idle.find("pyxray: note: every thread was idle (blocked without the GIL) in all"), std::string::npos)
      << idle;
  EXPECT_NE(idle.find("--mode wall keeps them"), std::string::npos) << idle;
  EXPECT_TRUE(fs::exists(dir.path() / "idle.folded"));
  auto kept = parse_summary(r.out.substr(r.out.find("@@keep")));
  ASSERT_TRUE(kept) << r.describe();
  EXPECT_GT(kept->recorded, 0) << kept->text;
  EXPECT_EQ(r.out.substr(r.out.find("@@keep")).find("every thread was idle"), std::string::npos) << kept->text;
}

// ---- profiles other tools read: one sampling run writes folded stacks, a pprof profile and pstats,
// with the summary as JSON; `go tool pprof` and pstats.Stats in every Python 3 read them, and their
// counts must be the folded stacks' own.

// Per function, from folded stacks: samples with it innermost (own) and anywhere on the stack, once
// per sample (total). Keyed as `key` makes it of a folded frame's function name and file.
struct FoldedCost {
  long own = 0, total = 0;
};
template <class KeyOf>
std::map<std::string, FoldedCost> folded_costs(const std::map<std::string, long>& stacks, KeyOf key) {
  std::map<std::string, FoldedCost> out;
  for (const auto& [stack, count] : stacks) {
    std::vector<std::string> frames;
    std::stringstream in(stack);
    for (std::string f; std::getline(in, f, ';');) {
      // "function (file:line)", "function (file)" or "function".
      std::string function = f, file;
      if (auto open = f.rfind(" ("); open != std::string::npos && f.back() == ')') {
        function = f.substr(0, open);
        file = f.substr(open + 2, f.size() - open - 3);
        if (auto colon = file.rfind(':');
            colon != std::string::npos && file.find_first_not_of("0123456789", colon + 1) == std::string::npos)
          file.resize(colon);
      }
      frames.push_back(key(function, file));
    }
    out[frames.back()].own += count;
    std::set<std::string> seen(frames.begin(), frames.end());
    for (const auto& k : seen) out[k].total += count;
  }
  return out;
}

// `go tool pprof -top` of a profile, by sample count: name -> (flat, cum).
std::map<std::string, FoldedCost> pprof_top(const fs::path& profile, const fs::path& dir, std::string* problem) {
  std::map<std::string, FoldedCost> out;
  auto r = run_command({"go", "tool", "pprof", "-top", "-sample_index=samples", "-nodefraction=0", "-nodecount=1000000",
                        "-symbolize=none", profile.string()},
                       dir, 120s);
  if (r.exit_code != 0) {
    *problem = "go tool pprof failed\n" + r.describe();
    return out;
  }
  bool table = false;
  for (const auto& line : split_lines(r.out)) {
    if (line.find("flat%") != std::string::npos && line.find("cum%") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table || line.empty()) continue;
    // "      flat  flat%   sum%        cum   cum%  name"
    std::istringstream w(line);
    std::string flat, flat_pct, sum_pct, cum, cum_pct;
    w >> flat >> flat_pct >> sum_pct >> cum >> cum_pct;
    std::string name;
    std::getline(w >> std::ws, name);
    try {
      out[name] = {std::stol(flat), std::stol(cum)};
    } catch (const std::exception&) {
      *problem = "not a row of pprof's table: " + line + "\n" + r.out;
      return out;
    }
  }
  if (out.empty()) *problem = "no table in pprof's output\n" + r.describe();
  return out;
}

// Every Python 3 the tests run: pyenv's and Debian's.
std::vector<fs::path> python3_interpreters() {
  std::vector<fs::path> out;
  for (const auto& i : pyenv_interpreters())
    if (i.major == 3) out.push_back(i.path);
  out.push_back(kDebianPython);
  return out;
}

TEST(SampleProfiles, PprofAndPstatsHoldTheFoldedCounts) {
  auto interps = pyenv_interpreters();
  ASSERT_FALSE(interps.empty());
  TempDir dir;
  const fs::path status = dir.path() / "status.json";
  Process proc(
      {interps.back().path.string(), "-E", "-s",
       (fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/sample_split.py").string(), status.string(), "0.3", "0", "240"},
      dir.path() / "out", dir.path() / "err");
  const auto deadline = Clock::now() + 30s;
  while (!fs::exists(status) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(fs::exists(status)) << read_text(dir.path() / "err");

  // A bad format is one line before sampling (60 s would outlast the timeout); then one run writes
  // four files, and a short one writes pstats under a name that says nothing (--format).
  auto r = run_gdb(proc.pid(),
                   {"cd " + dir.path().string(), "py-sample 60s -o prof.xyz", "py-sample 60s --format callgrind",
                    "py-sample 1s --rate 1000 -o prof.folded --output prof.pb.gz -o prof.pstats -o prof.gecko.json "
                    "--json",
                    "py-sample 0.2s --format pstats -o prof.data"},
                   dir.path(), 100s);
  ASSERT_FALSE(r.timed_out) << "a bad format was noticed only after sampling\n" << r.describe();
  for (const char* line :
       {"pyxray: py-sample: cannot tell the output format of 'prof.xyz': name it .svg (flame graph), .json "
        "(speedscope), .folded/.txt (folded stacks), .pb.gz (pprof), .pstats/.prof (pstats), .lines (per-line "
        "table), .html (line heat view) or .gecko.json (Firefox Profiler), or give --format\n",
        "pyxray: py-sample: --format is svg, speedscope, folded, pprof, pstats, lines, html or gecko (firefox), not "
        "'callgrind'\n"})
    EXPECT_NE((r.out + r.err).find(line), std::string::npos) << line << r.describe();
  std::string error;
  auto j = find_json_line(r.out, &error);
  ASSERT_TRUE(j) << error << "\n" << r.describe();

  // The JSON summary: counts that add up, the four files, the threads and the top functions.
  const long recorded = j->at("samples").at("recorded").get<long>();
  const double interval = j->at("interval").get<double>();
  EXPECT_GT(recorded, 100) << j->dump();
  EXPECT_EQ(j->at("samples").at("taken").get<long>(), recorded + j->at("samples").at("errors").get<long>() +
                                                          j->at("samples").at("idle").get<long>() +
                                                          j->at("samples").at("empty").get<long>())
      << j->dump();
  EXPECT_NEAR(interval, j->at("elapsed").get<double>() / j->at("rounds").get<double>(), 1e-12) << j->dump();
  EXPECT_EQ(j->at("ended"), "done") << j->dump();
  EXPECT_EQ(j->at("outputs"), json::parse(R"([{"file":"prof.folded","format":"folded"},)"
                                          R"({"file":"prof.pb.gz","format":"pprof"},)"
                                          R"({"file":"prof.pstats","format":"pstats"},)"
                                          R"({"file":"prof.gecko.json","format":"gecko"}])"));
  long thread_samples = 0;
  for (const auto& t : j->at("threads")) thread_samples += t.at("samples").get<long>();
  EXPECT_EQ(thread_samples, recorded) << j->dump();
  ASSERT_FALSE(j->at("top_own").empty()) << j->dump();

  std::string problem;
  const auto stacks = parse_folded(dir.path() / "prof.folded", &problem);
  ASSERT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(total(stacks), recorded);
  const auto by_name = folded_costs(stacks, [](const std::string& f, const std::string&) { return f; });
  const auto by_file =
      folded_costs(stacks, [](const std::string& f, const std::string& file) { return file + "\n" + f; });
  const auto& top = j->at("top_own")[0];
  EXPECT_EQ(top.at("own").get<long>(),
            by_file.at(top.at("file").get<std::string>() + "\n" + top.at("function").get<std::string>()).own)
      << j->dump();

  // pprof: flat and cum per function are the folded stacks' own and total (pprof's functions are
  // names; a name in two files is one row, as in by_name).
  auto top_rows = pprof_top(dir.path() / "prof.pb.gz", dir.path(), &problem);
  ASSERT_TRUE(problem.empty()) << problem;
  std::map<std::string, std::pair<long, long>> want, got;
  for (const auto& [name, c] : by_name) want[name] = {c.own, c.total};
  for (const auto& [name, c] : top_rows) got[name] = {c.own, c.total};
  EXPECT_EQ(got, want);

  // pstats, in every Python 3: per (file, function), calls = total, tottime = own x the interval,
  // cumtime = total x the interval.
  const char* script =
      "import pstats, sys\n"
      "st = pstats.Stats(sys.argv[1])\n"
      "for (file, line, name), (cc, nc, tt, ct, callers) in st.stats.items():\n"
      "    print('%s\\t%s\\t%d\\t%d\\t%r\\t%r' % (file, name, cc, nc, tt, ct))\n";
  for (const fs::path& python : python3_interpreters()) {
    for (const char* file : {"prof.pstats", "prof.data"}) {
      auto v = run_command({python.string(), "-c", script, (dir.path() / file).string()}, dir.path(), 60s);
      ASSERT_EQ(v.exit_code, 0) << python << " cannot load " << file << "\n" << v.describe();
      if (std::string(file) != "prof.pstats") continue;  // another run: only that it loads
      std::map<std::string, FoldedCost> seen;
      for (const auto& line : split_lines(v.out)) {
        std::vector<std::string> cols;
        std::stringstream in(line);
        for (std::string c; std::getline(in, c, '\t');) cols.push_back(c);
        ASSERT_EQ(cols.size(), 6u) << line;
        const std::string key = cols[0] + "\n" + cols[1];
        const long cc = std::stol(cols[2]), nc = std::stol(cols[3]);
        const double tt = std::stod(cols[4]), ct = std::stod(cols[5]);
        EXPECT_EQ(cc, nc) << line;
        // Rounded to whole samples: tottime and cumtime are counts times the interval.
        const long own = std::lround(tt / interval), total_samples = std::lround(ct / interval);
        EXPECT_NEAR(tt, static_cast<double>(own) * interval, 1e-9 * (1 + tt)) << line;
        EXPECT_NEAR(ct, static_cast<double>(total_samples) * interval, 1e-9 * (1 + ct)) << line;
        EXPECT_EQ(total_samples, nc) << line;
        seen[key].own += own;
        seen[key].total += nc;
      }
      std::map<std::string, std::pair<long, long>> want_stats, got_stats;
      for (const auto& [k, c] : by_file) want_stats[k] = {c.own, c.total};
      for (const auto& [k, c] : seen) got_stats[k] = {c.own, c.total};
      EXPECT_EQ(got_stats, want_stats) << python;
    }
  }
  EXPECT_NE(r.out.find("wrote pstats profile to prof.data"), std::string::npos) << r.describe();

  // The Firefox Profiler file: the profiler's format checks (tools/check_gecko.py), the folded
  // file's stacks, the summary's threads by name and samples, and GIL markers (3.x has a GIL).
  { std::ofstream(dir.path() / "summary.json") << j->dump(); }
  auto g = run_command({"python3", (fs::path(PYXRAY_SOURCE_DIR) / "tests/integration/tools/check_gecko.py").string(),
                        (dir.path() / "prof.gecko.json").string(), (dir.path() / "prof.folded").string(),
                        (dir.path() / "summary.json").string(), "--gil"},
                       dir.path(), 60s);
  EXPECT_EQ(g.exit_code, 0) << g.describe();
  EXPECT_EQ(g.out, "ok\n") << g.describe();
}

// The per-line views of the split workload, in a Python whose line tables are 3.11's and one before:
// the hottest line by own samples is spin()'s loop body (the line found in the workload's source),
// in the --json summary's top_lines, the .lines table's first row and the .html page, which
// html.parser reads with that line's source in the row of that line.
TEST(SampleLines, HottestLineIsTheHotLoop) {
  std::vector<Interpreter> interps;
  for (const auto& i : pyenv_interpreters()) {
    if (i.major != 3) continue;
    if (i.minor <= 10) {
      if (interps.empty()) interps.push_back(i);
      else interps[0] = i;  // the newest before 3.11
    }
  }
  auto pyenv = pyenv_interpreters();
  ASSERT_FALSE(pyenv.empty());
  if (pyenv.back().major == 3 && pyenv.back().minor >= 11) interps.push_back(pyenv.back());
  ASSERT_EQ(interps.size(), 2u) << "want a pyenv Python 3.6-3.10 and one 3.11+";

  const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/sample_split.py";
  const auto source = split_lines(read_text(script));
  long hot_line = 0;
  for (std::size_t i = 0; i < source.size(); ++i)
    if (source[i].find("x += i * i") != std::string::npos) hot_line = static_cast<long>(i) + 1;
  ASSERT_GT(hot_line, 0);
  std::string hot_text = source[hot_line - 1];
  hot_text = hot_text.substr(hot_text.find_first_not_of(' '));

  for (const auto& interp : interps) {
    SCOPED_TRACE(interp.name);
    TempDir dir;
    const fs::path status = dir.path() / "status.json";
    Process proc({interp.path.string(), "-E", "-s", script.string(), status.string(), "0.3", "0", "240"},
                 dir.path() / "out", dir.path() / "err");
    const auto deadline = Clock::now() + 30s;
    while (!fs::exists(status) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(fs::exists(status)) << read_text(dir.path() / "err");
    auto r =
        run_gdb(proc.pid(), {"cd " + dir.path().string(), "py-sample 1s --rate 1000 -o prof.lines -o prof.html --json"},
                dir.path(), 100s);
    std::string error;
    auto j = find_json_line(r.out, &error);
    ASSERT_TRUE(j) << error << "\n" << r.describe();
    ASSERT_FALSE(j->at("top_lines").empty()) << j->dump();
    const auto& top = j->at("top_lines")[0];
    EXPECT_EQ(top.at("file").get<std::string>(), script.string()) << j->dump();
    EXPECT_EQ(top.at("line").get<long>(), hot_line) << j->dump();
    EXPECT_EQ(top.at("function").get<std::string>(), "spin") << j->dump();
    EXPECT_GT(top.at("own").get<long>(), 0);
    EXPECT_GE(top.at("total").get<long>(), top.at("own").get<long>());

    // The table: "Own Own% Total Total% file:line function contents" under its header row.
    const auto table = split_lines(read_text(dir.path() / "prof.lines"));
    ASSERT_GE(table.size(), 5u);
    EXPECT_EQ(
        table[0].rfind(
            "py-sample lines: " + std::to_string(j->at("samples").at("recorded").get<long>()) + " samples over ", 0),
        0u)
        << table[0];
    std::size_t header = 0;
    while (header < table.size() && table[header].find("Line Contents") == std::string::npos) ++header;
    ASSERT_LT(header + 1, table.size());
    std::istringstream row(table[header + 1]);
    std::string own, own_pct, total_samples, total_pct, where, function;
    row >> own >> own_pct >> total_samples >> total_pct >> where >> function;
    std::string contents;
    std::getline(row >> std::ws, contents);
    EXPECT_EQ(own, std::to_string(top.at("own").get<long>())) << table[header + 1];
    EXPECT_EQ(total_samples, std::to_string(top.at("total").get<long>())) << table[header + 1];
    EXPECT_EQ(where, script.string() + ":" + std::to_string(hot_line)) << table[header + 1];
    EXPECT_EQ(function, "spin");
    EXPECT_EQ(contents, hot_text);

    // The page: parsed, nothing external, and the row of the hot line holds its source.
    const std::string html = read_text(dir.path() / "prof.html");
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("src="), std::string::npos);
    EXPECT_EQ(html.find("href=\"http"), std::string::npos);
    const char* check =
        "import sys\n"
        "from html.parser import HTMLParser\n"
        "class P(HTMLParser):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.row = None; self.rows = {}\n"
        "    def handle_starttag(self, tag, attrs):\n"
        "        if tag == 'tr': self.row = dict(attrs).get('id'); self.rows.setdefault(self.row, [])\n"
        "    def handle_data(self, d):\n"
        "        if self.row: self.rows[self.row].append(d)\n"
        "p = P(); p.feed(open(sys.argv[1], encoding='utf-8').read()); p.close()\n"
        "for k, v in sorted((k, v) for k, v in p.rows.items() if k and k.endswith('-L' + sys.argv[2])):\n"
        "    print('ROW', k, '|'.join(x.strip() for x in v if x.strip()))\n";
    auto v = run_command(
        {kDebianPython.string(), "-c", check, (dir.path() / "prof.html").string(), std::to_string(hot_line)},
        dir.path(), 60s);
    ASSERT_EQ(v.exit_code, 0) << v.describe();
    // "ROW f1-L52 52|own|total|x += i * i": the line, its counts and its source.
    EXPECT_NE(v.out.find("ROW f1-L" + std::to_string(hot_line) + " " + std::to_string(hot_line) + "|" +
                         std::to_string(top.at("own").get<long>()) + "|" + std::to_string(top.at("total").get<long>()) +
                         "|" + hot_text + "\n"),
              std::string::npos)
        << v.out;
  }
}

}  // namespace
}  // namespace pyxray::it
