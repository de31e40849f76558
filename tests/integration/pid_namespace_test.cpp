// A target in another PID namespace (`unshare --pid --fork --mount-proc`, as a container runtime
// starts one), debugged from the host: CPython's native_thread_id is the namespace's thread id, the
// debugger's the host's. py-bt-all must show the debugger's ids (what `info threads` says), with the
// namespace's beside them, and the stacks of the ground truth the process reports about itself.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The host's id of every thread of `pid` by its id in the innermost namespace (NSpid), read here
// independently of pyxray.
std::map<int64_t, int64_t> host_by_namespace_tid(pid_t pid) {
  std::map<int64_t, int64_t> out;
  for (pid_t tid : task_ids(pid)) {
    for (const auto& line :
         split_lines(read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status"))) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      std::istringstream ids(line.substr(6));
      std::vector<int64_t> chain;
      for (int64_t id; ids >> id;) chain.push_back(id);
      if (!chain.empty()) out[chain.back()] = chain.front();
    }
  }
  return out;
}

TEST(PidNamespace, ThreadIdsAreTheDebuggersWithTheNamespacesBeside) {
  const Interpreter interp{"debian_3_11", kDebianPython, 3, 11, true, {}};
  ASSERT_TRUE(fs::exists(interp.path)) << interp.path << " is missing";
  TempDir dir;
  const fs::path truth_path = dir.path() / "truth.json";
  Process unshare({"unshare", "--pid", "--fork", "--mount-proc", interp.path.string(), "-E", "-s",
                   (fs::path(PYXRAY_SOURCE_DIR) / "tests/workloads/stacks.py").string(), truth_path.string(), "240"},
                  dir.path() / "out", dir.path() / "err");
  // The interpreter is unshare's child, pid 1 of its namespace.
  pid_t pid = 0;
  GroundTruth truth;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    ASSERT_TRUE(unshare.running()) << read_text(dir.path() / "err");
    if (!pid) {
      std::istringstream children(
          read_text("/proc/" + std::to_string(unshare.pid()) + "/task/" + std::to_string(unshare.pid()) + "/children"));
      children >> pid;
    }
    if (pid && fs::exists(truth_path)) {
      truth = parse_ground_truth(json::parse(read_text(truth_path)));
      if (task_ids(pid).size() == truth.threads.size()) break;  // the reporter thread has exited
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_GT(pid, 0) << "no interpreter under unshare\n" << read_text(dir.path() / "err");
  ASSERT_EQ(task_ids(pid).size(), truth.threads.size()) << read_text(dir.path() / "err");
  EXPECT_EQ(truth.pid, 1) << "the workload is not pid 1 of a new PID namespace";

  // The ground truth as the host sees it: every native id translated.
  const auto host = host_by_namespace_tid(pid);
  GroundTruth on_host = truth;
  on_host.pid = pid;
  std::map<uint64_t, int64_t> namespace_id;  // by pthread ident
  for (auto& t : on_host.threads) {
    ASSERT_TRUE(t.native_id && host.contains(*t.native_id)) << t.name << " has no NSpid entry";
    namespace_id[t.thread_id] = *t.native_id;
    t.native_id = host.at(*t.native_id);
    EXPECT_NE(*t.native_id, namespace_id[t.thread_id]) << "the namespace's ids are the host's";
  }

  auto r = run_gdb(pid,
                   {"py-bt-all --json", "echo @@text\\n", "py-bt-all", "echo @@sample\\n",
                    "py-sample 1s --rate 200 -o " + (dir.path() / "profile.folded").string()},
                   dir.path(), 60s);
  const auto problems = gdb_run_problems(r, /*require_success=*/true);
  ASSERT_TRUE(problems.empty()) << r.describe();
  std::string error;
  auto got = find_json_line(r.out, &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();
  const auto diffs = compare_bt_all_json(on_host, *got, task_ids(pid));
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --json differs from the host's view of the ground truth:\n"
                             << join_diffs(diffs);
  for (const auto& t : (*got)["threads"]) {
    ASSERT_TRUE(t["thread_id"].is_number()) << t.dump();
    const uint64_t ident = t["thread_id"].get<uint64_t>();
    ASSERT_TRUE(t.contains("namespace_native_id")) << t.dump();
    EXPECT_EQ(t["namespace_native_id"].get<int64_t>(), namespace_id[ident]) << t.dump();
  }
  // The text names both: "Thread <host tid> (tid <namespace tid> in its PID namespace) ...".
  const std::string text = r.out.substr(r.out.find("@@text"), r.out.find("@@sample") - r.out.find("@@text"));
  for (const auto& t : on_host.threads) {
    const std::string header = "Thread " + std::to_string(*t.native_id) + " (tid " +
                               std::to_string(namespace_id[t.thread_id]) + " in its PID namespace)";
    EXPECT_NE(text.find(header), std::string::npos) << header << "\n" << text;
  }
  // py-sample reads the running process directly (process_vm_readv takes the host's pid), not
  // through the debugger with a stop per sample, and records the spinner's samples.
  const std::string sample = r.out.substr(r.out.find("@@sample"));
  EXPECT_NE(sample.find("py-sample: "), std::string::npos) << sample << r.err;
  EXPECT_EQ((r.out + r.err).find("cannot be read while it runs"), std::string::npos) << sample << r.err;
  EXPECT_NE(read_text(dir.path() / "profile.folded").find("spin"), std::string::npos)
      << "no spinner stack in the profile\n"
      << sample;
}

}  // namespace
}  // namespace pyxray::it
