// py-sample's Firefox Profiler writer (core/sample/gecko.cpp) on an aggregate built by hand, with
// known rounds: the file must hold what the processed format (firefox-devtools/profiler
// src/types/profile.ts, version 57) says, with each sample at its round's time and the GIL holder's
// rounds as interval markers. (A real profile goes through tests/integration/tools/check_gecko.py.)
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/limits.hpp"
#include "sample/gecko.hpp"
#include "sample/stack_aggregate.hpp"

namespace pyxray {
namespace {

using nlohmann::json;

constexpr int kPid = 4242;

// Rounds (ms): 0 main <module>>f>g, worker <module>>g, main holds the GIL; 10 main <module>>f>g, main
// holds it; 20 worker <module>>g (main idle), worker holds it; 30 main <module>>f>g, nobody holds
// it; 40 main <module>>f>PyObject_Call (native). A third thread is known but never sampled.
struct Fixture {
  FrameTable frames;
  StackAggregate agg;
  uint32_t main_thread = 0, worker = 0, silent = 0;
  Fixture() {
    const uint32_t module = frames.intern({"<module>", "/srv/app.py", 10, false, 1});
    const uint32_t f = frames.intern({"f", "/srv/app.py", 3, false, 2});
    const uint32_t g = frames.intern({"g", "/srv/lib/util.py", 6, false, 5});
    const uint32_t call = frames.intern({"PyObject_Call", "libpython3.12.so.1.0", -1, true, -1});
    main_thread = agg.add_thread({1, kPid, "MainThread"});
    worker = agg.add_thread({2, kPid + 1, "worker \"1\""});
    silent = agg.add_thread({3, std::nullopt, ""});
    const std::vector<uint32_t> main_g{g, f, module}, worker_g{g, module}, native{call, f, module};
    agg.begin_round(0.000);
    agg.add(main_thread, main_g);
    agg.add(worker, worker_g);
    agg.set_gil_holder(main_thread);
    agg.begin_round(0.010);
    agg.add(main_thread, main_g);
    agg.set_gil_holder(main_thread);
    agg.begin_round(0.020);
    agg.add(worker, worker_g);
    agg.set_gil_holder(worker);
    agg.set_gil_holder(main_thread);  // a second holder (another interpreter's GIL) is not kept
    agg.begin_round(0.030);
    agg.add(main_thread, main_g);
    agg.begin_round(0.040);
    agg.add(main_thread, native);
  }
};

GeckoInfo info() {
  GeckoInfo i;
  i.pid = kPid;
  i.python = "3.12.1";
  i.process_name = "python 3.12.1 (pid 4242)";
  i.start_ms = 1.7e12;
  i.interval_ms = 10;
  i.duration_ms = 50;
  return i;
}

json load(const Fixture& fx) {
  const std::string text = gecko_json(fx.agg, fx.frames, info());
  EXPECT_TRUE(text.ends_with("}\n"));
  return json::parse(text);
}

const json& thread_named(const json& p, const std::string& name) {
  for (const auto& t : p.at("threads"))
    if (t.at("name") == name) return t;
  ADD_FAILURE() << "no thread " << name;
  static const json none = json::object();
  return none;
}

// Each sample's stack as "function@line" from the root, or "" for a sample without one.
std::vector<std::string> sample_stacks(const json& p, const json& t) {
  const auto& strings = p.at("shared").at("stringArray");
  const auto& st = t.at("stackTable");
  const auto& fr = t.at("frameTable");
  const auto& fu = t.at("funcTable");
  std::vector<std::string> out;
  for (const auto& s : t.at("samples").at("stack")) {
    std::string text;
    for (json at = s; !at.is_null(); at = st.at("prefix").at(at.get<std::size_t>())) {
      const auto frame = st.at("frame").at(at.get<std::size_t>()).get<std::size_t>();
      const auto func = fr.at("func").at(frame).get<std::size_t>();
      const json& line = fr.at("line").at(frame);
      std::string label = strings.at(fu.at("name").at(func).get<std::size_t>()).get<std::string>() + "@" +
                          (line.is_null() ? "-" : std::to_string(line.get<int>()));
      text = text.empty() ? label : label + ">" + text;
    }
    out.push_back(text);
  }
  return out;
}

TEST(Gecko, TimelineRunsEndAtARoundWithoutTheThread) {
  Fixture fx;
  const auto& runs = fx.agg.timeline(fx.main_thread);
  ASSERT_EQ(runs.size(), 3u);  // rounds 0-1, then 3 (round 2 had no sample of it), then 4
  EXPECT_EQ(runs[0].count, 2u);
  EXPECT_EQ(runs[0].first_round, 0u);
  EXPECT_EQ(runs[1].leaf, runs[0].leaf);
  EXPECT_EQ(runs[1].first_round, 3u);
  EXPECT_EQ(runs[2].first_round, 4u);
  EXPECT_EQ(fx.agg.round_times().size(), 5u);
  EXPECT_EQ(fx.agg.gil_holders(), (std::vector<uint32_t>{fx.main_thread, fx.main_thread, fx.worker,
                                                         StackAggregate::kNone, StackAggregate::kNone}));
}

TEST(Gecko, MetaIsVersion57WithCategoriesAndTheGilSchema) {
  Fixture fx;
  const json p = load(fx);
  const json& m = p.at("meta");
  EXPECT_EQ(m.at("preprocessedProfileVersion"), 57);
  EXPECT_EQ(m.at("interval"), 10.0);
  EXPECT_EQ(m.at("startTime"), 1.7e12);
  EXPECT_EQ(p.at("libs"), json::array());
  bool grey = false;
  for (const auto& c : m.at("categories")) {
    grey |= c.at("color") == "grey";
    EXPECT_FALSE(c.at("subcategories").empty()) << c;
  }
  EXPECT_TRUE(grey);
  EXPECT_EQ(m.at("categories").at(3).at("name"), "GIL");
  ASSERT_EQ(m.at("markerSchema").size(), 1u);
  EXPECT_EQ(m.at("markerSchema")[0].at("name"), "HasGIL");
  EXPECT_EQ(m.at("markerSchema")[0].at("fields"), json::array());
  EXPECT_EQ(p.at("shared").at("stringArray")[0], "(root)");
}

TEST(Gecko, ThreadsAreNamedWithTheTargetsPid) {
  Fixture fx;
  const json p = load(fx);
  ASSERT_EQ(p.at("threads").size(), 3u);
  std::vector<std::string> names;
  for (const auto& t : p.at("threads")) {
    names.push_back(t.at("name").get<std::string>());
    EXPECT_EQ(t.at("pid"), "4242");
    EXPECT_EQ(t.at("processName"), "python 3.12.1 (pid 4242)");
    EXPECT_EQ(t.at("showMarkersInTimeline"), true);
    EXPECT_EQ(t.at("isMainThread"), t.at("name") == "MainThread") << t.at("name");
  }
  // A thread without a name is called as the summary calls it.
  EXPECT_EQ(names, (std::vector<std::string>{"MainThread", "worker \"1\"", "thread 0x3"}));
  EXPECT_EQ(thread_named(p, "MainThread").at("tid"), kPid);
}

TEST(Gecko, SamplesAreAtTheirRoundsTimes) {
  Fixture fx;
  const json p = load(fx);
  const json& main_thread = thread_named(p, "MainThread");
  EXPECT_EQ(main_thread.at("samples").at("time"), json::parse("[0.0,10.0,30.0,40.0]"));
  EXPECT_EQ(main_thread.at("samples").at("length"), 4);
  EXPECT_EQ(sample_stacks(p, main_thread),
            (std::vector<std::string>{"<module>@10>f@3>g@6", "<module>@10>f@3>g@6", "<module>@10>f@3>g@6",
                                      "<module>@10>f@3>PyObject_Call@-"}));
  const json& worker = thread_named(p, "worker \"1\"");
  EXPECT_EQ(worker.at("samples").at("time"), json::parse("[0.0,20.0]"));
  EXPECT_EQ(sample_stacks(p, worker), (std::vector<std::string>{"<module>@10>g@6", "<module>@10>g@6"}));
  // Never sampled: one sample without a stack, as the profiler expects a sample in every thread.
  const json& silent = thread_named(p, "thread 0x3");
  EXPECT_EQ(silent.at("samples").at("stack"), json::parse("[null]"));
  EXPECT_EQ(silent.at("stackTable").at("length"), 0);
}

TEST(Gecko, TablesAreTopologicalAndComplete) {
  Fixture fx;
  const json p = load(fx);
  const auto& strings = p.at("shared").at("stringArray");
  for (const auto& t : p.at("threads")) {
    for (const char* name : {"samples", "stackTable", "frameTable", "funcTable", "resourceTable", "markers"}) {
      const json& table = t.at(name);
      for (const auto& [column, values] : table.items())
        if (values.is_array()) {
          EXPECT_EQ(values.size(), table.at("length").get<std::size_t>()) << name << column;
        }
    }
    const auto& prefix = t.at("stackTable").at("prefix");
    for (std::size_t i = 0; i < prefix.size(); ++i)
      if (!prefix[i].is_null()) {
        EXPECT_LT(prefix[i].get<std::size_t>(), i);
      }
  }
  // Python functions are "JS" (the profiler's JS-only view shows them), in the Python category,
  // with the whole path; a native one is not, with its library as file and resource.
  const json& main_thread = thread_named(p, "MainThread");
  const json& fu = main_thread.at("funcTable");
  const json& fr = main_thread.at("frameTable");
  const json& res = main_thread.at("resourceTable");
  for (std::size_t frame = 0; frame < fr.at("length").get<std::size_t>(); ++frame) {
    const auto func = fr.at("func")[frame].get<std::size_t>();
    auto text = [&](const json& index) { return strings.at(index.get<std::size_t>()).get<std::string>(); };
    const std::string name = text(fu.at("name")[func]);
    const std::string file = text(fu.at("fileName")[func]);
    const std::string resource = text(res.at("name")[fu.at("resource")[func].get<std::size_t>()]);
    const bool native = name == "PyObject_Call";
    EXPECT_EQ(fu.at("isJS")[func], !native) << name;
    EXPECT_EQ(fr.at("category")[frame], native ? 2 : 1) << name;
    if (name == "g") {
      EXPECT_EQ(file, "/srv/lib/util.py");
      EXPECT_EQ(resource, "util.py");
      EXPECT_EQ(fu.at("lineNumber")[func], 5);
    }
    if (native) {
      EXPECT_EQ(file, "libpython3.12.so.1.0");
      EXPECT_TRUE(fu.at("lineNumber")[func].is_null());
    }
  }
}

TEST(Gecko, GilHoldersAreIntervalMarkers) {
  Fixture fx;
  const json p = load(fx);
  const auto& strings = p.at("shared").at("stringArray");
  auto intervals = [&](const std::string& thread) {
    const json& m = thread_named(p, thread).at("markers");
    std::vector<std::pair<double, double>> out;
    for (std::size_t i = 0; i < m.at("length").get<std::size_t>(); ++i) {
      EXPECT_EQ(strings.at(m.at("name")[i].get<std::size_t>()), "HasGIL");
      EXPECT_EQ(m.at("data")[i], json::parse(R"({"type":"HasGIL"})"));
      EXPECT_EQ(m.at("phase")[i], 1);
      EXPECT_EQ(m.at("category")[i], 3);
      out.emplace_back(m.at("startTime")[i].get<double>(), m.at("endTime")[i].get<double>());
    }
    return out;
  };
  // Held from its first round to the round that found another holder, or none.
  EXPECT_EQ(intervals("MainThread"), (std::vector<std::pair<double, double>>{{0.0, 20.0}}));
  EXPECT_EQ(intervals("worker \"1\""), (std::vector<std::pair<double, double>>{{20.0, 30.0}}));
  EXPECT_TRUE(intervals("thread 0x3").empty());
}

TEST(Gecko, ACutTimelineKeepsTheSamplesBeforeTheCut) {
  Limits small;
  small.timeline_runs = 5;  // two rounds and three runs, then round 2: its sample of worker finds no room
  LimitsScope scope(small);
  Fixture fx;
  EXPECT_FALSE(fx.agg.timeline_complete());
  EXPECT_EQ(fx.agg.samples(), 6u);  // counted all the same
  const json p = load(fx);
  EXPECT_EQ(thread_named(p, "MainThread").at("samples").at("time"), json::parse("[0.0,10.0]"));
  EXPECT_EQ(thread_named(p, "worker \"1\"").at("samples").at("time"), json::parse("[0.0]"));
}

}  // namespace
}  // namespace pyxray
