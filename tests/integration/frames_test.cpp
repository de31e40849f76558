// End-to-end tests of `py-bt-all --locals`, py-locals, py-up/py-down, py-print NAME and py-list:
// tests/workloads/frames.py parks threads in frames with known variables and reports, for every
// frame, what CPython's own frame.f_locals holds (name -> repr), the argument names, and where
// name lookups land; pyxray's answers are compared with that, exactly.
#include "compare.hpp"
#include "harness.hpp"
#include "interpreters.hpp"
#include "script_workload.hpp"
#include "test_names.hpp"
#include "variants.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace pyxray::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ojson = nlohmann::ordered_json;  // keeps pyxray's key order: the order of locals is checked

struct Lookup {
  std::string scope, repr;
};

struct FrameTruth {
  std::string function;
  std::optional<std::string> qualname;
  std::string file;
  int64_t line = 0;
  std::vector<std::pair<std::string, std::string>> locals;  // f_locals, name -> repr
  std::vector<std::string> order;                           // CPython's order of those names
  std::vector<std::string> arguments;                       // co_varnames[:argcount+kwonly+*+**]
  std::map<std::string, std::optional<Lookup>> lookups;     // probe name -> where it is found
  std::map<std::string, std::string> locals_map() const { return {locals.begin(), locals.end()}; }
  std::string describe(std::size_t index) const { return "#" + std::to_string(index) + " " + function; }
};

struct ThreadTruth {
  uint64_t thread_id = 0;
  std::optional<int64_t> native_id;
  std::string role;
  std::vector<FrameTruth> frames;  // innermost first
};

std::vector<ThreadTruth> parse_threads(const json& truth) {
  std::vector<ThreadTruth> out;
  for (const auto& jt : truth.at("threads")) {
    ThreadTruth t;
    t.thread_id = jt.at("thread_id").get<uint64_t>();
    if (!jt.at("native_id").is_null()) t.native_id = jt.at("native_id").get<int64_t>();
    t.role = jt.at("role").get<std::string>();
    for (const auto& jf : jt.at("frames")) {
      FrameTruth f;
      f.function = jf.at("function").get<std::string>();
      if (!jf.at("qualname").is_null()) f.qualname = jf.at("qualname").get<std::string>();
      f.file = jf.at("file").get<std::string>();
      f.line = jf.at("line").get<int64_t>();
      for (const auto& p : jf.at("locals"))
        f.locals.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
      f.order = jf.at("order").get<std::vector<std::string>>();
      f.arguments = jf.at("arguments").get<std::vector<std::string>>();
      for (const auto& [name, l] : jf.at("lookups").items()) {
        if (l.is_null()) f.lookups[name] = std::nullopt;
        else f.lookups[name] = Lookup{l.at("scope").get<std::string>(), l.at("repr").get<std::string>()};
      }
      t.frames.push_back(std::move(f));
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return "[" + s + "]";
}

// pyxray's locals of one frame (a JSON object, in pyxray's order) against the truth: the same
// names with the same reprs, arguments first in co_varnames order, then CPython's order.
void compare_locals(const FrameTruth& f, const ojson& got, const std::string& where, std::vector<std::string>& diffs) {
  if (!got.is_object()) {
    diffs.push_back(where + ": locals is not an object: " + got.dump());
    return;
  }
  const auto want = f.locals_map();
  std::vector<std::string> got_names;
  for (const auto& [name, repr] : got.items()) {
    got_names.push_back(name);
    auto it = want.find(name);
    if (it == want.end()) {
      diffs.push_back(where + ": pyxray lists '" + name + "' = " + repr.dump() +
                      ", CPython's f_locals has no such name");
    } else if (!repr.is_string() || repr.get<std::string>() != it->second) {
      diffs.push_back(where + ": '" + name + "':\n      python: " + it->second + "\n      pyxray: " + repr.dump());
    }
  }
  for (const auto& [name, repr] : f.locals)
    if (!got.contains(name)) diffs.push_back(where + ": '" + name + "' = " + repr + " is missing");
  const std::size_t nargs = f.arguments.size();
  const std::vector<std::string> leading(got_names.begin(), got_names.begin() + std::min(nargs, got_names.size()));
  if (leading != f.arguments)
    diffs.push_back(where + ": arguments must come first, as " + join_names(f.arguments) + "; pyxray's order is " +
                    join_names(got_names));
  else if (got_names != f.order && want.size() == got_names.size())
    diffs.push_back(where + ": order " + join_names(got_names) + ", CPython's is " + join_names(f.order));
}

// A line of stdout that starts with `prefix`, parsed keeping key order.
std::optional<ojson> json_line(const std::vector<std::string>& lines, const std::string& prefix, std::string* error) {
  for (const auto& line : lines) {
    if (line.rfind(prefix, 0) != 0) continue;
    try {
      return ojson::parse(line);
    } catch (const std::exception& e) {
      *error = "not JSON (" + std::string(e.what()) + "): " + line;
      return std::nullopt;
    }
  }
  *error = "no line starts with " + prefix;
  return std::nullopt;
}

class Frames : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
    try {
      setup_ = setup_for(GetParam());
      workload_ = ScriptWorkload::start(setup_.executable, setup_.env, "frames.py");
      threads_ = parse_threads(workload_->truth());
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    const auto mapped = check_mapped_files(GetParam(), setup_, workload_->pid());
    ASSERT_TRUE(mapped.empty()) << join_diffs(mapped);
    const auto& vi = workload_->truth().at("version_info");
    ASSERT_EQ(vi.at(0).get<int>(), GetParam().interp.major);
    ASSERT_EQ(vi.at(1).get<int>(), GetParam().interp.minor);
    CheckWorkloadCoversTheCases();
  }

  void CheckWorkloadCoversTheCases();

  CommandResult gdb(const std::vector<std::string>& commands, bool require_success,
                    const std::vector<std::string>& extra_init = {}) {
    auto init = setup_.gdb_init;
    init.insert(init.end(), extra_init.begin(), extra_init.end());
    auto r = run_gdb(workload_->pid(), commands, workload_->dir(), 90s, init);
    const auto problems = gdb_run_problems(r, require_success);
    EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
    EXPECT_TRUE(workload_->alive()) << "the workload died while gdb was attached";
    const auto stopped = stopped_threads(workload_->pid());
    EXPECT_TRUE(stopped.empty()) << "threads left stopped after detaching:\n" << join_diffs(stopped);
    return r;
  }

  const ThreadTruth* role(const std::string& name) const {
    for (const auto& t : threads_)
      if (t.role == name) return &t;
    return nullptr;
  }

  VariantSetup setup_;
  std::unique_ptr<ScriptWorkload> workload_;
  std::vector<ThreadTruth> threads_;
};

// The workload parks what it promises (checked before gdb runs, in every test), so that no test can
// pass vacuously.
void Frames::CheckWorkloadCoversTheCases() {
  const int major = GetParam().interp.major, minor = GetParam().interp.minor;
  std::vector<std::string> roles{"main", "args", "closure", "gen", "class", "module"};
  if (major >= 3) roles.insert(roles.end(), {"kwonly", "unicode"});
  if (major > 3 || (major == 3 && minor >= 8)) roles.push_back("posonly");
  EXPECT_EQ(threads_.size(), roles.size());
  for (const auto& r : roles) ASSERT_TRUE(role(r)) << "no thread " << r;

  const auto frame0 = [&](const std::string& r) -> const FrameTruth& { return role(r)->frames.at(0); };
  EXPECT_EQ(frame0("args").arguments, (std::vector<std::string>{"pos", "dflt", "rest", "opts"}));
  EXPECT_EQ(frame0("args").locals_map().count("later"), 0u) << "an unbound local is not in f_locals";
  EXPECT_EQ(frame0("args").locals_map().count("gone"), 0u) << "a deleted local is not in f_locals";
  EXPECT_EQ(frame0("args").lookups.at("shadowed")->scope, "local");
  EXPECT_EQ(frame0("args").lookups.at("GLOBAL_ANSWER")->scope, "global");
  EXPECT_EQ(frame0("args").lookups.at("len")->scope, "builtin");
  EXPECT_FALSE(frame0("args").lookups.at("nope_not_defined"));
  EXPECT_EQ(role("args")->frames.at(1).lookups.at("shadowed")->scope, "global");
  EXPECT_EQ(frame0("closure").locals_map().count("shared"), 1u) << "a free variable";
  EXPECT_EQ(role("closure")->frames.at(1).locals_map().count("a"), 1u) << "an argument that is also a cell";
  EXPECT_EQ(frame0("gen").function, "gen_frame");
  EXPECT_EQ(frame0("gen").locals_map().count("label"), 1u);
  EXPECT_EQ(frame0("class").function, "ParkedClass");
  EXPECT_EQ(frame0("class").locals_map().at("kind"), "'tagged'");
  EXPECT_EQ(role("module")->frames.at(1).function, "<module>");
  EXPECT_EQ(role("module")->frames.at(1).locals_map().at("mod_number"), "7");
  EXPECT_EQ(role("main")->frames.back().function, "<module>");
  EXPECT_GT(role("main")->frames.back().locals.size(), 30u) << "the script's globals";
  if (major >= 3) {
    EXPECT_EQ(frame0("kwonly").arguments,
              (std::vector<std::string>{"pos", "dflt", "kwonly", "kwdflt", "rest", "opts"}));
    EXPECT_EQ(frame0("unicode").locals_map().count("\u540d\u524d"), 1u) << "a non-ASCII name";
  }
  for (const auto& t : threads_) {
    EXPECT_GE(t.frames.size(), 2u) << t.role;
    EXPECT_EQ(t.native_id.has_value(), major > 3 || (major == 3 && minor >= 8)) << t.role;
  }
}

// `py-bt-all --locals --json`: every frame of every thread has exactly CPython's f_locals, arguments
// first; the text form lists the same `      name = repr` lines under each frame.
TEST_P(Frames, BtAllLocalsMatchFLocals) {
  auto r = gdb({"py-bt-all --locals --json", "echo @@text\\n", "py-bt-all --locals"}, true);
  const auto lines = split_lines(r.out);
  std::string error;
  auto got = json_line(lines, "{\"pid\"", &error);
  ASSERT_TRUE(got) << error << "\n" << r.describe();

  std::vector<std::string> diffs;
  for (const auto& t : threads_) {
    const ojson* gt = nullptr;
    for (const auto& j : (*got)["threads"])
      if (j["thread_id"].is_number() && j["thread_id"].get<uint64_t>() == t.thread_id) gt = &j;
    if (!gt) {
      diffs.push_back(t.role + " (" + hex(t.thread_id) + "): not in py-bt-all --json");
      continue;
    }
    const ojson& frames = (*gt)["frames"];
    if (frames.size() != t.frames.size()) {
      diffs.push_back(t.role + ": " + std::to_string(frames.size()) + " frames, CPython reports " +
                      std::to_string(t.frames.size()));
      continue;
    }
    for (std::size_t i = 0; i < t.frames.size(); ++i) {
      const FrameTruth& f = t.frames[i];
      const ojson& gf = frames[i];
      const std::string where = t.role + " " + f.describe(i);
      if (gf.value("function", "") != f.function || gf["line"] != f.line || gf.value("file", "") != f.file) {
        diffs.push_back(where + ": frame is " + gf.dump());
        continue;
      }
      if (!gf.contains("locals")) {
        diffs.push_back(where + ": no \"locals\" key");
        continue;
      }
      compare_locals(f, gf["locals"], where, diffs);
    }
  }
  EXPECT_TRUE(diffs.empty()) << "py-bt-all --locals --json differs from f_locals (" << diffs.size() << "):\n"
                             << join_diffs(diffs);

  // Text: under each thread's header ([ident 0x...]), each File line, its source line, then exactly
  // the frame's `      name = repr` lines in pyxray's (checked) order.
  std::vector<std::string> text_diffs;
  auto at = std::find(lines.begin(), lines.end(), "@@text");
  ASSERT_NE(at, lines.end()) << r.describe();
  for (const auto& t : threads_) {
    const std::string tag = "[ident " + hex(t.thread_id) + "]";
    auto header = std::find_if(at, lines.end(), [&](const std::string& l) {
      return l.rfind("Thread ", 0) == 0 && l.find(tag) != std::string::npos;
    });
    if (header == lines.end()) {
      text_diffs.push_back(t.role + ": no header with " + tag);
      continue;
    }
    auto it = header + 1;
    for (std::size_t i = 0; i < t.frames.size(); ++i) {
      const FrameTruth& f = t.frames[i];
      const std::string file_line = "  File \"" + f.file + "\", line " + std::to_string(f.line) + ", in " + f.function;
      if (it == lines.end() || *it != file_line) {
        text_diffs.push_back(t.role + " " + f.describe(i) + ": expected `" + file_line + "`, got `" +
                             (it == lines.end() ? "<end>" : *it) + "`");
        break;
      }
      ++it;
      if (it != lines.end() && it->rfind("    ", 0) == 0 && it->size() > 4 && (*it)[4] != ' ') ++it;  // source
      std::vector<std::string> got_vars;
      for (; it != lines.end() && it->rfind("      ", 0) == 0; ++it) got_vars.push_back(it->substr(6));
      std::map<std::string, std::string> want = f.locals_map();
      std::vector<std::string> want_vars;
      for (const auto& name : f.order) want_vars.push_back(name + " = " + want[name]);
      if (got_vars != want_vars) {
        std::string msg = t.role + " " + f.describe(i) + ": text locals differ\n    want:";
        for (const auto& v : want_vars) msg += "\n      " + v;
        msg += "\n    got:";
        for (const auto& v : got_vars) msg += "\n      " + v;
        text_diffs.push_back(msg);
      }
    }
  }
  EXPECT_TRUE(text_diffs.empty()) << "py-bt-all --locals (text) differs (" << text_diffs.size() << "):\n"
                                  << join_diffs(text_diffs);
}

// One gdb session walks every thread: select it with `thread N`, then py-locals, py-up, py-locals,
// py-down, py-print of a local, the shadowed global, a global and a builtin, an unknown name,
// py-list, py-up 1000 (clamps), py-up (at the oldest), py-list there.
TEST_P(Frames, NavigateEveryThread) {
  const std::vector<std::string> probes{"shadowed", "GLOBAL_ANSWER", "len"};
  std::vector<std::string> commands;
  const auto step = [&](const ThreadTruth& t, const std::string& what, const std::string& command) {
    commands.push_back("echo @@" + t.role + ":" + what + "\\n");
    commands.push_back(command);
  };
  // The local printed by name: frame 0's first variable that is not an argument, else its first.
  const auto local_to_print = [](const FrameTruth& f) -> std::optional<std::string> {
    for (const auto& name : f.order)
      if (std::find(f.arguments.begin(), f.arguments.end(), name) == f.arguments.end()) return name;
    if (!f.order.empty()) return f.order.front();
    return std::nullopt;
  };
  for (const auto& t : threads_) {
    // gdb's thread number for this thread, found from its kernel id or pthread_t.
    step(t, "select",
         "python gdb.execute('thread %d' % [t.num for t in gdb.selected_inferior().threads() if " +
             gdb_thread_is(t.thread_id, t.native_id) + "][0])");
    step(t, "locals0", "py-locals --json");
    step(t, "up", "py-up");
    step(t, "locals1", "py-locals --json");
    step(t, "down", "py-down");
    if (auto name = local_to_print(t.frames[0])) step(t, "print-local", "py-print " + *name + " --json");
    for (const auto& p : probes) step(t, "print-" + p, "py-print " + p + " --json");
    step(t, "print-nope", "py-print nope_not_defined");
    step(t, "list0", "py-list --json");
    step(t, "top", "py-up 1000");
    step(t, "top-again", "py-up");
    step(t, "list-top", "py-list --json");
  }
  commands.push_back("echo @@end\\n");
  // Errors make gdb's exit status depend on the last command only: checked through the output.
  // UTF-8 host charset: gdb itself cannot pass a non-ASCII command argument (py-print NAME) to a
  // Python command in an ASCII charset (LANG=C); ErrorLineUnderAsciiCharset covers that charset.
  auto r = gdb(commands, false, {"set host-charset UTF-8"});

  // stdout in segments, one per command, by the markers echoed before each.
  std::map<std::string, std::vector<std::string>> segments;
  const auto out_lines = split_lines(r.out);
  {
    std::string current;
    for (const auto& line : out_lines) {
      if (line.rfind("@@", 0) == 0) current = line.substr(2);
      else if (!current.empty()) segments[current].push_back(line);
    }
  }
  ASSERT_NE(std::find(out_lines.begin(), out_lines.end(), "@@end"), out_lines.end())
      << "the session did not reach its end\n"
      << r.describe();

  std::map<fs::path, std::vector<std::string>> files;
  const auto file_lines = [&](const std::string& path) -> const std::vector<std::string>& {
    auto it = files.find(path);
    if (it == files.end()) it = files.emplace(path, split_lines(read_text(path))).first;
    return it->second;
  };
  std::vector<std::string> diffs;
  const auto segment = [&](const ThreadTruth& t, const std::string& what) -> const std::vector<std::string>& {
    static const std::vector<std::string> none;
    auto it = segments.find(t.role + ":" + what);
    return it == segments.end() ? none : it->second;
  };
  const auto json_of = [&](const ThreadTruth& t, const std::string& what, const std::string& prefix) {
    std::string error;
    auto j = json_line(segment(t, what), prefix, &error);
    if (!j) diffs.push_back(t.role + " " + what + ": " + error);
    return j;
  };
  const auto frame_line = [](const FrameTruth& f, std::size_t index) {
    return "#" + std::to_string(index) + " File \"" + f.file + "\", line " + std::to_string(f.line) + ", in " +
           f.function;
  };
  const auto expect_frame_line = [&](const ThreadTruth& t, const std::string& what, std::size_t index) {
    const auto& seg = segment(t, what);
    const std::string want = frame_line(t.frames[index], index);
    if (seg.empty() || seg[0] != want)
      diffs.push_back(t.role + " " + what + ": expected `" + want + "`, got `" + (seg.empty() ? "<nothing>" : seg[0]) +
                      "`");
  };
  const auto expect_locals = [&](const ThreadTruth& t, const std::string& what, std::size_t index) {
    auto j = json_of(t, what, "{\"frame\"");
    if (!j) return;
    const FrameTruth& f = t.frames[index];
    const ojson& fr = (*j)["frame"];
    if (fr["index"] != index || fr["function"] != f.function || fr["line"] != f.line || fr["file"] != f.file)
      diffs.push_back(t.role + " " + what + ": frame " + fr.dump() + ", expected " + frame_line(f, index));
    compare_locals(f, (*j)["locals"], t.role + " " + what + " " + f.describe(index), diffs);
  };
  const auto expect_print = [&](const ThreadTruth& t, const std::string& what, const std::string& name,
                                const Lookup& want) {
    auto j = json_of(t, what, "{\"name\"");
    if (!j) return;
    if ((*j)["name"] != name || (*j)["scope"] != want.scope || (*j)["repr"] != want.repr)
      diffs.push_back(t.role + " py-print " + name + ": expected scope " + want.scope + ", repr " + want.repr +
                      "; got " + j->dump());
    if (!(*j)["address"].is_number_unsigned() || (*j)["address"].get<uint64_t>() == 0 || !(*j)["type"].is_string())
      diffs.push_back(t.role + " py-print " + name + ": bad address or type in " + j->dump());
  };
  const auto expect_list = [&](const ThreadTruth& t, const std::string& what, const FrameTruth& f) {
    auto j = json_of(t, what, "{\"file\"");
    if (!j) return;
    if ((*j)["file"] != f.file || (*j)["line"] != f.line) {
      diffs.push_back(t.role + " " + what + ": " + j->dump().substr(0, 200) + ", expected " + f.file + ":" +
                      std::to_string(f.line));
      return;
    }
    const auto& src = file_lines(f.file);
    const int64_t first = std::max<int64_t>(1, f.line - 5);
    const int64_t last = std::min<int64_t>(f.line + 5, static_cast<int64_t>(src.size()));
    ojson want = ojson::array();
    for (int64_t n = first; n <= last; ++n)
      want.push_back({{"number", n}, {"text", src[static_cast<std::size_t>(n - 1)]}, {"current", n == f.line}});
    if ((*j)["lines"] != want)
      diffs.push_back(t.role + " " + what + ": lines\n    got:  " + (*j)["lines"].dump() +
                      "\n    want: " + want.dump());
  };

  for (const auto& t : threads_) {
    const auto& sel = segment(t, "select");
    const bool switched = std::any_of(sel.begin(), sel.end(), [&](const std::string& l) {
      return l.find("[Switching to thread ") != std::string::npos &&
             l.find(gdb_thread_label(t.thread_id, t.native_id)) != std::string::npos;
    });
    if (!switched) {
      diffs.push_back(t.role + ": gdb did not switch to thread " + hex(t.thread_id));
      continue;
    }
    expect_locals(t, "locals0", 0);
    expect_frame_line(t, "up", 1);
    expect_locals(t, "locals1", 1);
    expect_frame_line(t, "down", 0);
    const FrameTruth& f0 = t.frames[0];
    if (auto name = local_to_print(f0))
      expect_print(t, "print-local", *name, Lookup{"local", f0.locals_map().at(*name)});
    for (const auto& p : probes) {
      const auto& want = f0.lookups.at(p);
      if (!want) diffs.push_back(t.role + ": the workload finds no " + p + " in frame 0");
      else expect_print(t, "print-" + p, p, *want);
    }
    if (!segment(t, "print-nope").empty()) diffs.push_back(t.role + " py-print nope_not_defined printed to stdout");
    expect_list(t, "list0", f0);
    expect_frame_line(t, "top", t.frames.size() - 1);
    if (!segment(t, "top-again").empty()) diffs.push_back(t.role + " py-up at the oldest frame printed to stdout");
    expect_list(t, "list-top", t.frames.back());
  }

  // The errors, in order: one line each, two per thread.
  const auto errors = pyxray_lines(r);
  std::vector<std::string> want_errors;
  for (const auto& t : threads_) {
    want_errors.push_back("pyxray: no local, global or builtin named 'nope_not_defined' in frame #0 (" +
                          t.frames[0].function + ")");
    want_errors.push_back("pyxray: already at the oldest Python frame");
  }
  if (errors != want_errors) {
    std::string msg = "pyxray: lines\n    want:";
    for (const auto& e : want_errors) msg += "\n      " + e;
    msg += "\n    got:";
    for (const auto& e : errors) msg += "\n      " + e;
    diffs.push_back(msg);
  }
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences:\n"
                             << join_diffs(diffs) << "\n--- gdb ---\n"
                             << truncate_middle(r.out + "\n--- stderr ---\n" + r.err, 8000);
}

INSTANTIATE_TEST_SUITE_P(Variants, Frames, testing::ValuesIn(all_variants()), variant_name);

// gdb in an ASCII host charset (what LANG=C gives): an error that names a non-ASCII function is
// still one `pyxray:` line, not a Python exception. A front-end matter: one interpreter is enough.
TEST(FramesCharset, ErrorLineUnderAsciiCharset) {
  ASSERT_TRUE(fs::exists(gdb_plugin_path())) << "gdb plugin not found: " << gdb_plugin_path();
  std::unique_ptr<ScriptWorkload> w;
  std::vector<ThreadTruth> threads;
  try {
    w = ScriptWorkload::start(kDebianPython, {}, "frames.py");
    threads = parse_threads(w->truth());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const ThreadTruth* t = nullptr;
  for (const auto& th : threads)
    if (th.role == "unicode") t = &th;
  ASSERT_TRUE(t) << "no unicode thread";
  auto r = run_gdb(w->pid(),
                   {"python gdb.execute('thread %d' % [t.num for t in gdb.selected_inferior().threads() if " +
                        gdb_thread_is(t->thread_id, t->native_id) + "][0])",
                    "py-print nope_not_defined", "py-locals", "echo @@end\\n"},
                   w->dir(), 60s, {"set host-charset ASCII"});
  const auto problems = gdb_run_problems(r, /*require_success=*/false);
  EXPECT_TRUE(problems.empty()) << join_diffs(problems) << r.describe();
  const auto lines = pyxray_lines(r);
  ASSERT_EQ(lines.size(), 1u) << "expected one pyxray: line for the unknown name\n" << r.describe();
  EXPECT_EQ(lines[0].rfind("pyxray: no local, global or builtin named 'nope_not_defined' in frame #0 (", 0), 0u)
      << lines[0];
  EXPECT_NE(r.out.find("@@end"), std::string::npos) << r.describe();
  EXPECT_TRUE(w->alive());
}

}  // namespace
}  // namespace pyxray::it
