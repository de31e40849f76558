// End-to-end tests of `py-print`: a real Python process per interpreter (tests/workloads/objects.py
// reports, for every object it built, its address and the repr its own interpreter prints), the real
// gdb attached with the pyxray plugin, and pyxray's repr compared character for character.
#include "harness.hpp"
#include "interpreters.hpp"
#include "test_names.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr auto kReadyTimeout = 30s;
constexpr int kWorkloadLifetimeSeconds = 240;  // the workload's own SIGALRM safety net

struct ObjectTruth {
  std::string label;
  uint64_t address = 0;
  std::string type;      // type(obj).__name__
  std::string repr;      // repr(obj)
  std::string expected;  // what pyxray must print: repr(obj) unless the limits or a __repr__ apply
};

struct ObjectsTruth {
  std::string python;
  int major = 0, minor = 0;
  std::vector<ObjectTruth> objects;
  uint64_t inside_bytes = 0;  // an aligned address among a bytes object's characters
  uint64_t misaligned = 0;    // an object's address + 4
  // A threading.Event: where it is, and how pyxray's repr of it begins, what it holds, how it ends.
  uint64_t event = 0;
  std::string event_prefix, event_suffix;
  std::vector<std::string> event_contains;
  const ObjectTruth* by_label(const std::string& label) const {
    for (const auto& o : objects)
      if (o.label == label) return &o;
    return nullptr;
  }
};

// A running objects.py; the destructor kills its process group, then the directory goes.
class ObjectsWorkload {
 public:
  static std::unique_ptr<ObjectsWorkload> start(const Interpreter& interp) {
    std::unique_ptr<ObjectsWorkload> w(new ObjectsWorkload());
    const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/objects.py";
    const fs::path truth_path = w->dir_.path() / "objects.json";
    const fs::path err_path = w->dir_.path() / "workload.err";
    w->proc_ = std::make_unique<Process>(
        std::vector<std::string>{interp.path.string(), "-E", "-s", script.string(), truth_path.string(),
                                 std::to_string(kWorkloadLifetimeSeconds)},
        w->dir_.path() / "workload.out", err_path);
    const auto fail = [&](const std::string& what) {
      throw std::runtime_error(what + " [" + interp.path.string() + "]\n--- workload stderr ---\n" +
                               truncate_middle(read_text(err_path)));
    };
    const auto deadline = Clock::now() + kReadyTimeout;
    while (!fs::exists(truth_path)) {  // written atomically (rename)
      if (!w->proc_->running()) fail("objects.py died before writing its ground truth");
      if (Clock::now() > deadline) fail("objects.py wrote no ground truth within 30 s");
      std::this_thread::sleep_for(20ms);
    }
    try {
      const json j = json::parse(read_text(truth_path));
      if (j.at("pid").get<int>() != w->proc_->pid()) fail("ground truth from another process");
      ObjectsTruth& t = w->truth_;
      t.python = j.at("python").get<std::string>();
      t.major = j.at("version_info").at(0).get<int>();
      t.minor = j.at("version_info").at(1).get<int>();
      for (const auto& o : j.at("objects")) {
        t.objects.push_back({o.at("label").get<std::string>(), o.at("address").get<uint64_t>(),
                             o.at("type").get<std::string>(), o.at("repr").get<std::string>(),
                             o.at("expected").get<std::string>()});
      }
      t.inside_bytes = j.at("not_objects").at("inside_bytes").get<uint64_t>();
      t.misaligned = j.at("not_objects").at("misaligned").get<uint64_t>();
      t.event = j.at("event").at("address").get<uint64_t>();
      t.event_prefix = j.at("event").at("prefix").get<std::string>();
      t.event_contains = j.at("event").at("contains").get<std::vector<std::string>>();
      t.event_suffix = j.at("event").at("suffix").get<std::string>();
    } catch (const json::exception& e) {
      fail(std::string("bad ground truth: ") + e.what());
    }
    return w;
  }

  pid_t pid() const { return proc_->pid(); }
  const ObjectsTruth& truth() const { return truth_; }
  const fs::path& dir() const { return dir_.path(); }
  bool alive() { return proc_->running(); }

 private:
  ObjectsWorkload() = default;
  TempDir dir_;  // declared first: destroyed after the process is gone
  std::unique_ptr<Process> proc_;
  ObjectsTruth truth_;
};

// The `py-print --json` lines of gdb's stdout, by address.
std::map<uint64_t, json> json_lines(const std::string& out, std::vector<std::string>* errors) {
  std::map<uint64_t, json> by_address;
  for (const auto& line : split_lines(out)) {
    if (line.rfind("{\"address\"", 0) != 0) continue;
    try {
      json j = json::parse(line);
      const auto address = j.at("address").get<uint64_t>();
      by_address[address] = std::move(j);
    } catch (const json::exception& e) {
      errors->push_back(std::string("not JSON: ") + e.what() + ": " + line);
    }
  }
  return by_address;
}

// Every object's repr against the truth; returns readable difference lines.
std::vector<std::string> compare_reprs(const ObjectsTruth& truth, const std::map<uint64_t, json>& got) {
  std::vector<std::string> diffs;
  for (const auto& o : truth.objects) {
    auto it = got.find(o.address);
    if (it == got.end()) {
      diffs.push_back(o.label + " (" + hex(o.address) + "): no py-print --json line");
      continue;
    }
    const std::string repr = it->second.value("repr", "<missing>");
    const std::string type = it->second.value("type", "<missing>");
    if (repr != o.expected) diffs.push_back(o.label + ":\n    python: " + o.expected + "\n    pyxray: " + repr);
    // tp_name: the class name, possibly behind its module ("collections.OrderedDict").
    const bool type_ok =
        type == o.type || (type.size() > o.type.size() &&
                           type.compare(type.size() - o.type.size() - 1, std::string::npos, "." + o.type) == 0);
    if (!type_ok) diffs.push_back(o.label + ": type " + type + ", python says " + o.type);
  }
  return diffs;
}

std::string join(const std::vector<std::string>& lines, std::size_t max_lines = 200) {
  std::string out;
  for (std::size_t i = 0; i < lines.size() && i < max_lines; ++i) out += lines[i] + "\n";
  if (lines.size() > max_lines) out += "... and " + std::to_string(lines.size() - max_lines) + " more\n";
  return out;
}

// An address in a gap of the process's mappings (page-aligned, so also 8-aligned).
std::optional<uint64_t> unmapped_address(pid_t pid) {
  std::vector<std::pair<uint64_t, uint64_t>> maps;
  for (const auto& line : split_lines(read_text("/proc/" + std::to_string(pid) + "/maps"))) {
    std::istringstream in(line);
    uint64_t start = 0, end = 0;
    char dash = 0;
    if (in >> std::hex >> start >> dash >> end && dash == '-') maps.emplace_back(start, end);
  }
  std::sort(maps.begin(), maps.end());
  for (std::size_t i = 1; i < maps.size(); ++i) {
    if (maps[i - 1].second >= 0x100000 && maps[i].first - maps[i - 1].second >= 0x3000)
      return maps[i - 1].second + 0x1000;
  }
  return std::nullopt;
}

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

class PyPrint : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    const fs::path plugin = gdb_plugin_path();
    ASSERT_TRUE(fs::exists(plugin)) << "gdb plugin not found: " << plugin;
    try {
      workload_ = ObjectsWorkload::start(GetParam());
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  const ObjectsTruth& truth() const { return workload_->truth(); }

  // gdb must end by itself, without a Python error, and leave the target running.
  void expect_clean(const CommandResult& r) {
    EXPECT_FALSE(r.timed_out) << "gdb was killed after its timeout\n" << r.describe();
    for (const char* bad : {"Traceback", "Python Exception", "internal error"}) {
      EXPECT_EQ(r.out.find(bad), std::string::npos) << "\"" << bad << "\" on stdout\n" << r.describe();
      EXPECT_EQ(r.err.find(bad), std::string::npos) << "\"" << bad << "\" on stderr\n" << r.describe();
    }
    ASSERT_TRUE(workload_->alive()) << "the workload died while gdb was attached";
    for (pid_t tid : task_ids(workload_->pid())) {
      char state = proc_state(workload_->pid(), tid);
      EXPECT_TRUE(state != 't' && state != 'T') << "thread " << tid << " left in state '" << state << "'";
    }
  }

  std::vector<std::string> print_all_json() {
    std::vector<std::string> commands;
    for (const auto& o : truth().objects) commands.push_back("py-print --json " + hex(o.address));
    return commands;
  }

  std::unique_ptr<ObjectsWorkload> workload_;
};

// The workload itself: the cases the tests rely on are there, and its bounded reprs really are cut.
TEST_P(PyPrint, WorkloadCoversTheCases) {
  const auto& t = truth();
  EXPECT_EQ(t.major, GetParam().major);
  EXPECT_EQ(t.minor, GetParam().minor);
  EXPECT_GT(t.objects.size(), 200u);
  int exact = 0, bounded = 0;
  for (const auto& o : t.objects) {
    if (o.expected == o.repr) {
      ++exact;
    } else if (o.expected.find("...") != std::string::npos) {
      ++bounded;
    }
  }
  EXPECT_GT(exact, 180) << "most objects must be compared with Python's own repr, uncut";
  EXPECT_GE(bounded, 10) << "the limits must be exercised";
  for (const char* label : {"list_cycle", "dict_cycle", "list_deep", "list_long", "text_15", "int_19", "float_11",
                            "set_dummies", "split_dict_reordered", "instance_slots", "instance_values",
                            "instance_nested", "instance_cycle", "instance_many", "instance_deleted"})
    EXPECT_TRUE(t.by_label(label)) << "no object labelled " << label;
  const ObjectTruth* cycle = t.by_label("list_cycle");
  ASSERT_TRUE(cycle);
  EXPECT_EQ(cycle->repr, "[1, [...]]");
}

// Every object, with --json: pyxray's repr equals the interpreter's own (or its bounded form).
TEST_P(PyPrint, JsonMatchesPythonRepr) {
  auto r = run_gdb(workload_->pid(), print_all_json(), workload_->dir(), 120s);
  expect_clean(r);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  std::vector<std::string> errors;
  const auto got = json_lines(r.out, &errors);
  EXPECT_TRUE(errors.empty()) << join(errors);
  const auto diffs = compare_reprs(truth(), got);
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " of " << truth().objects.size() << " reprs differ from "
                             << GetParam().path.string() << "'s:\n"
                             << join(diffs) << "\n--- gdb stderr ---\n"
                             << truncate_middle(r.err, 3000);
}

// Text output: the repr alone on its line (ASCII-only cases, whatever gdb's charset).
TEST_P(PyPrint, TextPrintsTheRepr) {
  const std::vector<std::string> labels{"none",      "int_17",    "float_10", "text_3",     "list_cycle",  "dict_cycle",
                                        "set_small", "tuple_one", "type_new", "module_sys", "instance_new"};
  std::vector<std::string> commands;
  for (const auto& label : labels) {
    const ObjectTruth* o = truth().by_label(label);
    ASSERT_TRUE(o) << label;
    commands.push_back("echo @@" + label + "\\n");
    commands.push_back("py-print " + hex(o->address));
  }
  auto r = run_gdb(workload_->pid(), commands, workload_->dir());
  expect_clean(r);
  const auto lines = split_lines(r.out);
  for (const auto& label : labels) {
    auto it = std::find(lines.begin(), lines.end(), "@@" + label);
    ASSERT_NE(it, lines.end()) << "no marker for " << label << "\n" << r.describe();
    ASSERT_NE(it + 1, lines.end()) << "nothing printed for " << label << "\n" << r.describe();
    EXPECT_EQ(*(it + 1), truth().by_label(label)->expected) << label;
  }
}

// An instance shows its attributes, as CPython's libpython.py does, within the repr's bounds: the
// objects' own ground truth (JsonMatchesPythonRepr) covers attributes kept as values (3.11+) and in
// a __dict__, deletions, nesting, cycles and the item limit; here the threading.Event a user sees.
TEST_P(PyPrint, InstanceShowsItsAttributes) {
  auto r = run_gdb(workload_->pid(),
                   {"py-print --json " + hex(truth().event), "echo @@text\\n", "py-print " + hex(truth().event)},
                   workload_->dir());
  expect_clean(r);
  std::vector<std::string> errors;
  const auto got = json_lines(r.out, &errors);
  ASSERT_TRUE(errors.empty()) << join(errors);
  auto it = got.find(truth().event);
  ASSERT_NE(it, got.end()) << r.describe();
  const std::string repr = it->second.at("repr").get<std::string>();
  EXPECT_EQ(repr.rfind(truth().event_prefix, 0), 0u) << repr;
  ASSERT_EQ(truth().event_contains.size(), 2u);
  for (const auto& part : truth().event_contains)
    EXPECT_NE(repr.find(part), std::string::npos) << part << " in " << repr;
  ASSERT_GE(repr.size(), truth().event_suffix.size()) << repr;
  EXPECT_EQ(repr.substr(repr.size() - truth().event_suffix.size()), truth().event_suffix) << repr;
  // Text: the same repr on its own line.
  const auto lines = split_lines(r.out);
  auto text = std::find(lines.begin(), lines.end(), "@@text");
  ASSERT_NE(text, lines.end()) << r.describe();
  ASSERT_NE(text + 1, lines.end()) << r.describe();
  EXPECT_EQ(*(text + 1), repr);
}

// Addresses that are not objects: one clear line each, and gdb (and pyxray) carry on working.
TEST_P(PyPrint, NotAnObjectIsOneClearLine) {
  auto unmapped = unmapped_address(workload_->pid());
  ASSERT_TRUE(unmapped) << "no gap found in /proc/" << workload_->pid() << "/maps";
  const ObjectTruth* list = truth().by_label("list_mixed");
  ASSERT_TRUE(list);
  const std::vector<uint64_t> bad{0x10, *unmapped, truth().misaligned, truth().inside_bytes, 0};
  std::vector<std::string> commands;
  for (uint64_t a : bad) commands.push_back("py-print " + hex(a));
  commands.push_back("py-print --json " + hex(truth().inside_bytes));
  commands.push_back("echo @@after\\n");
  commands.push_back("py-print " + hex(list->address));
  auto r = run_gdb(workload_->pid(), commands, workload_->dir());
  expect_clean(r);
  std::vector<std::string> pyxray_lines;
  for (const auto* stream : {&r.out, &r.err})
    for (const auto& line : split_lines(*stream))
      if (line.rfind("pyxray:", 0) == 0) pyxray_lines.push_back(line);
  ASSERT_EQ(pyxray_lines.size(), bad.size() + 1) << r.describe();
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(pyxray_lines[i].rfind("pyxray: " + hex(bad[i]) + " is not a Python object: ", 0), 0u) << pyxray_lines[i];
  }
  const auto lines = split_lines(r.out);
  auto after = std::find(lines.begin(), lines.end(), "@@after");
  ASSERT_NE(after, lines.end()) << r.describe();
  ASSERT_NE(after + 1, lines.end()) << r.describe();
  EXPECT_EQ(*(after + 1), list->expected) << "py-print after the errors\n" << r.describe();
}

// Pointers into the middle of objects (what a stray or stale pointer looks like): each gives one
// line, a repr or a one-line error, and nothing crashes, hangs or disturbs the target.
TEST_P(PyPrint, InteriorPointersGiveOneLineEach) {
  constexpr int kOffsets = 8;  // 8, 16, ... 64 bytes into each object
  std::vector<std::string> commands;
  for (const auto& o : truth().objects)
    for (int k = 1; k <= kOffsets; ++k) commands.push_back("py-print --json " + hex(o.address + 8 * k));
  auto r = run_gdb(workload_->pid(), commands, workload_->dir(), 120s);
  expect_clean(r);
  std::size_t reprs = 0, errors = 0;
  for (const auto& line : split_lines(r.out)) reprs += line.rfind("{\"address\"", 0) == 0;
  for (const auto& line : split_lines(r.err)) errors += line.rfind("pyxray: 0x", 0) == 0;
  EXPECT_EQ(reprs + errors, commands.size())
      << reprs << " reprs and " << errors << " errors for " << commands.size() << " commands\n"
      << r.describe();
  EXPECT_GT(errors, commands.size() / 2) << "most interior pointers are not objects";
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyPrint, testing::ValuesIn(all_interpreters()), param_name);

// Debian's python3.11 without its debug file: every offset comes from the built-in tables.
TEST(PyPrintTables, DebianPythonWithoutDebuginfo) {
  Interpreter debian;
  for (const auto& i : all_interpreters())
    if (i.path == kDebianPython) debian = i;
  ASSERT_TRUE(fs::exists(debian.path)) << debian.path << " is missing";
  std::unique_ptr<ObjectsWorkload> w;
  try {
    w = ObjectsWorkload::start(debian);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  std::vector<std::string> commands{"py-layout --json"};
  for (const auto& o : w->truth().objects) commands.push_back("py-print --json " + hex(o.address));
  auto r = run_gdb(w->pid(), commands, w->dir(), 120s, {"set debug-file-directory /nonexistent"});
  ASSERT_FALSE(r.timed_out) << r.describe();
  std::optional<json> layout;
  for (const auto& line : split_lines(r.out))
    if (line.rfind("{", 0) == 0 && line.find("\"source\"") != std::string::npos) layout = json::parse(line);
  ASSERT_TRUE(layout) << "no py-layout --json line\n" << r.describe();
  const std::string source = layout->value("source", "");
  EXPECT_EQ(source.find("debuginfo"), std::string::npos) << "debuginfo was found after all: " << source;
  EXPECT_NE(source.find("table"), std::string::npos) << source;
  std::vector<std::string> errors;
  const auto diffs = compare_reprs(w->truth(), json_lines(r.out, &errors));
  EXPECT_TRUE(errors.empty()) << join(errors);
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " reprs differ (layout from " << source << "):\n" << join(diffs);
  EXPECT_TRUE(w->alive());
}

}  // namespace
}  // namespace pyxray::it
