// End-to-end test of `py-bt-all --native --json` on tests/workloads/stacks.py: with the native
// frames interleaved, each thread's Python frames must still be exactly its ground truth, every
// evaluation-loop frame must have been replaced by the Python frames it runs (no merge warning), and
// each blocked thread's stack must start in the C library, where it waits.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <sstream>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string frame_text(const json& f) {
  return f.value("function", std::string("?")) + " (" + f.value("file", std::string("?")) + ":" +
         (f["line"].is_number() ? std::to_string(f["line"].get<int64_t>()) : std::string("null")) + ")";
}

std::string basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

class NativeMerge : public testing::TestWithParam<Variant> {};

TEST_P(NativeMerge, PythonFramesMatchGroundTruth) {
  const Variant& v = GetParam();
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  VariantSetup setup;
  std::unique_ptr<Workload> w;
  try {
    setup = setup_for(v);
    w = Workload::start(v.interp, Launch{setup.executable, setup.env});
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const auto mapped = check_mapped_files(v, setup, w->pid());
  ASSERT_TRUE(mapped.empty()) << join_diffs(mapped);

  auto r = run_gdb(w->pid(), {"py-bt-all --native --json"}, w->dir(), 120s, setup.gdb_init);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  EXPECT_TRUE(w->alive()) << "the workload died while gdb was attached";
  const auto stopped = stopped_threads(w->pid());
  EXPECT_TRUE(stopped.empty()) << join_diffs(stopped);
  std::string error;
  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();

  std::vector<std::string> diffs;
  std::size_t native_frames = 0;
  for (const auto& t : w->truth().threads) {
    const json* gt = nullptr;
    for (const auto& j : (*got)["threads"])
      if (j["thread_id"].is_number() && j["thread_id"].get<uint64_t>() == t.thread_id) gt = &j;
    if (!gt) {
      diffs.push_back(t.name + ": missing from py-bt-all --native --json");
      continue;
    }
    if (gt->contains("warning")) diffs.push_back(t.name + ": warning: " + (*gt)["warning"].dump());
    const json& frames = (*gt)["frames"];
    std::vector<const json*> python;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const json& f = frames[i];
      const std::string kind = f.value("kind", std::string());
      if (kind == "python") {
        python.push_back(&f);
      } else if (kind == "native") {
        ++native_frames;
        const std::string where = t.name + " native frame " + std::to_string(i);
        if (f["function"].is_string() &&
            (f["function"] == "_PyEval_EvalFrameDefault" || f["function"] == "PyEval_EvalFrameEx"))
          diffs.push_back(where + ": the evaluation loop was not replaced by its Python frames");
        if (!f["address"].is_number_unsigned() || f["address"].get<uint64_t>() == 0)
          diffs.push_back(where + ": no address: " + f.dump());
        if (!f["library"].is_string() || f["library"].get<std::string>().empty())
          diffs.push_back(where + ": no library: " + f.dump());
      } else {
        diffs.push_back(t.name + " frame " + std::to_string(i) + ": kind " + f["kind"].dump());
      }
    }
    if (t.spinner) continue;  // its frames move
    // Blocked threads wait in the C library: the innermost frame is libc's, not Python's (unless
    // the merge was refused, which is reported above).
    if (gt->contains("warning")) {
    } else if (frames.empty() || frames[0].value("kind", std::string()) != "native") {
      diffs.push_back(t.name + ": the innermost frame is not native: " + (frames.empty() ? "none" : frames[0].dump()));
    } else if (const auto lib = frames[0].value("library", std::string()); basename(lib).rfind("libc.so", 0) != 0) {
      diffs.push_back(t.name + ": the innermost frame is not in libc: " + frames[0].dump());
    }
    if (python.size() != t.frames.size())
      diffs.push_back(t.name + ": " + std::to_string(python.size()) + " Python frames, ground truth has " +
                      std::to_string(t.frames.size()));
    for (std::size_t i = 0; i < python.size() && i < t.frames.size(); ++i) {
      const Frame& want = t.frames[i];
      const json& f = *python[i];
      const bool same = f.value("function", std::string()) == want.function && f["line"] == want.line &&
                        f.value("file", std::string()) == want.file &&
                        (want.qualname ? f["qualname"] == *want.qualname : f["qualname"].is_null());
      if (!same) {
        diffs.push_back(t.name + " Python frame " + std::to_string(i) + ": got " + frame_text(f) + ", expected " +
                        want.function + " (" + want.file + ":" + std::to_string(want.line) + ")");
        break;
      }
    }
  }
  EXPECT_GT(native_frames, 0u) << "no native frames at all\n" << r.describe();
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --native --json on " << setup.executable.string() << " (" << diffs.size()
                             << " differences):\n"
                             << join_diffs(diffs);
}

INSTANTIATE_TEST_SUITE_P(Variants, NativeMerge, testing::ValuesIn(all_variants()), variant_name);

}  // namespace
}  // namespace pyxray::it
