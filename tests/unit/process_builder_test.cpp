// The synthetic processes of tests/synthetic (what the fuzzers mutate) read back exactly through the
// real decoders, for every version the builder knows: the stacks py-bt-all shows, the reprs py-print
// gives, and (with pymalloc) the objects py-heap-summary counts and py-arenas' pool statistics. If
// these fail, the fuzzers' seeds no longer reach the code they are meant to exercise.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

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

class Builder : public testing::TestWithParam<uint32_t> {};

TEST_P(Builder, PyBtAllShowsTheSceneStacks) {
  Scene scene = standard_scene(GetParam());
  Session session(scene.builder->target());
  CommandResult r = session.run("py-bt-all", "--json");
  ASSERT_TRUE(r.ok) << r.output;
  json report = json::parse(r.output);
  EXPECT_FALSE(report.contains("warnings") && !report["warnings"].is_null()) << report.dump(2);
  ASSERT_EQ(report["threads"].size(), scene.threads.size()) << report.dump(2);
  for (const json& got : report["threads"]) {
    auto it = std::find_if(scene.threads.begin(), scene.threads.end(),
                           [&](const SceneThread& t) { return got["native_id"] == t.native_id; });
    ASSERT_NE(it, scene.threads.end()) << got.dump(2);
    const SceneThread& want = *it;
    EXPECT_EQ(got["thread_id"], want.ident);
    EXPECT_EQ(got["name"], want.name);
    EXPECT_TRUE(got.value("warning", json()).is_null()) << got.dump(2);
    std::vector<std::pair<std::string, int>> frames;
    for (const auto& f : got["frames"])
      frames.emplace_back(f["function"], f["line"].is_null() ? -1 : f["line"].get<int>());
    std::vector<std::pair<std::string, int>> expected;
    for (const auto& f : want.frames) expected.emplace_back(f.function, f.line);
    EXPECT_EQ(frames, expected) << got.dump(2);
  }
  std::string expected_version = scene.builder->version().text();
  EXPECT_EQ(report["python"], expected_version);
}

TEST_P(Builder, LocalsOfTheSelectedFrame) {
  Scene scene = standard_scene(GetParam());
  Session session(scene.builder->target(nullptr, 4242));
  CommandResult r = session.run("py-locals", "--json");
  ASSERT_TRUE(r.ok) << r.output;
  auto j = nlohmann::ordered_json::parse(r.output);
  std::vector<std::string> names;
  for (const auto& [name, repr] : j["locals"].items()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"n", "total", "i", "add"})) << j.dump(2);
  EXPECT_EQ(j["locals"]["n"], "42") << j.dump(2);
  EXPECT_EQ(j["locals"]["total"], "-12345678901234567") << j.dump(2);
  EXPECT_EQ(j["locals"]["i"], "0") << j.dump(2);
}

TEST_P(Builder, ReprsAreWhatPythonPrints) {
  Scene scene = standard_scene(GetParam());
  auto target = scene.builder->target();
  auto proc = PythonProcess::open(*target);
  ASSERT_TRUE(proc) << proc.error().message;
  Objects objects(**proc);
  for (const auto& [addr, want] : scene.reprs) {
    std::string got = safe_repr(**proc, objects, addr);
    if (want.empty()) {
      EXPECT_EQ(got.find("invalid"), std::string::npos) << got;
      EXPECT_EQ(got.find("unreadable"), std::string::npos) << got;
    } else {
      EXPECT_EQ(got, want);
    }
  }
  std::string root = safe_repr(**proc, objects, scene.root, ReprLimits{.max_depth = 3, .max_items = 100});
  EXPECT_EQ(root.rfind("{'s': 'hello', ", 0), 0u) << root;
  EXPECT_EQ(root.find("invalid"), std::string::npos) << root;
  EXPECT_EQ(root.find("unreadable"), std::string::npos) << root;
}

TEST_P(Builder, HeapSummaryFindsEveryObject) {
  Scene scene = standard_scene(GetParam(), /*pymalloc=*/true);
  Session session(scene.builder->target());
  CommandResult r = session.run("py-heap-summary", "--json");
  ASSERT_TRUE(r.ok) << r.output;
  json j = json::parse(r.output);
  EXPECT_TRUE(j["pymalloc"].get<bool>()) << j.dump(2);
  EXPECT_EQ(j["arenas"], 1) << j.dump(2);
  EXPECT_FALSE(j["partial"].get<bool>()) << j.dump(2);
  EXPECT_TRUE(j["warnings"].empty()) << j.dump(2);
  std::map<std::string, int64_t> counts;
  for (const auto& t : j["types"]) counts[t["type"]] = t["count"];
  // Every object of the scene's own kinds is found (strings and dicts come in many).
  for (const char* kind : {"str", "bytes", "int", "float", "tuple", "list", "dict", "set", "frozenset", "module",
                           "function", "code", "cell", "type", "__main__.Worker", "threading.Thread"})
    EXPECT_GT(counts[kind], 0) << kind << "\n" << j.dump(2);
  EXPECT_GT(j["in_arenas"].get<int64_t>(), 50) << j.dump(2);
  EXPECT_GT(j["gc_outside"].get<int64_t>(), 0) << j.dump(2);  // the heap types, too big for pymalloc

  CommandResult arenas = session.run("py-arenas", "--json");
  ASSERT_TRUE(arenas.ok) << arenas.output;
  json a = json::parse(arenas.output);
  ASSERT_TRUE(a["pymalloc"].is_object()) << a.dump(2);
  EXPECT_EQ(a["pymalloc"]["arenas"], 1) << a.dump(2);
  EXPECT_TRUE(a["pymalloc"]["warnings"].is_null()) << a.dump(2);
}

INSTANTIATE_TEST_SUITE_P(Versions, Builder, testing::ValuesIn(kBuilderVersions), version_name);

}  // namespace
}  // namespace pyxray
