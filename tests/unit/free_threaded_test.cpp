// Free-threaded builds (3.13t, 3.14t) end to end on synthetic process images: no free-threaded
// interpreter can run here, so tests/synthetic builds the standard scene the way a Py_GIL_DISABLED
// build lays it out (tests/synthetic/free_threaded_block.hpp: 32-byte object headers with biased
// reference counts, no PyGC_Head, the managed dict at obj[-1], 3.14t's per-thread bytecode) and
// the real decoders read it back: py-bt-all's frames, lines, thread names and status, reprs, and the
// heap commands' one-line refusal. The walker of py-sample is checked in live_stacks_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands/session.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "repr/repr.hpp"
#include "scene.hpp"
#include "version_param.hpp"

namespace pyxray {
namespace {

using namespace synthetic;
using json = nlohmann::json;

class FreeThreaded : public testing::TestWithParam<uint32_t> {
 protected:
  Scene scene = standard_scene(GetParam(), /*pymalloc=*/false, /*free_threaded=*/true);
  int minor() const { return scene.builder->version().minor; }
};

TEST_P(FreeThreaded, TheCoreSeesAFreeThreadedLayout) {
  auto target = scene.builder->target();
  auto proc = PythonProcess::open(*target);
  ASSERT_TRUE(proc) << proc.error().message;
  const Layout& L = (*proc)->layout();
  EXPECT_TRUE((*proc)->layout_sources().free_threaded);
  EXPECT_EQ(L.object_ob_type, 24);
  EXPECT_EQ(L.varobject_ob_size, 32);
  EXPECT_EQ(L.object_ob_refcnt, kAbsent);
  EXPECT_EQ(L.object_ob_ref_local, 12);
  EXPECT_EQ(L.object_ob_ref_shared, 16);
  EXPECT_EQ(L.gc_head_size, kAbsent);
  EXPECT_EQ(L.dict_ma_keys, 48);         // 32 with the GIL
  EXPECT_EQ(L.dictkeys_dk_indices, 32);  // not an object: the same as with the GIL
  EXPECT_EQ(L.tstate_state, minor() == 13 ? 40 : 44);
  EXPECT_EQ(L.iframe_tlbc_index, minor() == 13 ? kAbsent : 72);
  EXPECT_EQ(L.code_co_tlbc, minor() == 13 ? kAbsent : 224);
  EXPECT_EQ(L.code_co_code_adaptive, minor() == 13 ? 216 : 232);
  EXPECT_EQ(L.code_co_firsttraceable, minor() == 13 ? 200 : 208);
  EXPECT_FALSE((*proc)->traits().has_gil);
  // Only the rows the free-threaded rules carry over come from the table: no interpreter state.
  EXPECT_EQ(L.interp_gc_generations, kAbsent);
  EXPECT_NE(L.source.find("free-threaded rows"), std::string::npos) << L.source;
}

TEST_P(FreeThreaded, PyBtAllShowsTheSceneStacksNamesAndStatus) {
  Session session(scene.builder->target());
  CommandResult r = session.run("py-bt-all", "--json");
  ASSERT_TRUE(r.ok) << r.output;
  json report = json::parse(r.output);
  EXPECT_EQ(report["python"], scene.builder->version().text());
  EXPECT_EQ(report.value("free_threaded", false), true) << report.dump(2);
  EXPECT_TRUE(report.value("warnings", json()).is_null()) << report.dump(2);
  ASSERT_EQ(report["threads"].size(), scene.threads.size()) << report.dump(2);
  for (const json& got : report["threads"]) {
    auto it = std::find_if(scene.threads.begin(), scene.threads.end(),
                           [&](const SceneThread& t) { return got["native_id"] == t.native_id; });
    ASSERT_NE(it, scene.threads.end()) << got.dump(2);
    EXPECT_EQ(got["thread_id"], it->ident);
    EXPECT_EQ(got["name"], it->name);
    EXPECT_EQ(got["holds_gil"], false);
    // The main thread is attached (running Python), the worker detached.
    EXPECT_EQ(got["status"], it->name == "MainThread" ? "running" : "idle") << got.dump(2);
    EXPECT_TRUE(got.value("warning", json()).is_null()) << got.dump(2);
    std::vector<std::pair<std::string, int>> frames, expected;
    for (const auto& f : got["frames"])
      frames.emplace_back(f["function"], f["line"].is_null() ? -1 : f["line"].get<int>());
    for (const auto& f : it->frames) expected.emplace_back(f.function, f.line);
    EXPECT_EQ(frames, expected) << got.dump(2);
  }
}

TEST_P(FreeThreaded, TextOutputSaysFreeThreaded) {
  Session session(scene.builder->target());
  CommandResult r = session.run("py-bt-all", "");
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_NE(r.output.find("pyxray: note: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Thread 4242 \"MainThread\" (running)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Thread 4251 \"Thread-1 (run)\" (idle)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("File \"/srv/app/main.py\", line 29, in items"), std::string::npos) << r.output;
}

TEST_P(FreeThreaded, ReprsAreWhatPythonPrints) {
  auto target = scene.builder->target();
  auto proc = PythonProcess::open(*target);
  ASSERT_TRUE(proc) << proc.error().message;
  Objects objects(**proc);
  for (const auto& [addr, want] : scene.reprs) {
    std::string got = safe_repr(**proc, objects, addr);
    if (want.empty()) {
      EXPECT_EQ(got.find("invalid"), std::string::npos) << got;
    } else {
      EXPECT_EQ(got, want);
    }
  }
}

TEST_P(FreeThreaded, LocalsOfTheSelectedFrame) {
  Session session(scene.builder->target(nullptr, 4242));
  CommandResult r = session.run("py-locals", "--json");
  ASSERT_TRUE(r.ok) << r.output;
  auto j = json::parse(r.output);
  EXPECT_EQ(j["locals"]["n"], "42") << j.dump(2);
  EXPECT_EQ(j["locals"]["total"], "-12345678901234567") << j.dump(2);
}

// The heap commands that walk the heap say in one line that the mimalloc heap is not walked, and
// give the rest of their answer where there is one: py-arenas its glibc section, py-referrers the
// frame locals holding the object. py-sizeof needs no heap walk and answers in full.
TEST_P(FreeThreaded, HeapCommandsSayTheHeapIsNotWalked) {
  Session session(scene.builder->target());
  const std::string obj = fmt::format("{:#x}", scene.root);
  const std::string line = std::string("pyxray: ") + kMimallocHeapNotWalked;
  for (const char* command : {"py-heap-summary", "py-biggest"}) {
    for (const char* args : {"", "--json"}) {
      SCOPED_TRACE(fmt::format("{} {}", command, args));
      CommandResult r = session.run(command, args);
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.output, line) << r.output;
    }
  }
  CommandResult arenas = session.run("py-arenas", "");
  ASSERT_TRUE(arenas.ok) << arenas.output;
  EXPECT_NE(arenas.output.find(std::string("pymalloc: not available: ") + kMimallocHeapNotWalked), std::string::npos)
      << arenas.output;
  EXPECT_NE(arenas.output.find("glibc malloc:"), std::string::npos) << arenas.output;

  // `data` in main()'s frame holds the scene's root dict.
  CommandResult referrers = session.run("py-referrers", obj);
  ASSERT_TRUE(referrers.ok) << referrers.output;
  EXPECT_EQ(referrers.output.rfind(obj + " (dict): direct referrers not searched (the heap is not walked)\n", 0), 0u)
      << referrers.output;
  EXPECT_NE(referrers.output.find("thread 4242 frame main: data -> dict"), std::string::npos) << referrers.output;
  EXPECT_NE(referrers.output.find(std::string("pyxray: warning: ") + kMimallocHeapNotWalked), std::string::npos)
      << referrers.output;
  CommandResult rj = session.run("py-referrers", obj + " --json");
  ASSERT_TRUE(rj.ok) << rj.output;
  json j = json::parse(rj.output);
  EXPECT_TRUE(j["referrers"].is_null()) << j.dump(2);
  EXPECT_EQ(j["chains"].size(), 1u) << j.dump(2);

  for (const std::string& args : {obj, obj + " --deep"}) {
    CommandResult size = session.run("py-sizeof", args);
    EXPECT_TRUE(size.ok) << size.output;
    EXPECT_EQ(size.output.find("mimalloc"), std::string::npos) << size.output;
  }
}

// 3.14t: the worker's frames run its copy 1 of their bytecode. Read against the code object's own
// bytecode (tlbc_index 0), the same instruction pointers give no line at all.
TEST(FreeThreadedBytecode, TheLineIsTakenFromTheThreadsCopy) {
  Scene scene = standard_scene(kPy314, false, true);
  ProcessBuilder& b = *scene.builder;
  const Layout& L = b.layout();
  std::vector<uint64_t> frames;  // the Python frames, not the C-stack entry frame below them
  for (uint64_t f = b.image()->read_u64(b.thread_state(1) + L.tstate_current_frame); f;
       f = b.image()->read_u64(f + L.iframe_previous))
    if (b.image()->read_u64(f + L.iframe_f_executable)) frames.push_back(f);
  ASSERT_EQ(frames.size(), 2u);
  for (uint64_t f : frames) EXPECT_EQ(b.image()->read_u64(f + L.iframe_tlbc_index) & 0xffffffff, 1u);
  auto worker_lines = [&] {
    Session session(b.target());
    CommandResult r = session.run("py-bt-all", "--json");
    EXPECT_TRUE(r.ok) << r.output;
    json j = json::parse(r.output);
    for (const auto& t : j["threads"])
      if (t["native_id"] == 4251) return t;
    return json();
  };
  json worker = worker_lines();
  ASSERT_EQ(worker["frames"].size(), 2u) << worker.dump(2);
  EXPECT_EQ(worker["frames"][0]["line"], 29);
  EXPECT_EQ(worker["frames"][1]["line"], 27);
  for (uint64_t f : frames) b.image()->write_u32(f + L.iframe_tlbc_index, 0);
  worker = worker_lines();
  for (const auto& f : worker["frames"]) EXPECT_NE(f["line"], 29) << worker.dump(2);
  // A copy the code object does not have: the stack ends there, with a warning that says why.
  for (uint64_t f : frames) b.image()->write_u32(f + L.iframe_tlbc_index, 3);
  worker = worker_lines();
  EXPECT_TRUE(worker["frames"].empty()) << worker.dump(2);
  EXPECT_NE(worker.value("warning", std::string()).find("thread-local bytecode index 3 is past the 2 copies"),
            std::string::npos)
      << worker.dump(2);
}

INSTANTIATE_TEST_SUITE_P(Versions, FreeThreaded, testing::ValuesIn(kFreeThreadedVersions), free_threaded_version_name);

}  // namespace
}  // namespace pyxray
