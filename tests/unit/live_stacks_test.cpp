// py-sample's walker (core/sample/live_stacks.cpp) over the synthetic processes, read through a TickReader
// over the image (the path a debugger-only target takes): it must see the stacks py-bt-all sees, and
// a hostile frame (an instruction pointer anywhere in the address space, an absurd
// _co_firsttraceable) must give the same answer as frames.cpp, with no signed overflow on the way
// (the sanitizer build runs these tests under UBSan).
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands/session.hpp"
#include "interp/python_process.hpp"
#include "sample/live_stacks.hpp"
#include "sample/sample_codes.hpp"
#include "sample/stack_aggregate.hpp"
#include "scene.hpp"
#include "target/memory.hpp"
#include "target/tick_reader.hpp"
#include "version_param.hpp"

namespace pyxray {
namespace {

using namespace synthetic;
using json = nlohmann::json;
using Stack = std::vector<std::pair<std::string, int>>;  // (function, line), innermost first

struct Sampled {
  WalkError threads = WalkError::None;
  std::vector<WalkError> errors;  // per thread
  std::vector<Stack> stacks;      // per thread, in thread-list order
};

// One sample of every thread, as py-sample takes it.
Sampled sample_once(const ProcessBuilder& b) {
  Sampled out;
  auto target = b.target();
  auto proc = PythonProcess::open(*target);
  if (!proc) throw std::runtime_error(proc.error().message);
  auto symbols = resolve_sample_symbols(**proc);
  if (!symbols) throw std::runtime_error(symbols.error().message);
  FrameTable frames;
  SampleCodes codes(**proc, frames, symbols->code_type);
  LiveStacks live(**proc, codes, *symbols, 1000);
  live.set_stopped(true);  // an image does not change: as py-sample reads a stopped process
  TickReader reader(target->pid(), &(*proc)->mem().reader());
  reader.begin();
  std::vector<LiveThread> threads;
  out.threads = live.read_threads(reader, threads, 0);
  for (const LiveThread& t : threads) {
    WalkedStack walked;
    out.errors.push_back(live.walk(reader, t, walked));
    Stack s;
    for (uint32_t id : walked.frames) s.emplace_back(frames.at(id).function, frames.at(id).line);
    out.stacks.push_back(std::move(s));
  }
  reader.end();
  std::sort(out.stacks.begin(), out.stacks.end());  // compared as a set of stacks
  return out;
}

std::vector<Stack> bt_all_stacks(const ProcessBuilder& b) {
  Session session(b.target());
  CommandResult r = session.run("py-bt-all", "--json");
  if (!r.ok) throw std::runtime_error(r.output);
  std::vector<Stack> out;
  const json report = json::parse(r.output);
  for (const auto& t : report["threads"]) {
    out.emplace_back();
    // py-sample names a frame by its qualified name where there is one (3.11+).
    for (const auto& f : t["frames"])
      out.back().emplace_back(f.value("qualname", json()).is_string() ? f["qualname"] : f["function"],
                              f["line"].is_null() ? -1 : f["line"].get<int>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class LiveStacksScene : public testing::TestWithParam<uint32_t> {};

TEST_P(LiveStacksScene, SamplesWhatPyBtAllShows) {
  Scene scene = standard_scene(GetParam());
  Sampled s = sample_once(*scene.builder);
  ASSERT_EQ(s.threads, WalkError::None) << walk_error_name(s.threads);
  for (WalkError e : s.errors) EXPECT_EQ(e, WalkError::None) << walk_error_name(e);
  EXPECT_EQ(s.stacks.size(), scene.threads.size());
  EXPECT_EQ(s.stacks, bt_all_stacks(*scene.builder));
}

INSTANTIATE_TEST_SUITE_P(Versions, LiveStacksScene, testing::ValuesIn(kBuilderVersions), version_name);

// The free-threaded scene (3.13t, 3.14t, whose worker runs its own copy of the bytecode): the same
// stacks as py-bt-all, and those are the scene's.
class LiveStacksFreeThreaded : public testing::TestWithParam<uint32_t> {};

TEST_P(LiveStacksFreeThreaded, SamplesWhatPyBtAllShows) {
  Scene scene = standard_scene(GetParam(), /*pymalloc=*/false, /*free_threaded=*/true);
  Sampled s = sample_once(*scene.builder);
  ASSERT_EQ(s.threads, WalkError::None) << walk_error_name(s.threads);
  for (WalkError e : s.errors) EXPECT_EQ(e, WalkError::None) << walk_error_name(e);
  EXPECT_EQ(s.stacks, bt_all_stacks(*scene.builder));
  EXPECT_EQ(s.stacks, (std::vector<Stack>{{{"Worker.items", 29}, {"Worker.run", 27}},
                                          {{"inner", 15}, {"main", 40}, {"<module>", 43}}}));
}

// A frame whose tlbc_index names a copy the code object does not have is not a frame to trust.
TEST(LiveStacksFreeThreaded, CopyPastTheArrayIsABadFrame) {
  Scene scene = standard_scene(kPy314, false, true);
  ProcessBuilder& b = *scene.builder;
  uint64_t frame = b.image()->read_u64(b.thread_state(1) + b.layout().tstate_current_frame);
  b.image()->write_u32(frame + b.layout().iframe_tlbc_index, 3);
  Sampled s = sample_once(b);
  EXPECT_NE(std::find(s.errors.begin(), s.errors.end(), WalkError::BadFrame), s.errors.end());
}

INSTANTIATE_TEST_SUITE_P(Versions, LiveStacksFreeThreaded, testing::ValuesIn(kFreeThreadedVersions),
                         [](const testing::TestParamInfo<uint32_t>& info) {
                           return fmt::format("py3_{}t", (info.param >> 16) & 0xff);
                         });

// One thread: outer() calling inner(), both in interpreter frames (3.11+).
struct TwoFrames {
  std::unique_ptr<ProcessBuilder> b;
  uint64_t outer_code = 0, inner_code = 0, inner_frame = 0;
};

TwoFrames two_frames(uint32_t version) {
  TwoFrames t;
  t.b = std::make_unique<ProcessBuilder>(version);
  ProcessBuilder& b = *t.b;
  t.outer_code = b.code({"outer", "outer", "/srv/app/main.py", 1, true, false, 0, {}, {1, 2, 2, 3}});
  t.inner_code = b.code({"inner", "inner", "/srv/app/main.py", 10, true, false, 0, {}, {10, 11, 11, 12}});
  int th = b.add_thread(4242, 0x7f0000001000, "python3", "MainThread");
  uint64_t globals = b.dict_str({});
  b.push_frame(th, t.outer_code, 2, {}, globals);
  t.inner_frame = b.push_frame(th, t.inner_code, 2, {}, globals);
  b.finish_modules(globals);
  return t;
}

class LiveStacksHostile : public testing::TestWithParam<uint32_t> {};

TEST_P(LiveStacksHostile, TheSceneAsBuilt) {
  TwoFrames t = two_frames(GetParam());
  Sampled s = sample_once(*t.b);
  ASSERT_EQ(s.stacks.size(), 1u);
  EXPECT_EQ(s.errors[0], WalkError::None);
  EXPECT_EQ(s.stacks[0], (Stack{{"inner", 11}, {"outer", 2}}));
}

// An instruction pointer in the upper half of the address space: as int64_t it is negative, and
// subtracting the code's (positive) address from it overflowed.
TEST_P(LiveStacksHostile, InstructionPointerAnywhere) {
  for (uint64_t instr : {uint64_t{0x8000000000000010}, ~uint64_t{0}, uint64_t{0x10}, uint64_t{0}}) {
    SCOPED_TRACE(fmt::format("instr {:#x}", instr));
    TwoFrames t = two_frames(GetParam());
    const Layout& L = t.b->layout();
    const int64_t field = L.iframe_instr_ptr != kAbsent ? L.iframe_instr_ptr : L.iframe_prev_instr;
    t.b->put_u64(t.inner_frame + field, instr);
    Sampled s = sample_once(*t.b);
    ASSERT_EQ(s.stacks.size(), 1u);
    EXPECT_EQ(s.errors[0], WalkError::BadOffset) << walk_error_name(s.errors[0]);
  }
}

// _co_firsttraceable near INT_MAX: doubled as an int it overflowed (and wrapped to a negative bound,
// which showed a frame that frames.cpp hides as not started).
TEST_P(LiveStacksHostile, FirstTraceableNearIntMax) {
  for (uint32_t first : {uint32_t{INT_MAX}, uint32_t{INT_MAX / 2 + 1}, uint32_t{0x80000000}}) {
    SCOPED_TRACE(fmt::format("_co_firsttraceable {:#x}", first));
    TwoFrames t = two_frames(GetParam());
    t.b->put_u32(t.inner_code + t.b->layout().code_co_firsttraceable, first);
    Sampled s = sample_once(*t.b);
    ASSERT_EQ(s.stacks.size(), 1u);
    EXPECT_EQ(s.errors[0], WalkError::None) << walk_error_name(s.errors[0]);
    // Whatever the two walkers make of it, they make the same.
    EXPECT_EQ(s.stacks, bt_all_stacks(*t.b));
    if (static_cast<int32_t>(first) > 0) {
      EXPECT_EQ(s.stacks[0], (Stack{{"outer", 2}}));  // inner has not started
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, LiveStacksHostile, testing::Values(kPy311, kPy312, kPy313, kPy314), version_name);

// ---- torn chains: a chain that reads cleanly but is not one the thread had ("Torn reads are
// errors" in docs/sampling.md).

// One thread: outer() driving a generator gen(), whose frame lives in its generator object (3.11+).
struct WithGenerator {
  std::unique_ptr<ProcessBuilder> b;
  uint64_t gen = 0, gen_frame = 0;
};

WithGenerator with_generator(uint32_t version) {
  WithGenerator w;
  w.b = std::make_unique<ProcessBuilder>(version);
  ProcessBuilder& b = *w.b;
  uint64_t outer_code = b.code({"outer", "outer", "/srv/app/main.py", 1, true, false, 0, {}, {1, 2, 2, 3}});
  uint64_t gen_code = b.code({"gen", "gen", "/srv/app/main.py", 10, true, true, 0, {}, {10, 11, 11, 12}});
  int th = b.add_thread(4242, 0x7f0000001000, "python3", "MainThread");
  uint64_t globals = b.dict_str({});
  b.push_frame(th, outer_code, 2, {}, globals);
  w.gen = b.push_generator(th, gen_code, 2, {}, globals);
  w.gen_frame = w.gen + static_cast<uint64_t>(b.layout().gen_gi_iframe);
  b.finish_modules(globals);
  return w;
}

class LiveStacksTorn : public testing::TestWithParam<uint32_t> {};

TEST_P(LiveStacksTorn, RunningGeneratorIsPartOfTheStack) {
  WithGenerator w = with_generator(GetParam());
  Sampled s = sample_once(*w.b);
  ASSERT_EQ(s.stacks.size(), 1u);
  EXPECT_EQ(s.errors[0], WalkError::None) << walk_error_name(s.errors[0]);
  EXPECT_EQ(s.stacks[0], (Stack{{"gen", 11}, {"outer", 2}}));
}

// Read after the generator yielded or finished: its frame still links to its old caller.
TEST_P(LiveStacksTorn, GeneratorNotRunningIsAnError) {
  WithGenerator w = with_generator(GetParam());
  ASSERT_NE(w.b->layout().gen_gi_frame_state, kAbsent) << "the built-in table lacks PyGenObject.gi_frame_state";
  w.b->put_u8(w.gen + static_cast<uint64_t>(w.b->layout().gen_gi_frame_state), 1);  // FRAME_COMPLETED (3.11-3.14)
  Sampled s = sample_once(*w.b);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0], WalkError::NotRunning) << walk_error_name(s.errors[0]);
  EXPECT_TRUE(walk_error_is_torn(s.errors[0]));
}

// Read after the generator unlinked itself (previous cleared as it yields): a lone <genexpr> in the
// issue, cut off from every caller.
TEST_P(LiveStacksTorn, LoneGeneratorFrameIsAnError) {
  WithGenerator w = with_generator(GetParam());
  w.b->put_u64(w.gen_frame + static_cast<uint64_t>(w.b->layout().iframe_previous), 0);
  Sampled s = sample_once(*w.b);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0], WalkError::TornChain) << walk_error_name(s.errors[0]);
}

// A chain ending at an ordinary frame (not the evaluation loop's entry frame, not a shim).
TEST_P(LiveStacksTorn, ChainCutMidwayIsAnError) {
  TwoFrames t = two_frames(GetParam());
  t.b->put_u64(t.inner_frame + static_cast<uint64_t>(t.b->layout().iframe_previous), 0);
  Sampled s = sample_once(*t.b);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0], WalkError::TornChain) << walk_error_name(s.errors[0]);
}

INSTANTIATE_TEST_SUITE_P(Versions, LiveStacksTorn, testing::Values(kPy311, kPy312, kPy313, kPy314), version_name);

// Before 3.11: a generator's frame object is linked (f_back) only while it runs, and a thread never
// starts in one, so a chain ending at a generator's frame was read after it yielded.
class LiveStacksTornFrameObjects : public testing::TestWithParam<uint32_t> {};

TEST_P(LiveStacksTornFrameObjects, ChainEndingAtAGeneratorIsAnError) {
  for (bool caller : {true, false}) {
    SCOPED_TRACE(caller ? "called from outer()" : "cut off");
    ProcessBuilder b(GetParam());
    uint64_t outer_code = b.code({"outer", "outer", "/srv/app/main.py", 1, true, false, 0, {}, {1, 2, 2, 3}});
    uint64_t gen_code = b.code({"gen", "gen", "/srv/app/main.py", 10, true, true, 0, {}, {10, 11, 11, 12}});
    int th = b.add_thread(4242, 0x7f0000001000, "python3", "MainThread");
    uint64_t globals = b.dict_str({});
    if (caller) b.push_frame(th, outer_code, 2, {}, globals);
    b.push_frame(th, gen_code, 2, {}, globals);
    b.finish_modules(globals);
    Sampled s = sample_once(b);
    ASSERT_EQ(s.errors.size(), 1u);
    EXPECT_EQ(s.errors[0], caller ? WalkError::None : WalkError::TornChain) << walk_error_name(s.errors[0]);
  }
}

// While the process runs, a thread's oldest frame is learned only from two reads in a row that end
// at it, and never when it is another thread's: a chain reaching another thread's frames through a
// reused frame object is an error however often it is read.
TEST_P(LiveStacksTornFrameObjects, OldestFrameIsLearnedFromTwoReads) {
  ProcessBuilder b(GetParam());
  uint64_t main_code = b.code({"main", "main", "/srv/app/main.py", 1, true, false, 0, {}, {1, 2, 2, 3}});
  uint64_t run_code = b.code({"run", "run", "/srv/app/main.py", 10, true, false, 0, {}, {10, 11, 11, 12}});
  int main_thread = b.add_thread(4242, 0x7f0000001000, "python3", "MainThread");
  int worker = b.add_thread(4251, 0x7f0000002000, "Thread-1", "Thread-1");
  uint64_t globals = b.dict_str({});
  uint64_t main_frame = b.push_frame(main_thread, main_code, 2, {}, globals);
  b.push_frame(worker, run_code, 2, {}, globals);
  b.finish_modules(globals);

  auto target = b.target();
  auto proc = PythonProcess::open(*target);
  ASSERT_TRUE(proc) << proc.error().message;
  auto symbols = resolve_sample_symbols(**proc);
  ASSERT_TRUE(symbols) << symbols.error().message;
  FrameTable frames;
  SampleCodes codes(**proc, frames, symbols->code_type);
  LiveStacks live(**proc, codes, *symbols, 1000);
  TickReader reader(target->pid(), &(*proc)->mem().reader());
  std::vector<LiveThread> threads;
  WalkedStack walked;
  auto walk_all = [&] {
    std::vector<WalkError> errors;
    reader.begin();
    EXPECT_EQ(live.read_threads(reader, threads, 0), WalkError::None);
    for (const LiveThread& t : threads) errors.push_back(live.walk(reader, t, walked));
    reader.end();
    return errors;
  };
  const std::vector<WalkError> torn(2, WalkError::TornChain), whole(2, WalkError::None);
  EXPECT_EQ(walk_all(), torn);   // first sight of both threads while running: read again
  EXPECT_EQ(walk_all(), whole);  // the same oldest frames: learned
  EXPECT_EQ(walk_all(), whole);

  // The worker's newest frame now leads into the main thread's frames (a frame reused meanwhile).
  b.image()->write_u64(b.thread_state(1) + b.layout().tstate_frame, main_frame);
  b.image()->write_u64(b.thread_state(0) + b.layout().tstate_frame, main_frame);
  for (int i = 0; i < 3; ++i) {
    reader.begin();
    ASSERT_EQ(live.read_threads(reader, threads, 0), WalkError::None);
    for (const LiveThread& t : threads) {
      WalkError e = live.walk(reader, t, walked);
      EXPECT_EQ(e, t.native_id == 4251 || t.thread_id == 0x7f0000002000 ? WalkError::TornChain : WalkError::None)
          << "read " << i << " of thread " << t.thread_id << ": " << walk_error_name(e);
    }
    reader.end();
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, LiveStacksTornFrameObjects, testing::Values(kPy39, kPy310), version_name);

}  // namespace
}  // namespace pyxray
