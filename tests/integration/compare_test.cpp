// The comparators judge the plugin, so they are tested too: output equal to the ground truth passes,
// and each kind of wrong output is caught. No processes here; this runs in milliseconds.
#include "compare.hpp"

#include <gtest/gtest.h>

namespace pyxray::it {
namespace {

using nlohmann::json;

GroundTruth sample(int minor = 11) {
  GroundTruth t;
  t.pid = 100;
  t.python = "3." + std::to_string(minor) + ".0";
  t.major = 3;
  t.minor = minor;
  auto q = [&](const char* s) { return t.has_qualname() ? std::optional<std::string>(s) : std::nullopt; };
  auto nid = [&](int64_t v) { return t.has_native_id() ? std::optional<int64_t>(v) : std::nullopt; };
  t.threads.push_back({1001,
                       nid(100),
                       "MainThread",
                       false,
                       {{"wait", q("Event.wait"), "/lib/threading.py", 320}, {"<module>", q("<module>"), "/w.py", 9}}});
  t.threads.push_back({1002,
                       nid(101),
                       "worker-1",
                       false,
                       {{"wait", q("Event.wait"), "/lib/threading.py", 320}, {"work", q("W.work"), "/w.py", 5}}});
  t.threads.push_back({1003,
                       nid(102),
                       "spinner",
                       true,
                       {{"spin", q("spin"), "/w.py", 2}, {"run", q("Thread.run"), "/lib/threading.py", 9}}});
  return t;
}

// What a correct plugin prints for `truth` (the spinner's line moved on since the report).
json correct_json(const GroundTruth& truth) {
  json threads = json::array();
  int64_t tid = 100;
  for (const auto& t : truth.threads) {
    json frames = json::array();
    for (const auto& f : t.frames)
      frames.push_back({{"kind", "python"},
                        {"function", f.function},
                        {"file", f.file},
                        {"line", f.line + (t.spinner && &f == &t.frames[0] ? 1 : 0)},
                        {"qualname", f.qualname ? json(*f.qualname) : json(nullptr)}});
    threads.push_back({{"thread_id", t.thread_id},
                       {"native_id", tid++},
                       {"name", t.name},
                       {"holds_gil", t.spinner},
                       {"frames", frames}});
  }
  return {{"pid", truth.pid}, {"python", truth.python}, {"threads", threads}};
}

const std::vector<pid_t> kTasks{100, 101, 102};

TEST(CompareJson, CorrectOutputPasses) {
  for (int minor : {7, 10, 11, 13}) {
    auto truth = sample(minor);
    EXPECT_EQ(join_diffs(compare_bt_all_json(truth, correct_json(truth), kTasks)), "") << "3." << minor;
  }
}

TEST(CompareJson, EachMistakeIsCaught) {
  const auto truth = sample();
  const std::vector<std::pair<const char*, void (*)(json&)>> mistakes{
      {"pid", [](json& j) { j["pid"] = 7; }},
      {"python", [](json& j) { j["python"] = "3.11.1"; }},
      {"missing thread", [](json& j) { j["threads"].erase(1); }},
      {"extra thread",
       [](json& j) {
         j["threads"].push_back(j["threads"][1]);
         j["threads"][3]["thread_id"] = 9;
       }},
      {"name", [](json& j) { j["threads"][1]["name"] = "worker-2"; }},
      {"native id", [](json& j) { j["threads"][1]["native_id"] = 102; }},
      {"line", [](json& j) { j["threads"][1]["frames"][1]["line"] = 6; }},
      {"file", [](json& j) { j["threads"][1]["frames"][1]["file"] = "/x.py"; }},
      {"function", [](json& j) { j["threads"][1]["frames"][1]["function"] = "other"; }},
      {"qualname", [](json& j) { j["threads"][1]["frames"][1]["qualname"] = "work"; }},
      {"order", [](json& j) { std::swap(j["threads"][1]["frames"][0], j["threads"][1]["frames"][1]); }},
      {"missing frame", [](json& j) { j["threads"][0]["frames"].erase(1); }},
      {"extra frame", [](json& j) { j["threads"][0]["frames"].push_back(j["threads"][0]["frames"][1]); }},
      {"native frame", [](json& j) { j["threads"][0]["frames"][0]["kind"] = "native"; }},
      {"gil not held by spinner", [](json& j) { j["threads"][2]["holds_gil"] = false; }},
      {"gil held by a waiter", [](json& j) { j["threads"][0]["holds_gil"] = true; }},
      {"no holds_gil", [](json& j) { j["threads"][0].erase("holds_gil"); }},
      {"spinner not in spin", [](json& j) { j["threads"][2]["frames"][0]["function"] = "run"; }},
      {"spinner's callers", [](json& j) { j["threads"][2]["frames"][1]["line"] = 10; }},
  };
  for (const auto& [what, mutate] : mistakes) {
    json got = correct_json(truth);
    mutate(got);
    EXPECT_FALSE(compare_bt_all_json(truth, got, kTasks).empty()) << "not caught: " << what;
  }
  // native_ids that are not the process's threads, on a version without ground-truth native ids.
  const auto old = sample(7);
  json got = correct_json(old);
  got["threads"][0]["native_id"] = 555;
  EXPECT_FALSE(compare_bt_all_json(old, got, kTasks).empty());
  // A qualname where the version has none.
  got = correct_json(old);
  got["threads"][0]["frames"][0]["qualname"] = "Event.wait";
  EXPECT_FALSE(compare_bt_all_json(old, got, kTasks).empty());
}

TEST(ComparePartialJson, TruthfulPartialOutputPasses) {
  const auto truth = sample();
  EXPECT_EQ(join_diffs(check_partial_bt_all_json(truth, correct_json(truth))), "");
  const std::vector<std::pair<const char*, void (*)(json&)>> partial{
      {"a thread missing", [](json& j) { j["threads"].erase(1); }},
      {"no threads", [](json& j) { j["threads"] = json::array(); }},
      {"outer frames missing",
       [](json& j) {
         j["threads"][0]["frames"].erase(1);
         j["threads"][0]["warning"] = "x";
       }},
      {"inner frames missing",
       [](json& j) {
         j["threads"][1]["frames"].erase(0);
         j["threads"][1]["warning"] = "x";
       }},
      {"no frames",
       [](json& j) {
         j["threads"][1]["frames"] = json::array();
         j["threads"][1]["warning"] = "x";
       }},
      {"unknown line", [](json& j) { j["threads"][1]["frames"][1]["line"] = nullptr; }},
      {"spinner moved on", [](json& j) { j["threads"][2]["frames"][0]["line"] = 3; }},
      {"with warnings",
       [](json& j) {
         j["warnings"] = {"cannot read"};
         j["threads"][0]["warning"] = "cut";
       }},
      {"unreadable thread state",
       [](json& j) {
         j["threads"].push_back(
             {{"thread_id", 0}, {"native_id", nullptr}, {"frames", json::array()}, {"warning", "x"}});
       }},
  };
  for (const auto& [what, mutate] : partial) {
    json got = correct_json(truth);
    mutate(got);
    EXPECT_EQ(join_diffs(check_partial_bt_all_json(truth, got)), "") << what;
  }
}

TEST(ComparePartialJson, InventedOutputIsCaught) {
  const auto truth = sample();
  const std::vector<std::pair<const char*, void (*)(json&)>> invented{
      {"pid", [](json& j) { j["pid"] = 7; }},
      {"unknown thread", [](json& j) { j["threads"][1]["thread_id"] = 9; }},
      {"thread twice", [](json& j) { j["threads"].push_back(j["threads"][1]); }},
      {"name", [](json& j) { j["threads"][1]["name"] = "worker-2"; }},
      {"native id", [](json& j) { j["threads"][1]["native_id"] = 102; }},
      {"line", [](json& j) { j["threads"][1]["frames"][1]["line"] = 6; }},
      {"file", [](json& j) { j["threads"][1]["frames"][1]["file"] = "/x.py"; }},
      {"function", [](json& j) { j["threads"][1]["frames"][1]["function"] = "other"; }},
      {"qualname", [](json& j) { j["threads"][1]["frames"][1]["qualname"] = "work"; }},
      {"order", [](json& j) { std::swap(j["threads"][1]["frames"][0], j["threads"][1]["frames"][1]); }},
      {"frame repeated", [](json& j) { j["threads"][0]["frames"].push_back(j["threads"][0]["frames"][1]); }},
      {"another thread's frame", [](json& j) { j["threads"][0]["frames"][1] = j["threads"][1]["frames"][1]; }},
      {"spinner's caller line", [](json& j) { j["threads"][2]["frames"][1]["line"] = 10; }},
      {"no frames array", [](json& j) { j["threads"][0].erase("frames"); }},
      {"frames missing without a warning", [](json& j) { j["threads"][0]["frames"].erase(1); }},
      {"unidentified thread with frames",
       [](json& j) {
         j["threads"][1]["thread_id"] = 0;
         j["threads"][1]["warning"] = "x";
       }},
      {"unidentified thread without warning",
       [](json& j) {
         j["threads"].push_back({{"thread_id", 0}, {"native_id", nullptr}, {"frames", json::array()}});
       }},
  };
  for (const auto& [what, mutate] : invented) {
    json got = correct_json(truth);
    mutate(got);
    EXPECT_FALSE(check_partial_bt_all_json(truth, got).empty()) << "not caught: " << what;
  }
}

std::string text_for(const GroundTruth& truth) {
  std::string s;
  for (const auto& t : truth.threads) {
    s += "Thread " + std::to_string(*t.native_id) + " \"" + t.name + "\"\n";
    for (const auto& f : t.frames)
      s += "  File \"" + f.file + "\", line " + std::to_string(f.line) + ", in " + f.function + "\n    source\n";
    s += "\n";
  }
  return s;
}

TEST(CompareText, CorrectOutputPassesAndMistakesAreCaught) {
  const auto truth = sample();
  const std::string good = text_for(truth);
  EXPECT_EQ(join_diffs(compare_bt_all_text(truth, good)), "");

  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_FALSE(compare_bt_all_text(truth, replaced("line 5, in work", "line 6, in work")).empty());
  EXPECT_FALSE(compare_bt_all_text(truth, replaced("\"worker-1\"", "\"worker-2\"")).empty());
  EXPECT_FALSE(compare_bt_all_text(truth, replaced("Thread 101", "Thread 109")).empty());
  EXPECT_FALSE(compare_bt_all_text(truth, replaced("  File \"/w.py\", line 9, in <module>\n", "")).empty());

  // py-bt: exactly one thread.
  const auto& main = truth.threads[0];
  const std::string main_only = good.substr(0, good.find("Thread 101"));
  EXPECT_EQ(join_diffs(compare_bt_text_one(truth, main, main_only)), "");
  EXPECT_FALSE(compare_bt_text_one(truth, main, good).empty());
  EXPECT_FALSE(compare_bt_text_one(truth, truth.threads[1], main_only).empty());
}

}  // namespace
}  // namespace pyxray::it
