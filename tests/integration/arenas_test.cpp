// End-to-end tests of `py-arenas`: a real process per interpreter (tests/workloads/arenas.py) records
// what it says about its own heaps at one moment after which it allocates nothing - the output of
// sys._debugmallocstats() for pymalloc, mallinfo2() and malloc_info() for glibc - and pyxray, attached
// with the real gdb afterwards, must report the same numbers:
//   pymalloc, exactly: per size class the pools, blocks in use and available blocks; arenas allocated
//     current/total/reclaimed/highwater; bytes in allocated and available blocks, unused pools, pool
//     headers, quantization, arena alignment, the total. The text table is character for character
//     the one _debugmallocstats prints. (2.7 has no _debugmallocstats: its truth is a reference walk
//     of the frozen process from a forked child, itself checked against _debugmallocstats on 3.6-3.11.)
//   glibc, exactly against mallinfo2(): bytes from the system (arena), in use (uordblks), free
//     (fordblks), fastbin chunks and bytes (smblks, fsmblks), free chunks (ordblks), mmapped regions and
//     bytes (hblks, hblkhd), the main arena's top (keepcost); per arena against malloc_info(): system
//     current and max, fastbin count and size, free chunk count. malloc_info's per-heap "rest" size adds
//     the flag bits of each binned chunk (it sums chunksize_nomask), so there pyxray's top + bin bytes
//     must be below it by at least 1 and at most 7 per binned chunk.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr auto kReadyTimeout = 60s;
constexpr int kWorkloadLifetimeSeconds = 240;

// --- ground truth ---

struct ClassTruth {
  uint64_t size = 0, pools = 0, blocks = 0, avail = 0;
};

// pymalloc as the process reported it: the class table and the "label = value" lines.
struct PymallocTruth {
  bool present = false;  // false: the process does not use pymalloc
  std::map<unsigned, ClassTruth> classes;
  std::map<std::string, uint64_t> values;  // "# arenas allocated total", ..., plus arena_size, pool_size, unused_pools
  std::vector<std::string> text;           // _debugmallocstats' lines from "Small block threshold" to "Total"
};

uint64_t number(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  return std::stoull(s);
}

PymallocTruth parse_debugmallocstats(const std::string& text) {
  PymallocTruth t;
  static const std::regex class_line(R"(^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$)");
  static const std::regex value_line(R"(^(.*\S)\s*=\s*([\d,]+)$)");
  static const std::regex arenas_line(R"(^(\d+) arenas \* (\d+) bytes/arena$)");
  static const std::regex pools_line(R"(^(\d+) unused pools \* (\d+) bytes$)");
  bool in_table = false;
  for (const auto& line : split_lines(text)) {
    if (!t.present) {
      if (line.rfind("Small block threshold", 0) != 0) continue;
      t.present = true;
    }
    t.text.push_back(line);
    std::smatch m;
    if (line.rfind("-----", 0) == 0) {
      in_table = true;
      continue;
    }
    if (in_table && std::regex_match(line, m, class_line)) {
      t.classes[static_cast<unsigned>(std::stoul(m[1]))] = {std::stoull(m[2]), std::stoull(m[3]), std::stoull(m[4]),
                                                            std::stoull(m[5])};
      continue;
    }
    if (line.empty()) in_table = false;
    if (!std::regex_match(line, m, value_line)) continue;
    const std::string label = m[1];
    const uint64_t value = number(m[2]);
    std::smatch lm;
    if (std::regex_match(label, lm, arenas_line)) {
      t.values["arena_size"] = std::stoull(lm[2]);
    } else if (std::regex_match(label, lm, pools_line)) {
      t.values["unused_pools"] = std::stoull(lm[1]);
      t.values["pool_size"] = std::stoull(lm[2]);
      t.values["# bytes in unused pools"] = value;
    } else {
      t.values[label] = value;
    }
    if (label == "Total") break;  // what follows (arena map, free lists) is not pymalloc's table
  }
  return t;
}

PymallocTruth from_walker(const json& w) {
  PymallocTruth t;
  t.present = true;
  for (const auto& c : w.at("classes"))
    t.classes[c.at(0).get<unsigned>()] = {c.at(1).get<uint64_t>(), c.at(2).get<uint64_t>(), c.at(3).get<uint64_t>(),
                                          c.at(4).get<uint64_t>()};
  t.values["# arenas allocated current"] = w.at("arenas").get<uint64_t>();
  t.values["arena_size"] = w.at("arena_size").get<uint64_t>();
  t.values["pool_size"] = w.at("pool_size").get<uint64_t>();
  t.values["unused_pools"] = w.at("unused_pools").get<uint64_t>();
  t.values["# bytes in allocated blocks"] = w.at("bytes_in_allocated_blocks").get<uint64_t>();
  t.values["# bytes in available blocks"] = w.at("bytes_in_available_blocks").get<uint64_t>();
  t.values["# bytes lost to arena alignment"] = w.at("bytes_lost_to_arena_alignment").get<uint64_t>();
  if (w.contains("ntimes_arena_allocated"))
    t.values["# arenas allocated total"] = w.at("ntimes_arena_allocated").get<uint64_t>();
  if (w.contains("narenas_highwater")) t.values["# arenas highwater mark"] = w.at("narenas_highwater").get<uint64_t>();
  if (w.contains("narenas_currently_allocated"))
    t.values["narenas_currently_allocated"] = w.at("narenas_currently_allocated").get<uint64_t>();
  return t;
}

struct HeapTruth {
  uint64_t fast_count = 0, fast_size = 0, rest_count = 0, rest_size = 0, system = 0, system_max = 0;
};
struct GlibcTruth {
  std::vector<HeapTruth> heaps;
  uint64_t mmap_count = 0, mmap_size = 0;
  std::optional<std::array<uint64_t, 10>>
      mallinfo2;  // arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost
};

GlibcTruth parse_malloc_info(const std::string& xml) {
  GlibcTruth g;
  static const std::regex total(R"re(<total type="(\w+)" count="(\d+)" size="(\d+)"/>)re");
  static const std::regex system(R"re(<system type="(\w+)" size="(\d+)"/>)re");
  HeapTruth* heap = nullptr;
  for (const auto& line : split_lines(xml)) {
    std::smatch m;
    if (line.rfind("<heap nr=", 0) == 0) {
      g.heaps.emplace_back();
      heap = &g.heaps.back();
    } else if (line == "</heap>") {
      heap = nullptr;
    } else if (std::regex_search(line, m, total)) {
      const uint64_t count = std::stoull(m[2]), size = std::stoull(m[3]);
      if (heap && m[1] == "fast") std::tie(heap->fast_count, heap->fast_size) = std::pair(count, size);
      if (heap && m[1] == "rest") std::tie(heap->rest_count, heap->rest_size) = std::pair(count, size);
      if (!heap && m[1] == "mmap") std::tie(g.mmap_count, g.mmap_size) = std::pair(count, size);
    } else if (heap && std::regex_search(line, m, system)) {
      (m[1] == "current" ? heap->system : heap->system_max) = std::stoull(m[2]);
    }
  }
  return g;
}

struct Meta {
  int pid = 0;
  std::string python;
  int major = 0, minor = 0;
  bool has_stats = false, has_mallinfo2 = false, walker = false;
};

struct LaunchOptions {
  bool reference_walker = false;
  bool pythonmalloc_malloc = false;  // PYTHONMALLOC=malloc (so no -E)
  // Run a container-root interpreter under plain chroot(8) instead of a container: the process stays
  // in the debugger's mount namespace, so gdb takes libc.so.6 (and its symbols) from the host, another
  // glibc build than the one the process maps. The workload's directory is then inside the root.
  bool plain_chroot = false;
};

// A running arenas.py whose snapshot is complete; the destructor kills it, then the directory goes.
class ArenasWorkload {
 public:
  static std::unique_ptr<ArenasWorkload> start(const Interpreter& interp, const Launch& launch = {},
                                               const LaunchOptions& options = {}) {
    const bool chroot = options.plain_chroot && !interp.root.empty();
    std::unique_ptr<ArenasWorkload> w(new ArenasWorkload(chroot ? interp.root / "tmp" : fs::path()));
    fs::path script = fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/arenas.py";
    const fs::path& dir = w->dir_.path();
    const fs::path err_path = dir / "workload.err";
    const fs::path exe = launch.executable.empty() ? interp.path : launch.executable;
    std::vector<std::string> argv{exe.string()};
    fs::path dir_arg = dir;  // the directory as the workload names it
    if (chroot) {
      fs::copy_file(script, dir / "arenas.py");
      dir_arg = "/" / fs::relative(dir, interp.root);
      script = dir_arg / "arenas.py";
      argv = {"chroot", interp.root.string(), ("/" / fs::relative(exe, interp.root)).string()};
    }
    if (!options.pythonmalloc_malloc) argv.push_back("-E");  // -E would ignore PYTHONMALLOC
    argv.insert(argv.end(), {"-s", script.string(), dir_arg.string(), std::to_string(kWorkloadLifetimeSeconds)});
    if (options.reference_walker) argv.push_back("--reference-walker");
    EnvOverrides env = launch.env;
    env.emplace_back("PYTHONMALLOC", options.pythonmalloc_malloc ? "malloc" : "");
    w->proc_ = std::make_unique<Process>(argv, dir / "workload.out", err_path, env);
    const auto fail = [&](const std::string& what) {
      throw std::runtime_error(what + " [" + exe.string() + "]\n--- workload stderr ---\n" +
                               truncate_middle(read_text(err_path)) + "\n--- debugmallocstats.1.txt ---\n" +
                               truncate_middle(read_text(dir / "debugmallocstats.1.txt"), 2000));
    };
    const auto deadline = Clock::now() + kReadyTimeout;
    auto ready = [&] {
      if (!fs::exists(dir / "meta.json") || !fs::exists(dir / "done.1") || fs::file_size(dir / "done.1") == 0)
        return false;
      return !w->meta_.walker || fs::exists(dir / "walker.json");
    };
    while (true) {
      if (fs::exists(dir / "meta.json") && w->meta_.pid == 0) {
        try {
          const json j = json::parse(read_text(dir / "meta.json"));
          Meta& m = w->meta_;
          m.pid = j.at("pid").get<int>();
          m.python = j.at("python").get<std::string>();
          m.major = j.at("version_info").at(0).get<int>();
          m.minor = j.at("version_info").at(1).get<int>();
          m.has_stats = j.at("debugmallocstats").get<bool>();
          m.has_mallinfo2 = j.at("mallinfo2").get<bool>();
          m.walker = j.at("walker").get<bool>();
        } catch (const json::exception& e) {
          fail(std::string("bad meta.json: ") + e.what());
        }
        if (w->meta_.pid != w->proc_->pid()) fail("meta.json from another process");
      }
      if (ready()) break;
      if (!w->proc_->running()) fail("arenas.py died before finishing its snapshot");
      if (Clock::now() > deadline) fail("arenas.py did not finish its snapshot in time");
      std::this_thread::sleep_for(20ms);
    }
    return w;
  }

  pid_t pid() const { return proc_->pid(); }
  const Meta& meta() const { return meta_; }
  const fs::path& dir() const { return dir_.path(); }
  bool alive() { return proc_->running(); }

  PymallocTruth stats_truth() const { return parse_debugmallocstats(read_text(dir() / "debugmallocstats.1.txt")); }
  json walker_truth() const { return json::parse(read_text(dir() / "walker.json")); }
  GlibcTruth glibc_truth() const {
    GlibcTruth g = parse_malloc_info(read_text(dir() / "glibc.1.xml"));
    if (meta_.has_mallinfo2) {
      const std::string raw = read_text(dir() / "mallinfo2.1.bin");
      if (raw.size() == 80) {
        std::array<uint64_t, 10> mi{};
        std::memcpy(mi.data(), raw.data(), raw.size());
        g.mallinfo2 = mi;
      }
    }
    return g;
  }

 private:
  explicit ArenasWorkload(const fs::path& base) : dir_(base) {}
  TempDir dir_;  // declared first: destroyed after the process is gone
  std::unique_ptr<Process> proc_;
  Meta meta_;
};

// --- comparisons: readable difference lines, empty when equal ---

std::vector<std::string> compare_pymalloc(const PymallocTruth& truth, const json& got) {
  std::vector<std::string> diffs;
  if (!got.is_object()) return {"py-arenas gives no pymalloc section: " + got.dump()};
  std::map<unsigned, json> classes;
  for (const auto& c : got.at("size_classes")) classes[c.at("class").get<unsigned>()] = c;
  for (const auto& [index, t] : truth.classes) {
    auto it = classes.find(index);
    if (it == classes.end()) {
      diffs.push_back("class " + std::to_string(index) + ": missing from py-arenas");
      continue;
    }
    const json& c = it->second;
    auto check = [&](const char* key, uint64_t want) {
      if (c.at(key).get<uint64_t>() != want)
        diffs.push_back("class " + std::to_string(index) + " " + key + ": py-arenas " + c.at(key).dump() +
                        ", the process " + std::to_string(want));
    };
    check("size", t.size);
    check("pools", t.pools);
    check("blocks_in_use", t.blocks);
    check("blocks_available", t.avail);
  }
  for (const auto& [index, c] : classes)
    if (!truth.classes.count(index))
      diffs.push_back("class " + std::to_string(index) + ": only py-arenas has it: " + c.dump());
  const std::vector<std::pair<std::string, std::string>> keys{
      {"# arenas allocated total", "arenas_allocated_total"},
      {"# arenas reclaimed", "arenas_reclaimed"},
      {"# arenas highwater mark", "arenas_highwater"},
      {"# arenas allocated current", "arenas"},
      {"narenas_currently_allocated", "arenas"},
      {"arena_size", "arena_size"},
      {"pool_size", "pool_size"},
      {"unused_pools", "unused_pools"},
      {"# bytes in allocated blocks", "bytes_in_allocated_blocks"},
      {"# bytes in available blocks", "bytes_in_available_blocks"},
      {"# bytes in unused pools", "bytes_in_unused_pools"},
      {"# bytes lost to pool headers", "bytes_lost_to_pool_headers"},
      {"# bytes lost to quantization", "bytes_lost_to_quantization"},
      {"# bytes lost to arena alignment", "bytes_lost_to_arena_alignment"},
      {"Total", "total"}};
  for (const auto& [label, key] : keys) {
    auto it = truth.values.find(label);
    if (it == truth.values.end()) continue;
    if (!got.contains(key) || !got[key].is_number_unsigned() || got[key].get<uint64_t>() != it->second)
      diffs.push_back(key + ": py-arenas " + (got.contains(key) ? got[key].dump() : "(missing)") + ", the process " +
                      std::to_string(it->second) + " (" + label + ")");
  }
  return diffs;
}

std::vector<std::string> compare_glibc(const GlibcTruth& truth, const json& got) {
  std::vector<std::string> diffs;
  if (!got.is_object()) return {"py-arenas gives no glibc section: " + got.dump()};
  auto u = [&](const json& j, const char* key) { return j.at(key).get<uint64_t>(); };
  auto expect = [&](const std::string& what, uint64_t pyxray, uint64_t process) {
    if (pyxray != process)
      diffs.push_back(what + ": py-arenas " + std::to_string(pyxray) + ", the process " + std::to_string(process));
  };
  const json& arenas = got.at("arenas");
  if (truth.mallinfo2) {
    const auto& mi = *truth.mallinfo2;
    uint64_t free_chunks = 0, main_top = 0;
    for (const auto& a : arenas) {
      free_chunks += u(a, "bin_chunks") + 1;  // ordblks counts each arena's top
      if (a.at("main").get<bool>()) main_top = u(a, "top_bytes");
    }
    expect("system_bytes vs mallinfo2.arena", u(got, "system_bytes"), mi[0]);
    expect("bin chunks + tops vs mallinfo2.ordblks", free_chunks, mi[1]);
    expect("fastbin_chunks vs mallinfo2.smblks", u(got, "fastbin_chunks"), mi[2]);
    expect("mmapped_regions vs mallinfo2.hblks", u(got, "mmapped_regions"), mi[3]);
    expect("mmapped_bytes vs mallinfo2.hblkhd", u(got, "mmapped_bytes"), mi[4]);
    expect("fastbin_bytes vs mallinfo2.fsmblks", u(got, "fastbin_bytes"), mi[6]);
    expect("in_use_bytes vs mallinfo2.uordblks", u(got, "in_use_bytes"), mi[7]);
    expect("free_bytes vs mallinfo2.fordblks", u(got, "free_bytes"), mi[8]);
    expect("main arena top vs mallinfo2.keepcost", main_top, mi[9]);
  } else {
    diffs.push_back("the workload could not call mallinfo2()");
  }
  expect("arena count vs malloc_info heaps", arenas.size(), truth.heaps.size());
  for (std::size_t i = 0; i < std::min<std::size_t>(arenas.size(), truth.heaps.size()); ++i) {
    const json& a = arenas[i];
    const HeapTruth& h = truth.heaps[i];
    const std::string at = "heap " + std::to_string(i) + " ";
    expect(at + "system_bytes vs <system type=current>", u(a, "system_bytes"), h.system);
    expect(at + "max_system_bytes vs <system type=max>", u(a, "max_system_bytes"), h.system_max);
    expect(at + "fastbin_chunks vs <total type=fast> count", u(a, "fastbin_chunks"), h.fast_count);
    expect(at + "fastbin_bytes vs <total type=fast> size", u(a, "fastbin_bytes"), h.fast_size);
    expect(at + "bin_chunks + top vs <total type=rest> count", u(a, "bin_chunks") + 1, h.rest_count);
    const uint64_t ours = u(a, "top_bytes") + u(a, "bin_bytes");
    const uint64_t n = u(a, "bin_chunks");
    if (h.rest_size < ours + n || h.rest_size > ours + 7 * n)
      diffs.push_back(at + "top + bin bytes " + std::to_string(ours) + " vs <total type=rest> size " +
                      std::to_string(h.rest_size) + ": more than the flag bits of " + std::to_string(n) +
                      " chunks apart");
  }
  expect("mmapped_regions vs <total type=mmap> count", u(got, "mmapped_regions"), truth.mmap_count);
  expect("mmapped_bytes vs <total type=mmap> size", u(got, "mmapped_bytes"), truth.mmap_size);
  return diffs;
}

// The lines of pyxray's text output from "Small block threshold" to the first "Total".
std::vector<std::string> text_table(const std::string& out) {
  std::vector<std::string> lines;
  bool on = false;
  for (const auto& line : split_lines(out)) {
    if (line.rfind("Small block threshold", 0) == 0) on = true;
    if (!on) continue;
    lines.push_back(line);
    if (line.rfind("Total", 0) == 0) break;
  }
  return lines;
}

std::string section(const std::string& out, const std::string& marker) {
  auto at = out.find(marker);
  return at == std::string::npos ? std::string() : out.substr(at + marker.size());
}

struct GdbRun {
  CommandResult result;
  json j;            // py-arenas --json
  std::string text;  // py-arenas
};

GdbRun run_arenas(pid_t pid, const fs::path& dir, const std::vector<std::string>& init = {}) {
  GdbRun run;
  run.result = run_gdb(pid, {"py-arenas --json", "echo @@text\\n", "py-arenas"}, dir, 120s, init);
  std::string error;
  if (auto j = find_json_line(run.result.out, &error, "{\"pymalloc\"")) run.j = *j;
  run.text = section(run.result.out, "@@text\n");
  return run;
}

bool notes_mention(const json& j, const std::string& text) {
  if (!j.contains("notes")) return false;
  for (const auto& n : j["notes"])
    if (n.get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

std::string interp_name(const testing::TestParamInfo<Interpreter>& info) { return info.param.name; }
std::unique_ptr<ArenasWorkload> start_or_fail(const Interpreter& interp, const Launch& launch = {},
                                              const LaunchOptions& options = {}) {
  try {
    return ArenasWorkload::start(interp, launch, options);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
    return nullptr;
  }
}

// --- every interpreter as installed (with its symbols and libc6-dbg) ---

class PyArenas : public testing::TestWithParam<Interpreter> {};

TEST_P(PyArenas, MatchesTheProcessOwnStatistics) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto w = start_or_fail(GetParam());
  ASSERT_TRUE(w);
  const Meta& meta = w->meta();
  EXPECT_EQ(meta.major, GetParam().major);
  EXPECT_EQ(meta.minor, GetParam().minor);
  PymallocTruth py;
  if (meta.has_stats) {
    py = w->stats_truth();
    ASSERT_TRUE(py.present) << "no pymalloc statistics from sys._debugmallocstats()";
  } else {
    const json walker = w->walker_truth();
    ASSERT_FALSE(walker.contains("error")) << "reference walker: " << walker.dump();
    py = from_walker(walker);
  }
  ASSERT_GT(py.classes.size(), 10u) << "the workload should fill most size classes";
  const GlibcTruth gl = w->glibc_truth();
  ASSERT_GE(gl.heaps.size(), 3u) << "main arena + one per worker thread expected";

  GdbRun run = run_arenas(w->pid(), w->dir());
  const auto problems = gdb_run_problems(run.result, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << run.result.describe();
  ASSERT_TRUE(run.j.is_object()) << "no py-arenas --json line\n" << run.result.describe();
  EXPECT_TRUE(w->alive()) << "the workload died while gdb was attached";

  const auto pd = compare_pymalloc(py, run.j["pymalloc"]);
  EXPECT_TRUE(pd.empty()) << "pymalloc differs from "
                          << (meta.has_stats ? "sys._debugmallocstats()" : "the reference walk") << " of CPython "
                          << meta.python << ":\n"
                          << join_diffs(pd) << "\n"
                          << run.j.dump(1);
  const auto gd = compare_glibc(gl, run.j["glibc"]);
  EXPECT_TRUE(gd.empty()) << "glibc differs from mallinfo2()/malloc_info():\n"
                          << join_diffs(gd) << "\n"
                          << run.j["glibc"].dump(1) << "\n--- malloc_info ---\n"
                          << truncate_middle(read_text(w->dir() / "glibc.1.xml"), 3000);
  EXPECT_TRUE(run.j["warnings"].empty()) << run.j["warnings"].dump(1);
  if (run.j["glibc"].value("fastbins", true))
    EXPECT_GT(run.j["glibc"].value("fastbin_chunks", 0), 0) << "the workload should leave chunks in fastbins";
  else  // glibc 2.43+
    EXPECT_EQ(run.j["glibc"].value("fastbin_chunks", -1), 0);
  EXPECT_EQ(run.j["pymalloc"].value("allocator", ""), "pymalloc");

  // Text: the table is the one the process printed, line for line (3.x), and the RSS answer is there.
  if (meta.has_stats) {
    const auto got = text_table(run.text);
    EXPECT_EQ(got, py.text) << "py-arenas text:\n" << run.text;
  }
  for (const char* want : {"glibc malloc: ", "Why RSS does not go down", "free inside pymalloc:", "free inside glibc:",
                           "returned to the OS:", "resident now (VmRSS):"})
    EXPECT_NE(run.text.find(want), std::string::npos) << "no \"" << want << "\" in\n" << run.text;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyArenas, testing::ValuesIn(all_interpreters()), interp_name);

// --- without debug information ---
//
// 3.12+: pymalloc's state hangs off the interpreter, so the built-in layout tables are enough.
// <= 3.11: nothing names the obmalloc.c statics; pyxray finds the arena vector by a validated scan of
// the interpreter's .bss, so everything matches except CPython's own arena counters (allocated
// total, reclaimed, highwater), which it cannot find and reports as null. 2.7's truth is then the
// reference walk, told to read the original libpython's symbol table (same layout as the stripped copy).

// _debugmallocstats' counter lines, which a build without symbols cannot give.
const std::vector<std::string> kCounterLines{"# arenas allocated total", "# arenas reclaimed",
                                             "# arenas highwater mark"};

class PyArenasNoDebuginfo : public testing::TestWithParam<Variant> {};

TEST_P(PyArenasNoDebuginfo, MatchesWithoutSymbols) {
  const Variant& v = GetParam();
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  VariantSetup setup;
  try {
    setup = setup_for(v);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  Launch launch{setup.executable, setup.env};
  if (setup.stripped) launch.env.emplace_back("PYXRAY_ARENAS_SYMTAB", setup.stripped->original_libpython.string());
  auto w = start_or_fail(v.interp, launch);
  ASSERT_TRUE(w);
  const auto mapped = check_mapped_files(v, setup, w->pid());
  ASSERT_TRUE(mapped.empty()) << join_diffs(mapped);
  const Meta& meta = w->meta();
  PymallocTruth truth;
  if (meta.has_stats) {
    truth = w->stats_truth();
  } else {
    const json walker = w->walker_truth();
    ASSERT_FALSE(walker.contains("error")) << "reference walker: " << walker.dump();
    truth = from_walker(walker);
  }
  ASSERT_TRUE(truth.present);

  GdbRun run = run_arenas(w->pid(), w->dir(), setup.gdb_init);
  const auto problems = gdb_run_problems(run.result, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << run.result.describe();
  ASSERT_TRUE(run.j.is_object()) << "no py-arenas --json line\n" << run.result.describe();
  const json& py = run.j["pymalloc"];
  ASSERT_TRUE(py.is_object()) << run.j.dump(1);

  const bool scanned = !(meta.major == 3 && meta.minor >= 12);
  if (scanned) {
    for (const auto& label : kCounterLines) truth.values.erase(label);
    truth.text.erase(std::remove_if(truth.text.begin(), truth.text.end(),
                                    [](const std::string& line) {
                                      for (const auto& label : kCounterLines)
                                        if (line.rfind(label, 0) == 0) return true;
                                      return false;
                                    }),
                     truth.text.end());
    for (const char* key : {"arenas_allocated_total", "arenas_reclaimed", "arenas_highwater"})
      EXPECT_TRUE(py[key].is_null()) << key << " = " << py[key].dump() << ": where would a stripped build keep it?";
    EXPECT_NE(py.value("state", "").find("found by a validated scan"), std::string::npos) << py.value("state", "");
  }
  const auto pd = compare_pymalloc(truth, py);
  EXPECT_TRUE(pd.empty()) << "pymalloc without symbols differs from the process's own statistics:\n" << join_diffs(pd);
  if (meta.has_stats) {
    EXPECT_EQ(text_table(run.text), truth.text) << run.text;
  }
  EXPECT_EQ(py.value("allocator", "").rfind("pymalloc", 0), 0u) << py.value("allocator", "");

  if (v.symbols == Symbols::NoDbg) {
    // gdb looks for no separate debug files at all, so libc6-dbg is out of reach too.
    EXPECT_TRUE(run.j["glibc"].is_null()) << run.j["glibc"].dump();
    EXPECT_TRUE(notes_mention(run.j, "glibc statistics need libc's debug symbols (Debian: libc6-dbg)"))
        << run.j["notes"].dump(1);
    EXPECT_NE(run.text.find("glibc malloc: not available: glibc statistics need libc's debug symbols"),
              std::string::npos)
        << run.text;
  } else {
    const auto gd = compare_glibc(w->glibc_truth(), run.j["glibc"]);
    EXPECT_TRUE(gd.empty()) << "glibc differs from mallinfo2()/malloc_info():\n" << join_diffs(gd);
  }
  EXPECT_TRUE(run.j["warnings"].empty()) << run.j["warnings"].dump(1);
  EXPECT_TRUE(w->alive());
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyArenasNoDebuginfo, testing::ValuesIn(no_debuginfo_variants()), variant_name);

// --- a core file of the same process gives the same numbers (memory through gdb, no /proc) ---

std::vector<Interpreter> core_interpreters() {
  std::vector<Interpreter> out;
  for (const auto& i : pyenv_interpreters())
    if (i.major == 3 && (i.minor == 11 || i.minor == 13)) out.push_back(i);  // statics; pointer to state
  return out;
}

class ArenasCoreFile : public testing::TestWithParam<Interpreter> {};

TEST_P(ArenasCoreFile, MatchesTheProcessOwnStatistics) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto w = start_or_fail(GetParam());
  ASSERT_TRUE(w);
  const fs::path core = w->dir() / "core";
  try {
    write_core(w->pid(), core, w->dir());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const PymallocTruth py = w->stats_truth();
  const GlibcTruth gl = w->glibc_truth();
  auto r = run_gdb_core(GetParam().path, core, {"py-arenas --json", "echo @@text\\n", "py-arenas"}, w->dir(), 120s);
  std::error_code ec;
  fs::remove(core, ec);  // ~180 MB
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  std::string error;
  auto j = find_json_line(r.out, &error, "{\"pymalloc\"");
  ASSERT_TRUE(j) << error << "\n" << r.describe();
  const auto pd = compare_pymalloc(py, (*j)["pymalloc"]);
  EXPECT_TRUE(pd.empty()) << "pymalloc from the core differs from sys._debugmallocstats():\n" << join_diffs(pd);
  const auto gd = compare_glibc(gl, (*j)["glibc"]);
  EXPECT_TRUE(gd.empty()) << "glibc from the core differs from mallinfo2()/malloc_info():\n" << join_diffs(gd);
  const std::string text = section(r.out, "@@text\n");
  EXPECT_EQ(text_table(text), py.text) << text;
  EXPECT_EQ(text.find("resident now"), std::string::npos) << "a core file has no RSS:\n" << text;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, ArenasCoreFile, testing::ValuesIn(core_interpreters()), interp_name);

// --- a target in a plain chroot: the debugger's libc symbols are the host's, not the target's ---
//
// sid's interpreters run under chroot(8) in the debugger's mount namespace, so gdb loads the host's
// libc.so.6 (glibc 2.36, with libc6-dbg) for a process that maps sid's (2.43). The glibc section must
// say so in one line, with the way out, and print no number; pymalloc is still there and exact. With
// the sysroot the line suggests, gdb reads the target's own libc and its symbols: exact again.

std::vector<Interpreter> chroot_interpreters() {
  std::vector<Interpreter> out;
  for (const auto& i : all_interpreters())
    if (!i.root.empty()) out.push_back(i);
  return out;
}

// Every number in the text, commas removed.
std::vector<uint64_t> numbers_in(const std::string& text) {
  std::vector<uint64_t> out;
  static const std::regex number_re(R"(\b\d[\d,]*\b)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number_re); it != std::sregex_iterator(); ++it) {
    std::string digits = it->str();
    digits.erase(std::remove(digits.begin(), digits.end(), ','), digits.end());
    if (digits.size() <= 19) out.push_back(std::stoull(digits));
    else out.push_back(UINT64_MAX);
  }
  return out;
}

class ArenasChroot : public testing::TestWithParam<Interpreter> {};

TEST_P(ArenasChroot, SaysTheLibcSymbolsAreOfAnotherBuild) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto w = start_or_fail(GetParam(), {}, LaunchOptions{.plain_chroot = true});
  ASSERT_TRUE(w);
  const PymallocTruth py = w->stats_truth();
  ASSERT_TRUE(py.present);

  GdbRun run = run_arenas(w->pid(), w->dir());
  const auto problems = gdb_run_problems(run.result, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << run.result.describe();
  ASSERT_TRUE(run.j.is_object()) << "no py-arenas --json line\n" << run.result.describe();
  EXPECT_TRUE(run.j["glibc"].is_null()) << run.j["glibc"].dump(1);
  const std::string sysroot = "in gdb: set sysroot /proc/" + std::to_string(w->pid()) + "/root";
  EXPECT_TRUE(notes_mention(run.j, "glibc: the debugger's symbols for libc.so.6 are of another build"))
      << run.j["notes"].dump(1);
  EXPECT_TRUE(notes_mention(run.j, sysroot)) << run.j["notes"].dump(1);
  // The text: one line for glibc, the pymalloc table as the process printed it, no absurd number.
  const std::string line = "glibc malloc: not available: the debugger's symbols for libc.so.6 are of another build";
  const auto at = run.text.find(line);
  ASSERT_NE(at, std::string::npos) << run.text;
  const std::string glibc_line = run.text.substr(at, run.text.find('\n', at) - at);
  EXPECT_NE(glibc_line.find(sysroot), std::string::npos) << glibc_line;
  EXPECT_EQ(text_table(run.text), py.text) << run.text;
  EXPECT_NE(run.text.find("free inside glibc:    unknown"), std::string::npos) << run.text;
  const auto pd = compare_pymalloc(py, run.j["pymalloc"]);
  EXPECT_TRUE(pd.empty()) << join_diffs(pd);
  // Outside the glibc line (which names build ids and the pid), every number is below the total mapped.
  std::string rest = run.text;
  rest.erase(at, glibc_line.size());
  for (uint64_t n : numbers_in(rest)) EXPECT_LT(n, uint64_t{1} << 40) << "absurd number " << n << " in\n" << run.text;

  // The way out the line gives, typed once attached (before, gdb would look for the executable under
  // the new sysroot too): the target's own libc and, by build id, its debug file, through
  // /proc/PID/root.
  const auto fixed = run_gdb(w->pid(), {"set sysroot /proc/" + std::to_string(w->pid()) + "/root", "py-arenas --json"},
                             w->dir(), 120s);
  std::string error;
  const auto fixed_j = find_json_line(fixed.out, &error, "{\"pymalloc\"");
  ASSERT_TRUE(fixed_j) << error << "\n" << fixed.describe();
  const auto gd = compare_glibc(w->glibc_truth(), (*fixed_j)["glibc"]);
  EXPECT_TRUE(gd.empty()) << "glibc through /proc/PID/root differs from mallinfo2()/malloc_info():\n"
                          << join_diffs(gd) << "\n"
                          << fixed_j->dump(1);
  EXPECT_FALSE((*fixed_j)["glibc"].value("fastbins", true)) << "sid's glibc 2.43 has no fastbins";
  EXPECT_TRUE(w->alive());

  // A core of it, opened with the host's libc: the build id the target mapped comes from the core's
  // own file list and memory. No /proc/PID/root to offer: the hint is the general one.
  const fs::path core = w->dir() / "core";
  try {
    write_core(w->pid(), core, w->dir());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  auto r = run_gdb_core(GetParam().path, core, {"py-arenas --json"}, w->dir(), 120s);
  std::error_code ec;
  fs::remove(core, ec);
  const auto core_j = find_json_line(r.out, &error, "{\"pymalloc\"");
  ASSERT_TRUE(core_j) << error << "\n" << r.describe();
  EXPECT_TRUE((*core_j)["glibc"].is_null()) << (*core_j)["glibc"].dump(1);
  EXPECT_TRUE(notes_mention(*core_j, "glibc: the debugger's symbols for libc.so.6 are of another build"))
      << (*core_j)["notes"].dump(1);
  EXPECT_TRUE(notes_mention(*core_j, "(gdb: set sysroot, set debug-file-directory)")) << (*core_j)["notes"].dump(1);
  const auto core_pd = compare_pymalloc(py, (*core_j)["pymalloc"]);
  EXPECT_TRUE(core_pd.empty()) << "pymalloc from the core:\n" << join_diffs(core_pd);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, ArenasChroot, testing::ValuesIn(chroot_interpreters()), interp_name);

// --- PYTHONMALLOC=malloc: pymalloc is not the object allocator ---

std::vector<Interpreter> python3_interpreters() {
  std::vector<Interpreter> out;
  for (const auto& i : all_interpreters())
    if (i.major == 3) out.push_back(i);
  return out;
}

class PyArenasMalloc : public testing::TestWithParam<Interpreter> {};

TEST_P(PyArenasMalloc, SaysPymallocIsNotInUse) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  auto w = start_or_fail(GetParam(), {}, LaunchOptions{.pythonmalloc_malloc = true});
  ASSERT_TRUE(w);
  ASSERT_FALSE(w->stats_truth().present)
      << "PYTHONMALLOC=malloc did not take effect: _debugmallocstats printed pymalloc";
  GdbRun run = run_arenas(w->pid(), w->dir());
  const auto problems = gdb_run_problems(run.result, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << run.result.describe();
  ASSERT_TRUE(run.j.is_object()) << run.result.describe();
  EXPECT_TRUE(run.j["pymalloc"].is_null()) << run.j["pymalloc"].dump();
  EXPECT_TRUE(notes_mention(run.j, "does not use pymalloc for objects (allocator: malloc")) << run.j["notes"].dump(1);
  // Every object now lives in glibc's heap: its numbers still match the process's own.
  const auto gd = compare_glibc(w->glibc_truth(), run.j["glibc"]);
  EXPECT_TRUE(gd.empty()) << "glibc differs from mallinfo2()/malloc_info():\n" << join_diffs(gd);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, PyArenasMalloc, testing::ValuesIn(python3_interpreters()), interp_name);

// --- the reference walker that is 2.7's ground truth, against _debugmallocstats on 3.6-3.11 ---

std::vector<Interpreter> walker_interpreters() {
  std::vector<Interpreter> out;
  for (const auto& i : pyenv_interpreters())
    if (i.major == 3 && i.minor <= 11) out.push_back(i);
  return out;
}

class ReferenceWalker : public testing::TestWithParam<Interpreter> {};

TEST_P(ReferenceWalker, AgreesWithDebugMallocStats) {
  auto w = start_or_fail(GetParam(), {}, LaunchOptions{.reference_walker = true});
  ASSERT_TRUE(w);
  const json walker = w->walker_truth();
  ASSERT_FALSE(walker.contains("error")) << walker.dump();
  const PymallocTruth stats = w->stats_truth();
  ASSERT_TRUE(stats.present);
  // The walker's numbers in py-arenas' JSON shape, compared with the same function.
  const PymallocTruth walked = from_walker(walker);
  json as_json = {{"arenas", walked.values.at("# arenas allocated current")},
                  {"arena_size", walked.values.at("arena_size")},
                  {"pool_size", walked.values.at("pool_size")},
                  {"unused_pools", walked.values.at("unused_pools")},
                  {"bytes_in_allocated_blocks", walked.values.at("# bytes in allocated blocks")},
                  {"bytes_in_available_blocks", walked.values.at("# bytes in available blocks")},
                  {"bytes_lost_to_arena_alignment", walked.values.at("# bytes lost to arena alignment")}};
  if (walked.values.count("# arenas allocated total"))
    as_json["arenas_allocated_total"] = walked.values.at("# arenas allocated total");
  if (walked.values.count("# arenas highwater mark"))
    as_json["arenas_highwater"] = walked.values.at("# arenas highwater mark");
  json classes = json::array();
  for (const auto& [index, c] : walked.classes)
    classes.push_back({{"class", index},
                       {"size", c.size},
                       {"pools", c.pools},
                       {"blocks_in_use", c.blocks},
                       {"blocks_available", c.avail}});
  as_json["size_classes"] = classes;
  PymallocTruth subset = stats;  // the lines the walker computes
  for (const char* derived : {"# arenas reclaimed", "# bytes in unused pools", "# bytes lost to pool headers",
                              "# bytes lost to quantization", "Total"})
    subset.values.erase(derived);
  const auto diffs = compare_pymalloc(subset, as_json);
  EXPECT_TRUE(diffs.empty()) << "the reference walk (the ground truth for 2.7) differs from _debugmallocstats:\n"
                             << join_diffs(diffs);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, ReferenceWalker, testing::ValuesIn(walker_interpreters()), interp_name);

}  // namespace
}  // namespace pyxray::it
