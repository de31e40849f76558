// py-layout --python X.Y: the user overrides the detected version, and the session decodes the
// process with that version's built-in table alone until `--python auto`. Over the synthetic
// processes: the override shows in py-layout, ignores _Py_DebugOffsets, persists, is undone by auto,
// is refused for a version without a table, rescues a process whose version cannot be detected, and
// a wrong version gives one-line errors or partial answers from every command, never an internal
// error.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands/session.hpp"
#include "layout/layout_tables.hpp"
#include "scene.hpp"
#include "version_param.hpp"

namespace pyxray {
namespace {

using namespace synthetic;
using json = nlohmann::json;

// Every thread's (function, line) list, innermost first, from py-bt-all --json; threads in a fixed
// order (what is compared is the set of stacks).
std::vector<std::vector<std::pair<std::string, int>>> stacks(const std::string& bt_json) {
  std::vector<std::vector<std::pair<std::string, int>>> out;
  const json report = json::parse(bt_json);
  for (const auto& t : report["threads"]) {
    out.emplace_back();
    for (const auto& f : t["frames"])
      out.back().emplace_back(f["function"], f["line"].is_null() ? -1 : f["line"].get<int>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::vector<std::pair<std::string, int>>> scene_stacks(const Scene& scene) {
  std::vector<std::vector<std::pair<std::string, int>>> out;
  for (const auto& t : scene.threads) {
    out.emplace_back();
    for (const auto& f : t.frames) out.back().emplace_back(f.function, f.line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A version with a table, other than `v`, whose frames are walked by another model where possible.
std::string other_version(const PyVersion& v) {
  if (v.minor == 11) return "3.12";
  if (v.minor == 12) return "3.11";
  return v.minor >= 13 ? "3.10" : "3.12";
}

class ForcedVersion : public testing::TestWithParam<uint32_t> {};

TEST_P(ForcedVersion, ShowsInLayoutPersistsAndAutoUndoesIt) {
  Scene scene = standard_scene(GetParam());
  const PyVersion real = scene.builder->version();
  Session session(scene.builder->target(nullptr, scene.threads.front().native_id));
  const std::string other = other_version(real);

  CommandResult layout = session.run("py-layout", "--json --python " + other);
  ASSERT_TRUE(layout.ok) << layout.output;
  json j = json::parse(layout.output);
  EXPECT_EQ(j["python"], other);
  EXPECT_TRUE(j["python_forced"].get<bool>());
  // Detected by name before 3.11, without the patch release: that comes from sys.version, which the
  // forced layout cannot read.
  const std::string detected = j["python_detected"].get<std::string>();
  EXPECT_EQ(detected.rfind(fmt::format("{}.{}", real.major, real.minor), 0), 0u) << detected;
  EXPECT_TRUE(j["sources"]["debuginfo"].empty());
  EXPECT_TRUE(j["sources"]["debug_offsets"].empty());  // 3.13+ has a block: not read when forced
  EXPECT_EQ(j["source"].get<std::string>().rfind("built-in table " + other, 0), 0u) << j["source"];

  // The text says so, and it persists: the next commands decode as the forced version.
  CommandResult text = session.run("py-layout", "");
  ASSERT_TRUE(text.ok) << text.output;
  EXPECT_NE(text.output.find(fmt::format("CPython {} (forced by --python; detected: {})", other, detected)),
            std::string::npos)
      << text.output;
  CommandResult bt = session.run("py-bt-all", "--json");
  if (bt.ok) {
    EXPECT_EQ(json::parse(bt.output)["python"], other);
  } else {
    EXPECT_NE(bt.output.find("forced by 'py-layout --python'"), std::string::npos) << bt.output;
  }

  CommandResult back = session.run("py-layout", "--json --python auto");
  ASSERT_TRUE(back.ok) << back.output;
  json b = json::parse(back.output);
  EXPECT_FALSE(b["python_forced"].get<bool>());
  EXPECT_TRUE(b["python_detected"].is_null());
  EXPECT_EQ(b["python"], real.text());
  if (real.at_least(3, 13)) {
    EXPECT_FALSE(b["sources"]["debug_offsets"].empty());
  }
  CommandResult again = session.run("py-bt-all", "--json");
  ASSERT_TRUE(again.ok) << again.output;
  EXPECT_EQ(stacks(again.output), scene_stacks(scene));
}

// The process's own version, forced: decoded from the table alone, it reads exactly as detected.
TEST_P(ForcedVersion, OwnVersionReadsTheSame) {
  Scene scene = standard_scene(GetParam());
  const PyVersion real = scene.builder->version();
  Session session(scene.builder->target());
  CommandResult layout = session.run("py-layout", fmt::format("--python {}.{}", real.major, real.minor));
  if (!table_for(real)) {  // 3.14: newer than every table, so it cannot be forced
    EXPECT_FALSE(layout.ok) << layout.output;
    EXPECT_NE(layout.output.find("no built-in layout table"), std::string::npos) << layout.output;
    return;
  }
  ASSERT_TRUE(layout.ok) << layout.output;
  CommandResult bt = session.run("py-bt-all", "--json");
  ASSERT_TRUE(bt.ok) << bt.output;
  EXPECT_EQ(stacks(bt.output), scene_stacks(scene));
}

// Every other version with a table, forced on this process: every command ends with an answer or
// one pyxray: line, never an exception.
TEST_P(ForcedVersion, EveryWrongVersionFailsCleanly) {
  Scene scene = standard_scene(GetParam(), /*pymalloc=*/true);
  const PyVersion real = scene.builder->version();
  std::vector<std::string> versions;
  for (const auto& t : layout_tables())
    if (t.version != real &&
        (versions.empty() || versions.back() != fmt::format("{}.{}", t.version.major, t.version.minor)))
      versions.push_back(fmt::format("{}.{}", t.version.major, t.version.minor));
  const std::string addr = fmt::format("{:#x}", scene.root);
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"py-bt-all", "--json"}, {"py-bt-all", "--locals"},
      {"py-bt", ""},           {"py-locals", ""},
      {"py-print", "data"},    {"py-print", addr},
      {"py-list", ""},         {"py-up", ""},
      {"py-down", ""},         {"py-heap-summary", "--limit 3"},
      {"py-arenas", ""},       {"py-sizeof", addr + " --deep"},
      {"py-biggest", "3"},     {"py-referrers", addr},
      {"py-layout", ""}};
  for (const auto& v : versions) {
    SCOPED_TRACE("forced " + v);
    Session session(scene.builder->target(nullptr, scene.threads.front().native_id));
    CommandResult force = session.run("py-layout", "--python " + v);
    ASSERT_EQ(force.output.find("internal error"), std::string::npos) << force.output;
    for (const auto& [name, args] : commands) {
      CommandResult r = session.run(name, args);
      EXPECT_EQ(r.output.find("internal error"), std::string::npos) << name << " " << args << ": " << r.output;
      if (!r.ok) {
        EXPECT_EQ(r.output.rfind("pyxray: ", 0), 0u) << name << " " << args << ": " << r.output;
        EXPECT_EQ(r.output.find('\n'), std::string::npos) << name << " " << args << ": " << r.output;
      }
    }
    CommandResult back = session.run("py-layout", "--python auto");
    ASSERT_TRUE(back.ok) << back.output;
    CommandResult bt = session.run("py-bt-all", "--json");
    ASSERT_TRUE(bt.ok) << bt.output;
    EXPECT_EQ(stacks(bt.output), scene_stacks(scene));
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, ForcedVersion, testing::ValuesIn(kBuilderVersions), version_name);

TEST(ForcedVersionArg, UnknownVersionIsRefusedWithTheKnownOnes) {
  Scene scene = standard_scene(kPy312);
  Session session(scene.builder->target());
  for (const char* bad : {"3.5", "3.16", "4.0", "three", "3"}) {
    CommandResult r = session.run("py-layout", std::string("--python ") + bad);
    ASSERT_FALSE(r.ok) << bad;
    EXPECT_NE(r.output.find(fmt::format("--python {}: pyxray has no built-in layout table", bad)), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("2.7, 3.6, 3.7, 3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14, 3.15"), std::string::npos)
        << r.output;
  }
  // A refused version changes nothing.
  CommandResult layout = session.run("py-layout", "--json");
  ASSERT_TRUE(layout.ok) << layout.output;
  EXPECT_FALSE(json::parse(layout.output)["python_forced"].get<bool>());
}

// The target as a debugger shows it, with every object file renamed so that no name carries a
// version: with no Py_Version either (before 3.11), the version cannot be detected.
class UnversionedTarget final : public Target {
 public:
  explicit UnversionedTarget(std::unique_ptr<Target> inner) : inner_(std::move(inner)) {}
  int pid() const override { return inner_->pid(); }
  bool is_live_local() const override { return inner_->is_live_local(); }
  std::size_t read_memory(uint64_t addr, std::span<std::byte> out) override { return inner_->read_memory(addr, out); }
  std::optional<uint64_t> symbol_address(std::string_view name) override { return inner_->symbol_address(name); }
  std::optional<int64_t> type_offset(std::string_view t, std::string_view f) override {
    return inner_->type_offset(t, f);
  }
  std::vector<NativeThread> threads() override { return inner_->threads(); }
  std::optional<int64_t> selected_thread() override { return inner_->selected_thread(); }
  std::vector<LoadedObject> loaded_objects() override {
    auto objects = inner_->loaded_objects();
    for (std::size_t i = 0; i < objects.size(); ++i) objects[i].path = fmt::format("/opt/app/lib/object{}.so", i);
    objects.front().path = "/opt/app/bin/server";
    return objects;
  }

 private:
  std::unique_ptr<Target> inner_;
};

TEST(ForcedVersionArg, RescuesAnUndetectableVersion) {
  Scene scene = standard_scene(kPy310);
  Session session(std::make_unique<UnversionedTarget>(scene.builder->target()));
  CommandResult bt = session.run("py-bt-all", "--json");
  ASSERT_FALSE(bt.ok) << bt.output;
  EXPECT_NE(bt.output.find("version could not be determined"), std::string::npos) << bt.output;
  EXPECT_NE(bt.output.find("py-layout --python X.Y"), std::string::npos) << bt.output;

  CommandResult layout = session.run("py-layout", "--json --python 3.10");
  ASSERT_TRUE(layout.ok) << layout.output;
  json j = json::parse(layout.output);
  EXPECT_TRUE(j["python_forced"].get<bool>());
  EXPECT_TRUE(j["python_detected"].is_null());
  CommandResult text = session.run("py-layout", "");
  ASSERT_TRUE(text.ok) << text.output;
  EXPECT_NE(text.output.find("(forced by --python; detected: nothing)"), std::string::npos) << text.output;
  bt = session.run("py-bt-all", "--json");
  ASSERT_TRUE(bt.ok) << bt.output;
  EXPECT_EQ(stacks(bt.output), scene_stacks(scene));

  // auto: detection fails again, and the message says so.
  CommandResult back = session.run("py-layout", "--python auto");
  ASSERT_FALSE(back.ok);
  EXPECT_NE(back.output.find("version could not be determined"), std::string::npos) << back.output;
}

}  // namespace
}  // namespace pyxray
