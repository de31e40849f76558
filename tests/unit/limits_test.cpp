// The limits: parsing `--max NAME=N` and `py-limits NAME=N`, and that each walk the tests can build
// stops where its limit says, says which limit stopped it, and goes on when it is raised.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/limits.hpp"
#include "commands/session.hpp"
#include "process_builder.hpp"

namespace pyxray {
namespace {

using namespace synthetic;
using json = nlohmann::json;

TEST(Limits, ParsesAssignments) {
  Limits l;
  ASSERT_TRUE(apply_limits(l, "frames=5, threads=1_000,repr-string=7"));
  EXPECT_EQ(l.frames, 5);
  EXPECT_EQ(l.threads, 1000);
  EXPECT_EQ(l.repr_string, 7);
  EXPECT_EQ(l.locals, Limits{}.locals);
}

TEST(Limits, RefusesBadInputAndChangesNothing) {
  Limits l;
  for (const char* bad : {"frames=0", "frames=-1", "frames=x", "frames=", "frames", "nosuch=3", "frames=5,threads=1e3",
                          "repr-depth=1001"}) {
    auto r = apply_limits(l, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(l.frames, Limits{}.frames);  // "frames=5,threads=1e3" failed as a whole
  auto unknown = apply_limits(l, "nosuch=3");
  EXPECT_NE(unknown.error().message.find("native-frames"), std::string::npos) << unknown.error().message;
}

TEST(Limits, ScopesNest) {
  const int64_t def = limits().frames;
  Limits a, b;
  a.frames = 7;
  b.frames = 9;
  {
    LimitsScope outer(a);
    EXPECT_EQ(limits().frames, 7);
    {
      LimitsScope inner(b);
      EXPECT_EQ(limits().frames, 9);
    }
    EXPECT_EQ(limits().frames, 7);
  }
  EXPECT_EQ(limits().frames, def);
}

TEST(Limits, EveryLimitIsDocumented) {
  std::ifstream doc(std::string(PYXRAY_TEST_DATA_DIR) + "/../../docs/limits.md");
  ASSERT_TRUE(doc) << "docs/limits.md";
  std::stringstream text;
  text << doc.rdbuf();
  for (const auto& info : limit_infos()) {
    EXPECT_NE(text.str().find(fmt::format("`{}`", info.name)), std::string::npos) << info.name;
    EXPECT_GE(info.default_value, 1) << info.name;
    EXPECT_LE(info.default_value, info.max) << info.name;
  }
}

// A 3.12 process: thread 4242 runs f() six deep with a 300-character string local; thread 4343 and
// 4444 idle in g().
struct Deep {
  std::unique_ptr<ProcessBuilder> b = std::make_unique<ProcessBuilder>(kPy312);
  Deep() {
    uint64_t f = b->code({"f", "f", "/srv/app/main.py", 1, true, false, 1, {"s"}, {1, 1, 2, 2}});
    uint64_t g = b->code({"g", "g", "/srv/app/main.py", 5, true, false, 0, {}, {5, 5, 6, 6}});
    uint64_t globals = b->dict_str({});
    uint64_t text = b->str(std::string(300, 'x'));
    int t = b->add_thread(4242, 0x7f0000001000, "python3", "MainThread");
    for (int i = 0; i < 6; ++i) b->push_frame(t, f, 2, {text}, globals);
    for (int64_t id : {4343, 4444}) {
      int u = b->add_thread(id, 0x7f0000002000 + static_cast<uint64_t>(id), "python3", fmt::format("T{}", id));
      b->push_frame(u, g, 2, {}, globals);
    }
    b->set_gil_holder(t);
    b->finish_modules(globals);
  }
};

json run_json(Session& s, const std::string& name, const std::string& args) {
  CommandResult r = s.run(name, args);
  EXPECT_TRUE(r.ok) << name << " " << args << ": " << r.output;
  return r.ok ? json::parse(r.output) : json();
}

std::size_t frames_of(const json& report, int64_t tid) {
  for (const auto& t : report["threads"])
    if (t["native_id"] == tid) return t["frames"].size();
  return 0;
}

TEST(LimitsInSession, FramesCutAndRaised) {
  Deep d;
  Session s(d.b->target(nullptr, 4242));
  json full = run_json(s, "py-bt-all", "--json");
  EXPECT_EQ(frames_of(full, 4242), 6u) << full.dump(2);
  json cut = run_json(s, "py-bt-all", "--json --max frames=4");
  EXPECT_EQ(frames_of(cut, 4242), 4u) << cut.dump(2);
  EXPECT_NE(cut.dump().find("--max frames=N"), std::string::npos) << cut.dump(2);
  // The old spelling still works, and a command's --max does not outlive it.
  EXPECT_EQ(frames_of(run_json(s, "py-bt-all", "--json --max-frames 3"), 4242), 3u);
  EXPECT_EQ(frames_of(run_json(s, "py-bt-all", "--json"), 4242), 6u);
  // For the session: py-limits NAME=N, until --reset.
  CommandResult set = s.run("py-limits", "frames=2");
  ASSERT_TRUE(set.ok) << set.output;
  EXPECT_NE(set.output.find("frames: 10,000 -> 2"), std::string::npos) << set.output;
  EXPECT_EQ(frames_of(run_json(s, "py-bt-all", "--json"), 4242), 2u);
  EXPECT_EQ(frames_of(run_json(s, "py-bt-all", "--json --max frames=5"), 4242), 5u);
  ASSERT_TRUE(s.run("py-limits", "--reset").ok);
  EXPECT_EQ(frames_of(run_json(s, "py-bt-all", "--json"), 4242), 6u);
}

TEST(LimitsInSession, ThreadsCutAndNamed) {
  Deep d;
  Session s(d.b->target(nullptr, 4242));
  EXPECT_EQ(run_json(s, "py-bt-all", "--json")["threads"].size(), 3u);
  json cut = run_json(s, "py-bt-all", "--json --max threads=2");
  EXPECT_EQ(cut["threads"].size(), 2u) << cut.dump(2);
  EXPECT_NE(cut.dump().find("--max threads=N"), std::string::npos) << cut.dump(2);
  // Repeated --max options add up.
  json both = run_json(s, "py-bt-all", "--json --max threads=1 --max frames=1");
  ASSERT_EQ(both["threads"].size(), 1u) << both.dump(2);
  EXPECT_EQ(both["threads"][0]["frames"].size(), 1u) << both.dump(2);
}

TEST(LimitsInSession, StringLengthRaised) {
  Deep d;
  Session s(d.b->target(nullptr, 4242));
  CommandResult def = s.run("py-print", "s");
  ASSERT_TRUE(def.ok) << def.output;
  EXPECT_NE(def.output.find(std::string(200, 'x') + "'..."), std::string::npos) << def.output;
  EXPECT_EQ(def.output.find(std::string(201, 'x')), std::string::npos) << def.output;
  CommandResult raised = s.run("py-print", "s --max repr-string=1000");
  ASSERT_TRUE(raised.ok) << raised.output;
  EXPECT_NE(raised.output.find("'" + std::string(300, 'x') + "'"), std::string::npos) << raised.output;
  CommandResult short_ = s.run("py-locals", "--json --max repr-string=3");
  ASSERT_TRUE(short_.ok) << short_.output;
  EXPECT_NE(short_.output.find("'xxx'..."), std::string::npos) << short_.output;
}

TEST(LimitsInSession, ListedAndBadInputRefused) {
  Deep d;
  Session s(d.b->target(nullptr, 4242));
  json listed = run_json(s, "py-limits", "--json");
  ASSERT_EQ(listed["limits"].size(), limit_infos().size());
  for (const auto& row : listed["limits"]) EXPECT_EQ(row["value"], row["default"]) << row.dump();
  CommandResult text = s.run("py-limits", "");
  ASSERT_TRUE(text.ok);
  EXPECT_NE(text.output.find("native-frames"), std::string::npos) << text.output;
  for (const auto& [name, args] : std::vector<std::pair<std::string, std::string>>{{"py-bt-all", "--max frames=0"},
                                                                                   {"py-bt-all", "--max nosuch=1"},
                                                                                   {"py-bt-all", "--max"},
                                                                                   {"py-limits", "frames"},
                                                                                   {"py-limits", "--reset frames=3"}}) {
    CommandResult r = s.run(name, args);
    EXPECT_FALSE(r.ok) << name << " " << args << ": " << r.output;
    EXPECT_EQ(r.output.find('\n'), std::string::npos) << r.output;
  }
  // A refused py-limits changed nothing.
  EXPECT_EQ(frames_of(run_json(s, "py-bt-all", "--json"), 4242), 6u);
}

}  // namespace
}  // namespace pyxray
