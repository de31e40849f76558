// End-to-end tests of the heap commands on every interpreter: tests/workloads/heap.py builds known
// objects, measures its own heap from the inside (gc.get_objects + gc.get_referents + sys.getsizeof)
// and blocks; pyxray, from gdb, must find the same objects with the same sizes:
//
//  - exactly 12,345 __main__.Leaky, 2,346 __main__.SlottedLeaky and 7 __main__.Wide (over 512 bytes:
//    outside pymalloc, on the GC lists), with exactly the bytes sys.getsizeof gives them;
//  - floats, strs and tuples, and the whole heap, within 5% of the in-process walk (pyxray also
//    sees what that walk cannot reach: code objects' private tuples, static types' dicts, ...);
//  - sys.getsizeof exactly for every labelled object and for a sweep of up to 3 objects of every
//    type whose size rules pyxray models; the deep size of a nested structure exactly;
//  - the 64 MiB bytes object as the biggest, with its exact size;
//  - the chain __main__.HOLDER -> list [0] -> dict ['target'] -> object for an object held only
//    that way, each step labelled with where the reference sits (also through a slot and an
//    instance attribute);
//  - py-sizeof and py-referrers of a NAME (a local, a global) as py-print finds it, and why a deep
//    size is partial.
// Also: the allocators (PYTHONMALLOC=malloc, pymalloc_debug), a stripped interpreter without
// debuginfo (no arena symbols: GC lists and references only), and a core file.
#include "harness.hpp"
#include "interpreters.hpp"
#include "test_names.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr auto kReadyTimeout = 90s;  // the in-process walk takes a few seconds on 2.7
constexpr int kWorkloadLifetimeSeconds = 300;
constexpr double kTolerance = 0.05;

// Types whose sys.getsizeof pyxray promises exactly (builtins it models, and classes).
// clang-format off
const std::set<std::string> kExactTypes = {
    "int", "bool", "float", "complex", "str", "unicode", "bytes", "bytearray", "tuple", "list", "dict", "set",
    "frozenset", "type", "module", "function", "cell", "code", "generator", "coroutine", "collections.deque",
    "NoneType", "object", "classobj", "instance", "long", "builtin_function_or_method", "method",
    "instancemethod", "weakref.ReferenceType", "weakref", "property", "staticmethod", "classmethod",
    "getset_descriptor", "member_descriptor", "method_descriptor", "wrapper_descriptor"};
// clang-format on

bool exact_type(const std::string& t) { return kExactTypes.contains(t) || t.rfind("__main__.", 0) == 0; }

struct Sample {
  std::string label, type;
  uint64_t address = 0, size = 0;
};

struct HeapTruth {
  std::string python;
  int major = 0, minor = 0;
  std::map<std::string, uint64_t> counts;  // the classes whose instances are counted exactly
  Sample big_bytes;
  std::vector<Sample> samples, sweep;
  uint64_t nested = 0, nested_deep = 0, nested_objects = 0;
  uint64_t target = 0, local_target = 0, slot_target = 0, attr_target = 0, keep = 0;
  std::string chain, local_chain_end, slot_chain, attr_chain;
  uint64_t objects = 0, bytes = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> types;  // name -> (count, bytes)
};

Sample sample_from(const json& j, const std::string& label) {
  return {label, j.value("type", ""), j.at("address").get<uint64_t>(), j.at("size").get<uint64_t>()};
}

// A running heap.py; the destructor kills its process group, then the directory goes.
class HeapWorkload {
 public:
  static std::unique_ptr<HeapWorkload> start(const Interpreter& interp, const EnvOverrides& env = {},
                                             bool ignore_environment = true) {
    std::unique_ptr<HeapWorkload> w(new HeapWorkload());
    const fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/heap.py";
    const fs::path truth_path = w->dir_.path() / "heap.json";
    const fs::path err_path = w->dir_.path() / "workload.err";
    std::vector<std::string> argv{interp.path.string()};
    if (ignore_environment) argv.push_back("-E");  // PYTHONMALLOC needs the environment
    argv.insert(argv.end(), {"-s", script.string(), truth_path.string(), std::to_string(kWorkloadLifetimeSeconds)});
    w->proc_ = std::make_unique<Process>(argv, w->dir_.path() / "workload.out", err_path, env);
    const auto fail = [&](const std::string& what) {
      throw std::runtime_error(what + " [" + interp.path.string() + "]\n--- workload stderr ---\n" +
                               truncate_middle(read_text(err_path)));
    };
    const auto deadline = Clock::now() + kReadyTimeout;
    while (!fs::exists(truth_path)) {  // written atomically (rename)
      if (!w->proc_->running()) fail("heap.py died before writing its ground truth");
      if (Clock::now() > deadline) fail("heap.py wrote no ground truth in time");
      std::this_thread::sleep_for(50ms);
    }
    try {
      const json j = json::parse(read_text(truth_path));
      if (j.at("pid").get<int>() != w->proc_->pid()) fail("ground truth from another process");
      HeapTruth& t = w->truth_;
      t.python = j.at("python").get<std::string>();
      t.major = j.at("version_info").at(0).get<int>();
      t.minor = j.at("version_info").at(1).get<int>();
      for (const auto& [k, v] : j.at("counts").items()) t.counts[k] = v.get<uint64_t>();
      t.big_bytes = sample_from(j.at("big_bytes"), "big_bytes");
      for (const auto& s : j.at("samples")) t.samples.push_back(sample_from(s, s.at("label").get<std::string>()));
      for (const auto& s : j.at("sweep")) t.sweep.push_back(sample_from(s, "sweep"));
      t.nested = j.at("nested").at("address").get<uint64_t>();
      t.nested_deep = j.at("nested").at("deep_size").get<uint64_t>();
      t.nested_objects = j.at("nested").at("deep_objects").get<uint64_t>();
      t.target = j.at("target").at("address").get<uint64_t>();
      t.chain = j.at("target").at("chain").get<std::string>();
      t.local_target = j.at("local_target").at("address").get<uint64_t>();
      t.local_chain_end = j.at("local_target").at("chain_end").get<std::string>();
      t.keep = j.at("local_target").at("holder").get<uint64_t>();
      t.slot_target = j.at("slot_target").at("address").get<uint64_t>();
      t.slot_chain = j.at("slot_target").at("chain").get<std::string>();
      t.attr_target = j.at("attr_target").at("address").get<uint64_t>();
      t.attr_chain = j.at("attr_target").at("chain").get<std::string>();
      t.objects = j.at("heap").at("objects").get<uint64_t>();
      t.bytes = j.at("heap").at("bytes").get<uint64_t>();
      for (const auto& [k, v] : j.at("heap").at("types").items())
        t.types[k] = {v.at("count").get<uint64_t>(), v.at("bytes").get<uint64_t>()};
    } catch (const json::exception& e) {
      fail(std::string("bad ground truth: ") + e.what());
    }
    return w;
  }

  pid_t pid() const { return proc_->pid(); }
  const HeapTruth& truth() const { return truth_; }
  const fs::path& dir() const { return dir_.path(); }
  bool alive() { return proc_->running(); }
  void kill() { proc_->kill_group(); }

 private:
  HeapWorkload() = default;
  TempDir dir_;  // declared first: destroyed after the process is gone
  std::unique_ptr<Process> proc_;
  HeapTruth truth_;
};

// The text between the line `from` and the line `to` ("": the end).
std::string section(const std::string& out, const std::string& from, const std::string& to) {
  auto a = out.find(from + "\n");
  if (a == std::string::npos) return "";
  a += from.size() + 1;
  auto b = to.empty() ? std::string::npos : out.find(to + "\n", a);
  return out.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

// Every stdout line that is a JSON object starting with `prefix`, parsed.
std::vector<json> json_lines(const std::string& out, const std::string& prefix) {
  std::vector<json> v;
  for (const auto& line : split_lines(out)) {
    if (line.rfind(prefix, 0) != 0) continue;
    try {
      v.push_back(json::parse(line));
    } catch (const json::exception&) {
    }
  }
  return v;
}

double rel(uint64_t got, uint64_t want) {
  return want ? std::fabs(static_cast<double>(got) - static_cast<double>(want)) / static_cast<double>(want) : 1.0;
}

std::string join(const std::vector<std::string>& lines, std::size_t max_lines = 100) {
  std::string out;
  for (std::size_t i = 0; i < lines.size() && i < max_lines; ++i) out += lines[i] + "\n";
  if (lines.size() > max_lines) out += "... and " + std::to_string(lines.size() - max_lines) + " more\n";
  return out;
}

// `py-heap-summary --json` against the in-process walk; difference lines (empty: it matches).
std::vector<std::string> compare_summary(const HeapTruth& t, const json& s, bool expect_pymalloc) {
  std::vector<std::string> d;
  std::map<std::string, json> types;
  uint64_t count_sum = 0, bytes_sum = 0, prev_bytes = UINT64_MAX;
  for (const auto& e : s.at("types")) {
    const std::string name = e.at("type").get<std::string>();
    const uint64_t count = e.at("count").get<uint64_t>(), bytes = e.at("bytes").get<uint64_t>();
    if (types.contains(name)) d.push_back("type " + name + " listed twice");
    types[name] = e;
    count_sum += count;
    bytes_sum += bytes;
    if (count == 0 || e.at("max").get<uint64_t>() > bytes) d.push_back("implausible row for " + name + ": " + e.dump());
    if (bytes > prev_bytes) d.push_back("types not sorted by bytes at " + name);
    prev_bytes = bytes;
  }
  const uint64_t objects = s.at("objects").get<uint64_t>(), bytes = s.at("bytes").get<uint64_t>();
  if (count_sum != objects)
    d.push_back("type counts add up to " + std::to_string(count_sum) + ", not " + std::to_string(objects));
  if (bytes_sum != bytes)
    d.push_back("type bytes add up to " + std::to_string(bytes_sum) + ", not " + std::to_string(bytes));
  // Classes: exact counts, and exactly the bytes sys.getsizeof gives them.
  for (const auto& [name, want] : t.counts) {
    uint64_t got = types.contains(name) ? types[name].at("count").get<uint64_t>() : 0;
    uint64_t want_count = t.types.contains(name) ? t.types.at(name).first : want;
    if (got != want_count)
      d.push_back(name + ": " + std::to_string(got) + " objects, Python counts " + std::to_string(want_count));
    if (got == want_count && t.types.contains(name)) {
      uint64_t gb = types[name].at("bytes").get<uint64_t>();
      if (gb != t.types.at(name).second)
        d.push_back(name + ": " + std::to_string(gb) + " bytes, Python says " +
                    std::to_string(t.types.at(name).second));
    }
  }
  // Mass-produced builtins and the whole heap: within the tolerance.
  const std::string str_type = t.major == 2 ? "str" : "str";
  for (const std::string& name : {std::string("float"), str_type, std::string("tuple")}) {
    if (!t.types.contains(name)) {
      d.push_back("the ground truth has no " + name);
      continue;
    }
    uint64_t got = types.contains(name) ? types[name].at("count").get<uint64_t>() : 0;
    if (rel(got, t.types.at(name).first) > kTolerance)
      d.push_back(name + ": " + std::to_string(got) + " objects, Python counts " +
                  std::to_string(t.types.at(name).first));
  }
  if (rel(objects, t.objects) > kTolerance)
    d.push_back("total " + std::to_string(objects) + " objects, Python counts " + std::to_string(t.objects));
  if (rel(bytes, t.bytes) > kTolerance)
    d.push_back("total " + std::to_string(bytes) + " bytes, Python counts " + std::to_string(t.bytes));
  if (s.at("pymalloc").get<bool>() != expect_pymalloc)
    d.push_back(std::string("expected the walk ") + (expect_pymalloc ? "to" : "not to") +
                " use pymalloc's arenas: " + s.at("allocator").get<std::string>());
  if (s.at("partial").get<bool>()) d.push_back("the walk says it is partial: " + s.at("warnings").dump());
  return d;
}

std::string param_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }

void expect_clean(const CommandResult& r) {
  EXPECT_FALSE(r.timed_out) << "gdb was killed after its timeout\n" << r.describe();
  for (const char* bad : {"Traceback", "Python Exception", "internal error", "Fatal signal"}) {
    EXPECT_EQ(r.out.find(bad), std::string::npos) << "\"" << bad << "\" on stdout\n" << r.describe();
    EXPECT_EQ(r.err.find(bad), std::string::npos) << "\"" << bad << "\" on stderr\n" << r.describe();
  }
}

std::optional<json> summary_json(const CommandResult& r) {
  auto v = json_lines(r.out, "{\"objects\"");
  for (const auto& j : v)
    if (j.contains("types")) return j;
  return std::nullopt;
}

class PyHeap : public testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      workload_ = HeapWorkload::start(GetParam());
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  const HeapTruth& truth() const { return workload_->truth(); }
  std::unique_ptr<HeapWorkload> workload_;
};

// The summary, as JSON and as text, against the process's own walk of its heap.
TEST_P(PyHeap, SummaryMatchesInProcessWalk) {
  auto r = run_gdb(workload_->pid(), {"py-heap-summary --json", "py-heap-summary --limit 50"}, workload_->dir(), 180s);
  expect_clean(r);
  ASSERT_TRUE(workload_->alive());
  auto s = summary_json(r);
  ASSERT_TRUE(s) << r.describe();
  const auto diffs = compare_summary(truth(), *s, true);
  EXPECT_TRUE(diffs.empty()) << GetParam().path.string() << ":\n" << join(diffs);
  // Text: the totals line and the Leaky row with its count.
  const auto lines = split_lines(r.out);
  auto total = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("Total ", 0) == 0; });
  ASSERT_NE(total, lines.end()) << r.describe();
  EXPECT_NE(total->find(" objects, "), std::string::npos) << *total;
  ASSERT_NE(total + 1, lines.end());
  EXPECT_EQ((total + 1)->find("Index"), (total + 1)->find_first_not_of(' ')) << *(total + 1);
  bool leaky = false;
  for (const auto& l : lines)
    leaky = leaky ||
            (l.find(" 12,345 ") != std::string::npos && l.size() >= 15 && l.rfind("__main__.Leaky") == l.size() - 14);
  EXPECT_TRUE(leaky) << "no text row with 12,345 __main__.Leaky\n" << r.describe();
}

// py-sizeof: every labelled object, a sweep of every modelled type, and one deep size, exactly.
TEST_P(PyHeap, SizeofMatchesGetsizeof) {
  std::vector<std::string> commands;
  std::vector<Sample> all = truth().samples;
  all.insert(all.end(), truth().sweep.begin(), truth().sweep.end());
  for (const auto& s : all) commands.push_back("py-sizeof --json " + hex(s.address));
  commands.push_back("py-sizeof --deep --json " + hex(truth().nested));
  commands.push_back("py-sizeof --deep " + hex(truth().nested));
  auto r = run_gdb(workload_->pid(), commands, workload_->dir(), 180s);
  expect_clean(r);
  std::map<uint64_t, json> got;
  json deep;
  for (auto& j : json_lines(r.out, "{\"address\"")) {
    if (j.contains("deep_size")) deep = j;
    else got[j.at("address").get<uint64_t>()] = j;
  }
  std::vector<std::string> diffs, loose;
  for (const auto& s : all) {
    const bool labelled = s.label != "sweep";
    auto it = got.find(s.address);
    if (it == got.end()) {
      // A sweep object may have been freed since the walk (the walk's own frames, say).
      if (labelled) diffs.push_back(s.label + " (" + hex(s.address) + "): no py-sizeof --json line");
      continue;
    }
    const uint64_t size = it->second.at("size").get<uint64_t>();
    const std::string type = it->second.at("type").get<std::string>();
    if (size == s.size && type == s.type) continue;
    std::string line = s.label + " " + hex(s.address) + " " + s.type + ": Python " + std::to_string(s.size) +
                       ", pyxray " + std::to_string(size) + " (" + type + ")";
    (labelled || exact_type(s.type) ? diffs : loose).push_back(line);
  }
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " sizes differ:\n"
                             << join(diffs) << "\n(unmodelled types, not failures:\n"
                             << join(loose) << ")";
  if (!loose.empty()) std::cout << "[ info ] sizes of types pyxray does not model:\n" << join(loose);
  ASSERT_FALSE(deep.is_null()) << r.describe();
  EXPECT_EQ(deep.at("deep_size").get<uint64_t>(), truth().nested_deep) << deep.dump();
  EXPECT_EQ(deep.at("deep_objects").get<uint64_t>(), truth().nested_objects) << deep.dump();
  EXPECT_NE(r.out.find("deep: "), std::string::npos) << r.describe();
}

// py-biggest: the 64 MiB bytes first; --type keeps one type. py-referrers: the chain to HOLDER.
TEST_P(PyHeap, BiggestAndReferrers) {
  auto r =
      run_gdb(workload_->pid(),
              {"py-biggest 3 --json", "py-biggest 5 --type __main__.Wide --json", "py-biggest 2",
               "py-referrers --json " + hex(truth().target), "py-referrers " + hex(truth().target),
               "py-referrers --json " + hex(truth().local_target), "py-referrers --json " + hex(truth().slot_target),
               "py-referrers --json " + hex(truth().attr_target), "py-sizeof 0x10", "py-referrers 0x10"},
              workload_->dir(), 240s);
  expect_clean(r);
  auto biggest = json_lines(r.out, "{\"objects\"");
  ASSERT_EQ(biggest.size(), 2u) << r.describe();
  const auto& top = biggest[0].at("objects");
  ASSERT_EQ(top.size(), 3u) << biggest[0].dump();
  EXPECT_EQ(top[0].at("address").get<uint64_t>(), truth().big_bytes.address) << top.dump();
  EXPECT_EQ(top[0].at("size").get<uint64_t>(), truth().big_bytes.size) << top.dump();
  EXPECT_EQ(top[0].at("type").get<std::string>(), truth().big_bytes.type) << top.dump();
  EXPECT_GE(top[0].at("size").get<uint64_t>(), top[1].at("size").get<uint64_t>());
  const auto& wides = biggest[1].at("objects");
  EXPECT_EQ(wides.size(), 5u) << biggest[1].dump();
  EXPECT_EQ(biggest[1].at("matched").get<uint64_t>(), 7u) << biggest[1].dump();
  for (const auto& w : wides) EXPECT_EQ(w.at("type").get<std::string>(), "__main__.Wide") << w.dump();
  bool text_row = false;
  for (const auto& line : split_lines(r.out)) {
    auto at = line.find(" " + hex(truth().big_bytes.address) + " ");
    text_row = text_row ||
               (at != std::string::npos && line.find(" " + truth().big_bytes.type + ": ", at) != std::string::npos);
  }
  EXPECT_TRUE(text_row) << "no text py-biggest row for the big bytes\n" << r.describe();

  auto refs = json_lines(r.out, "{\"address\"");
  ASSERT_EQ(refs.size(), 4u) << r.describe();
  // Held by a frame local of the blocked main(): "thread <tid> frame main: keep -> list -> bytearray".
  const auto& local = refs[1].at("chains");
  ASSERT_FALSE(local.empty()) << refs[1].dump();
  const std::string lc = local[0].at("chain").get<std::string>();
  EXPECT_EQ(lc.rfind("thread ", 0), 0u) << lc;
  EXPECT_TRUE(lc.size() > truth().local_chain_end.size() &&
              lc.compare(lc.size() - truth().local_chain_end.size(), std::string::npos, truth().local_chain_end) == 0)
      << lc;
  EXPECT_EQ(local[0].at("kind").get<std::string>(), "local");
  const auto& chains = refs[0].at("chains");
  ASSERT_FALSE(chains.empty()) << refs[0].dump();
  EXPECT_EQ(chains[0].at("chain").get<std::string>(), truth().chain) << refs[0].dump();
  EXPECT_EQ(chains[0].at("kind").get<std::string>(), "global");
  const auto& path = chains[0].at("path");
  ASSERT_EQ(path.size(), 3u) << refs[0].dump();
  EXPECT_EQ(path[2].at("address").get<uint64_t>(), truth().target);
  // Each step's edge: where that object holds the next; none for the target.
  EXPECT_EQ(path[0].value("edge", json()), json("[0]")) << path.dump();
  EXPECT_EQ(path[1].value("edge", json()), json("['target']")) << path.dump();
  EXPECT_TRUE(path[2].at("edge").is_null()) << path.dump();
  // Through a slot and through an instance attribute (its values or its __dict__, by version).
  for (const auto& [got, want] : {std::pair{refs[2], truth().slot_chain}, std::pair{refs[3], truth().attr_chain}}) {
    ASSERT_FALSE(got.at("chains").empty()) << got.dump();
    EXPECT_EQ(got.at("chains")[0].at("chain").get<std::string>(), want) << got.dump();
  }
  ASSERT_EQ(refs[0].at("referrers").size(), 1u) << refs[0].dump();
  EXPECT_EQ(refs[0].at("referrers")[0].at("address"), path[1].at("address"));
  EXPECT_NE(r.out.find("  " + truth().chain + "\n"), std::string::npos) << r.describe();
  // Not an object: one clear error line each.
  std::size_t errors = 0;
  for (const auto& line : split_lines(r.err)) errors += line.rfind("pyxray: 0x10 is not a Python object", 0) == 0;
  EXPECT_EQ(errors, 2u) << r.describe();
}

// py-sizeof and py-referrers take a NAME as py-print does (a local, then a global, of the selected
// frame: main(), blocked); a partial deep size says why; counts are in the singular when they are 1.
TEST_P(PyHeap, NamesAndPartialDeepSize) {
  const Sample* int_big = nullptr;
  for (const auto& s : truth().samples)
    if (s.label == "int_big") int_big = &s;
  ASSERT_TRUE(int_big);
  auto r = run_gdb(
      workload_->pid(),
      {"py-sizeof --deep --json NESTED", "py-sizeof --json keep", "py-referrers --json HOLDER",
       "py-sizeof --deep --json --max deep-objects=3 NESTED", "echo @@partial\\n",
       "py-sizeof --deep --max deep-objects=3 NESTED", "echo @@one\\n", "py-sizeof --deep " + hex(int_big->address),
       "echo @@names\\n", "py-sizeof NESTED", "py-sizeof no_such_name", "py-referrers no_such_name"},
      workload_->dir(), 240s);
  expect_clean(r);
  auto out = json_lines(r.out, "{\"name\"");
  ASSERT_EQ(out.size(), 4u) << r.describe();
  // A global: the same object and deep size as by address.
  EXPECT_EQ(out[0].at("scope"), "global") << out[0].dump();
  EXPECT_EQ(out[0].at("address").get<uint64_t>(), truth().nested) << out[0].dump();
  EXPECT_EQ(out[0].at("deep_size").get<uint64_t>(), truth().nested_deep) << out[0].dump();
  EXPECT_EQ(out[0].at("deep_objects").get<uint64_t>(), truth().nested_objects) << out[0].dump();
  EXPECT_FALSE(out[0].at("partial").get<bool>()) << out[0].dump();
  // A local of main().
  EXPECT_EQ(out[1].at("name"), "keep") << out[1].dump();
  EXPECT_EQ(out[1].at("scope"), "local") << out[1].dump();
  EXPECT_EQ(out[1].at("address").get<uint64_t>(), truth().keep) << out[1].dump();
  EXPECT_EQ(out[1].at("type"), "list") << out[1].dump();
  // py-referrers HOLDER: the list the module global holds, found from the global itself.
  EXPECT_EQ(out[2].at("scope"), "global") << out[2].dump();
  ASSERT_FALSE(out[2].at("chains").empty()) << out[2].dump();
  EXPECT_EQ(out[2].at("chains")[0].at("root"), "__main__.HOLDER") << out[2].dump();
  EXPECT_EQ(out[2].at("chains")[0].at("path").size(), 1u) << out[2].dump();
  // Cut at 3 objects: partial, and the reason names the limit.
  ASSERT_GT(truth().nested_objects, 3u);
  EXPECT_EQ(out[3].at("deep_objects").get<uint64_t>(), 3u) << out[3].dump();
  EXPECT_TRUE(out[3].at("partial").get<bool>()) << out[3].dump();
  EXPECT_EQ(out[3].value("partial_reason", ""), "stopped at 3 objects (raise it with --max deep-objects=N)")
      << out[3].dump();
  const std::string partial = section(r.out, "@@partial", "@@one");
  EXPECT_NE(partial.find(" bytes in 3 objects ("), std::string::npos) << partial;
  EXPECT_NE(partial.find("pyxray: warning: the deep size is partial: stopped at 3 objects (raise it with --max "
                         "deep-objects=N)\n"),
            std::string::npos)
      << partial;
  // An int holds nothing: one object, in the singular, and not partial.
  const std::string one = section(r.out, "@@one", "@@names");
  EXPECT_NE(one.find("deep: " + grouped_number(int_big->size) + " bytes in 1 object ("), std::string::npos) << one;
  EXPECT_EQ(one.find("partial"), std::string::npos) << one;
  // Text names what was asked for; a name that is not there is one clear line each.
  const std::string names = section(r.out, "@@names", "");
  EXPECT_NE(names.find("global NESTED = " + hex(truth().nested) + " (dict): "), std::string::npos) << names;
  std::size_t errors = 0;
  for (const auto& line : split_lines(r.err))
    errors += line == "pyxray: no local, global or builtin named 'no_such_name' in frame #0 (main)";
  EXPECT_EQ(errors, 2u) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyHeap, testing::ValuesIn(all_interpreters()), param_name);

// --- allocators and missing symbols ---

std::optional<Interpreter> pyenv_311() {
  for (const auto& i : pyenv_interpreters())
    if (i.major == 3 && i.minor == 11) return i;
  return std::nullopt;
}

void summary_for(const Interpreter& interp, const EnvOverrides& env, bool ignore_environment,
                 const std::vector<std::string>& init, bool expect_pymalloc, const std::string& allocator,
                 bool expect_no_warnings = false) {
  std::unique_ptr<HeapWorkload> w;
  try {
    w = HeapWorkload::start(interp, env, ignore_environment);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto r = run_gdb(w->pid(), {"py-heap-summary --json", "py-biggest 1 --json"}, w->dir(), 240s, init);
  expect_clean(r);
  auto s = summary_json(r);
  ASSERT_TRUE(s) << r.describe();
  EXPECT_EQ(s->at("allocator").get<std::string>().rfind(allocator, 0), 0u) << s->at("allocator");
  const auto diffs = compare_summary(w->truth(), *s, expect_pymalloc);
  EXPECT_TRUE(diffs.empty()) << join(diffs);
  if (expect_no_warnings) {
    EXPECT_TRUE(s->at("warnings").empty()) << s->at("warnings").dump();
  }
  auto big = json_lines(r.out, "{\"objects\"");
  ASSERT_EQ(big.size(), 2u) << r.describe();
  EXPECT_EQ(big[1].at("objects")[0].at("address").get<uint64_t>(), w->truth().big_bytes.address);
}

TEST(PyHeapAllocators, MallocFindsObjectsByGcListsAndReferences) {
  auto interp = pyenv_311();
  ASSERT_TRUE(interp) << "no pyenv 3.11";
  summary_for(*interp, {{"PYTHONMALLOC", "malloc"}}, false, {}, false, "malloc");
}

TEST(PyHeapAllocators, PymallocDebugHooks) {
  auto interp = pyenv_311();
  ASSERT_TRUE(interp) << "no pyenv 3.11";
  summary_for(*interp, {{"PYTHONMALLOC", "pymalloc_debug"}}, false, {}, true, "pymalloc (debug hooks)");
}

// Debian's builds without their debug files (python3.11 on the host, sid's 3.14 and 3.15 in their
// container): the layout comes from _Py_DebugOffsets (3.14+) and the built-in tables, and the arena
// vector or obmalloc state (statics) has no symbol: py-arenas' validated scan of .bss finds it, so
// the walk streams the arenas as with symbols, and says nothing is amiss.
class PyHeapNoDebuginfo : public testing::TestWithParam<Interpreter> {};

TEST_P(PyHeapNoDebuginfo, SummaryWithoutSymbols) {
  ASSERT_TRUE(fs::exists(GetParam().path)) << GetParam().path << " is missing";
  summary_for(GetParam(), {}, true, {"set debug-file-directory /nonexistent"}, true, "pymalloc",
              /*expect_no_warnings=*/true);
}

std::vector<Interpreter> debian_interpreters() {
  std::vector<Interpreter> out;
  for (const auto& i : all_interpreters())
    if (i.debian) out.push_back(i);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyHeapNoDebuginfo, testing::ValuesIn(debian_interpreters()), param_name);

// A core file: the same walk, with every byte read through gdb.
TEST(HeapCoreFile, SummaryAndBiggestFromACore) {
  auto interp = pyenv_311();
  ASSERT_TRUE(interp) << "no pyenv 3.11";
  std::unique_ptr<HeapWorkload> w;
  try {
    w = HeapWorkload::start(*interp, {{"MALLOC_ARENA_MAX", "1"}});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const fs::path core = w->dir() / "core";
  try {
    write_core(w->pid(), core, w->dir());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const HeapTruth truth = w->truth();
  w->kill();
  auto r = run_gdb_core(interp->path, core, {"py-heap-summary --json", "py-biggest 1 --json"}, w->dir(), 300s);
  std::error_code ec;
  fs::remove(core, ec);
  expect_clean(r);
  auto s = summary_json(r);
  ASSERT_TRUE(s) << r.describe();
  const auto diffs = compare_summary(truth, *s, true);
  EXPECT_TRUE(diffs.empty()) << join(diffs);
  auto big = json_lines(r.out, "{\"objects\"");
  ASSERT_EQ(big.size(), 2u) << r.describe();
  EXPECT_EQ(big[1].at("objects")[0].at("address").get<uint64_t>(), truth.big_bytes.address);
  EXPECT_EQ(big[1].at("objects")[0].at("size").get<uint64_t>(), truth.big_bytes.size);
}

}  // namespace
}  // namespace pyxray::it
