#include "compare.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <regex>
#include <set>

namespace pyxray::it {

using nlohmann::json;

namespace {

// Per thread, at most this many frame mismatches are listed (an off-by-one in the 1200-deep
// recursion would otherwise print a thousand lines).
constexpr std::size_t kMaxFrameDiffsPerThread = 12;

std::string describe(const Frame& f, bool with_qualname) {
  std::string s = f.function;
  if (with_qualname) s += " [" + (f.qualname ? *f.qualname : std::string("null")) + "]";
  return s + " " + f.file + ":" + std::to_string(f.line);
}

std::string thread_label(const ThreadTruth& t) {
  std::string s = "thread '" + t.name + "' (thread_id " + std::to_string(t.thread_id);
  if (t.native_id) s += ", native_id " + std::to_string(*t.native_id);
  return s + ")";
}

// Compares frame lists; `expected` and `got` are already aligned (same starting frame index).
void compare_frames(const std::string& label, const std::vector<Frame>& expected, const std::vector<Frame>& got,
                    std::size_t first_index, bool check_qualname, std::vector<std::string>& diffs) {
  std::vector<std::string> mine;
  if (expected.size() != got.size())
    mine.push_back(label + ": expected " + std::to_string(expected.size() + first_index) + " frames, got " +
                   std::to_string(got.size() + first_index));
  std::size_t listed = 0, unlisted = 0;
  for (std::size_t i = 0; i < std::max(expected.size(), got.size()); ++i) {
    const Frame* e = i < expected.size() ? &expected[i] : nullptr;
    const Frame* g = i < got.size() ? &got[i] : nullptr;
    bool same = e && g && e->function == g->function && e->file == g->file && e->line == g->line &&
                (!check_qualname || e->qualname == g->qualname);
    if (same) continue;
    if (listed++ >= kMaxFrameDiffsPerThread) {
      ++unlisted;
      continue;
    }
    mine.push_back(label + " frame #" + std::to_string(i + first_index) + ": expected " +
                   (e ? describe(*e, check_qualname) : "(none)") + "\n      got      " +
                   (g ? describe(*g, check_qualname) : "(none)"));
  }
  if (unlisted) mine.push_back(label + ": ... and " + std::to_string(unlisted) + " more frame differences");
  diffs.insert(diffs.end(), mine.begin(), mine.end());
}

std::optional<uint64_t> as_u64(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

// One frame object of the plugin's JSON; problems are appended to `diffs`.
Frame parse_got_frame(const json& jf, const std::string& where, std::vector<std::string>& diffs) {
  Frame f;
  if (!jf.is_object()) {
    diffs.push_back(where + ": not an object: " + jf.dump());
    return f;
  }
  if (jf.contains("kind") && jf["kind"] != "python")
    diffs.push_back(where + ": kind is " + jf["kind"].dump() + ", expected \"python\"");
  const auto str = [&](const char* key) -> std::string {
    if (jf.contains(key) && jf[key].is_string()) return jf[key].get<std::string>();
    diffs.push_back(where + ": \"" + key + "\" missing or not a string: " + jf.dump());
    return "?";
  };
  f.function = str("function");
  f.file = str("file");
  if (jf.contains("line") && jf["line"].is_number_integer()) f.line = jf["line"].get<int64_t>();
  else diffs.push_back(where + ": \"line\" missing or not an integer: " + jf.dump());
  if (jf.contains("qualname") && jf["qualname"].is_string()) f.qualname = jf["qualname"].get<std::string>();
  return f;
}

// --- text output ---

struct TextFrame {
  std::string file, function;
  int64_t line = 0;
};

std::optional<TextFrame> parse_file_line(const std::string& line) {
  static const std::regex re(R"re(File "([^"]*)", line (-?\d+), in (\S+))re");
  std::smatch m;
  if (!std::regex_search(line, m, re)) return std::nullopt;
  return TextFrame{m[1], m[3], std::stoll(m[2])};
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// `token` occurs in `line` not glued to other word characters ("worker-1" is not in "worker-10",
// "5405" is not in "0x7f5405").
bool contains_token(const std::string& line, const std::string& token) {
  for (auto pos = line.find(token); pos != std::string::npos; pos = line.find(token, pos + 1)) {
    bool left = pos == 0 || !word_char(line[pos - 1]);
    bool right = pos + token.size() >= line.size() || !word_char(line[pos + token.size()]);
    if (left && right) return true;
  }
  return false;
}

bool is_header_of(const std::string& line, const ThreadTruth& t) {
  return !parse_file_line(line) && contains_token(line, t.name) &&
         (!t.native_id || contains_token(line, std::to_string(*t.native_id)));
}

std::vector<Frame> as_frames(const std::vector<TextFrame>& text) {
  std::vector<Frame> frames;
  for (const auto& t : text) frames.push_back(Frame{t.function, std::nullopt, t.file, t.line});
  return frames;
}

std::vector<TextFrame> file_lines(const std::vector<std::string>& lines, std::size_t begin, std::size_t end) {
  std::vector<TextFrame> frames;
  for (std::size_t i = begin; i < end; ++i)
    if (auto f = parse_file_line(lines[i])) frames.push_back(*f);
  return frames;
}

}  // namespace

std::vector<std::string> compare_bt_all_json(const GroundTruth& truth, const json& got,
                                             const std::vector<pid_t>& tasks) {
  std::vector<std::string> diffs;
  if (!got.is_object()) return {"output is not a JSON object"};
  if (!got.contains("pid") || got["pid"] != truth.pid)
    diffs.push_back("pid: expected " + std::to_string(truth.pid) + ", got " +
                    (got.contains("pid") ? got["pid"].dump() : "(missing)"));
  if (!got.contains("python") || got["python"] != truth.python)
    diffs.push_back("python: expected \"" + truth.python + "\", got " +
                    (got.contains("python") ? got["python"].dump() : "(missing)"));
  if (!got.contains("threads") || !got["threads"].is_array()) {
    diffs.push_back("\"threads\" missing or not an array");
    return diffs;
  }

  // Threads by thread_id; native ids across all threads.
  std::map<uint64_t, const json*> by_id;
  std::multiset<int64_t> native_ids;
  for (const auto& jt : got["threads"]) {
    auto id = jt.is_object() && jt.contains("thread_id") ? as_u64(jt["thread_id"]) : std::nullopt;
    if (!id) {
      diffs.push_back("thread without an integer thread_id: " + truncate_middle(jt.dump(), 300));
      continue;
    }
    if (!by_id.emplace(*id, &jt).second) diffs.push_back("thread_id " + std::to_string(*id) + " reported twice");
    if (jt.contains("native_id") && jt["native_id"].is_number_integer())
      native_ids.insert(jt["native_id"].get<int64_t>());
    else diffs.push_back("thread_id " + std::to_string(*id) + ": native_id missing or not an integer");
  }
  for (const auto& t : truth.threads)
    if (!by_id.count(t.thread_id)) diffs.push_back("missing " + thread_label(t));
  for (const auto& [id, jt] : by_id) {
    bool known = std::any_of(truth.threads.begin(), truth.threads.end(),
                             [&](const ThreadTruth& t) { return t.thread_id == id; });
    if (!known) diffs.push_back("unexpected thread: " + truncate_middle(jt->dump(), 300));
  }
  std::multiset<int64_t> expected_tids(tasks.begin(), tasks.end());
  if (native_ids != expected_tids) {
    std::string e, g;
    for (auto v : expected_tids) e += " " + std::to_string(v);
    for (auto v : native_ids) g += " " + std::to_string(v);
    diffs.push_back("native_ids are not the process's threads: /proc/PID/task has" + e + "; got" + g);
  }

  for (const auto& t : truth.threads) {
    auto it = by_id.find(t.thread_id);
    if (it == by_id.end()) continue;
    const json& jt = *it->second;
    const std::string label = thread_label(t);

    if (!jt.contains("name") || jt["name"] != t.name)
      diffs.push_back(label + ": name expected \"" + t.name + "\", got " +
                      (jt.contains("name") ? jt["name"].dump() : "(missing)"));
    if (t.native_id && (!jt.contains("native_id") || jt["native_id"] != *t.native_id))
      diffs.push_back(label + ": native_id expected " + std::to_string(*t.native_id) + ", got " +
                      (jt.contains("native_id") ? jt["native_id"].dump() : "(missing)"));
    if (!jt.contains("holds_gil") || !jt["holds_gil"].is_boolean())
      diffs.push_back(label + ": holds_gil missing or not a boolean");
    else if (jt["holds_gil"].get<bool>() != t.spinner)
      diffs.push_back(label + ": holds_gil expected " + (t.spinner ? "true" : "false") + " (only the spinner " +
                      "runs Python code), got " + jt["holds_gil"].dump());

    if (!jt.contains("frames") || !jt["frames"].is_array()) {
      diffs.push_back(label + ": \"frames\" missing or not an array");
      continue;
    }
    std::vector<Frame> frames;
    for (std::size_t i = 0; i < jt["frames"].size(); ++i)
      frames.push_back(parse_got_frame(jt["frames"][i], label + " frame #" + std::to_string(i), diffs));
    if (!truth.has_qualname()) {
      for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i].qualname)
          diffs.push_back(label + " frame #" + std::to_string(i) + ": qualname should be null before 3.11, got \"" +
                          *frames[i].qualname + "\"");
    }

    if (t.spinner) {
      // Its innermost line moves; the function and everything below it do not.
      if (frames.empty() || frames[0].function != "spin" || frames[0].file != t.frames[0].file) {
        diffs.push_back(label + ": innermost frame should be spin() in " + t.frames[0].file + ", got " +
                        (frames.empty() ? "no frames" : describe(frames[0], false)));
      } else {
        compare_frames(label, {t.frames.begin() + 1, t.frames.end()}, {frames.begin() + 1, frames.end()}, 1,
                       truth.has_qualname(), diffs);
      }
    } else {
      compare_frames(label, t.frames, frames, 0, truth.has_qualname(), diffs);
    }
  }
  return diffs;
}

std::vector<std::string> compare_bt_all_text(const GroundTruth& truth, const std::string& out) {
  std::vector<std::string> diffs;
  const auto lines = split_lines(out);
  // Header line index of each thread.
  std::vector<std::pair<std::size_t, const ThreadTruth*>> headers;
  for (const auto& t : truth.threads) {
    auto at = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) { return is_header_of(l, t); });
    if (at == lines.end())
      diffs.push_back(thread_label(t) + ": no header line with its name" +
                      (t.native_id ? " and native id " + std::to_string(*t.native_id) : std::string()));
    else headers.emplace_back(static_cast<std::size_t>(at - lines.begin()), &t);
  }
  std::sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t h = 0; h + 1 < headers.size(); ++h)
    if (headers[h].first == headers[h + 1].first)
      diffs.push_back("one line is the header of both " + thread_label(*headers[h].second) + " and " +
                      thread_label(*headers[h + 1].second) + ": " + lines[headers[h].first]);

  for (std::size_t h = 0; h < headers.size(); ++h) {
    const ThreadTruth& t = *headers[h].second;
    if (t.spinner) continue;
    const std::size_t end = h + 1 < headers.size() ? headers[h + 1].first : lines.size();
    const auto got = as_frames(file_lines(lines, headers[h].first + 1, end));
    compare_frames(thread_label(t) + " [text]", t.frames, got, 0, false, diffs);
  }
  return diffs;
}

std::vector<std::string> compare_bt_text_one(const GroundTruth& truth, const ThreadTruth& selected,
                                             const std::string& out) {
  std::vector<std::string> diffs;
  const auto lines = split_lines(out);
  for (const auto& t : truth.threads) {
    bool present = std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return is_header_of(l, t); });
    if (&t == &selected && !present)
      diffs.push_back(thread_label(t) + ": no header line with its name" +
                      (t.native_id ? " and native id " + std::to_string(*t.native_id) : std::string()));
    if (&t != &selected && present) diffs.push_back("printed a thread that is not selected: " + thread_label(t));
  }
  compare_frames(thread_label(selected) + " [py-bt]", selected.frames, as_frames(file_lines(lines, 0, lines.size())), 0,
                 false, diffs);
  return diffs;
}

std::vector<std::string> check_partial_bt_all_json(const GroundTruth& truth, const json& got) {
  std::vector<std::string> diffs;
  if (!got.is_object()) return {"output is not a JSON object"};
  if (!got.contains("pid") || got["pid"] != truth.pid)
    diffs.push_back("pid: expected " + std::to_string(truth.pid) + ", got " +
                    (got.contains("pid") ? got["pid"].dump() : "(missing)"));
  if (!got.contains("threads") || !got["threads"].is_array()) {
    diffs.push_back("\"threads\" missing or not an array");
    return diffs;
  }
  std::set<uint64_t> seen;
  for (const auto& jt : got["threads"]) {
    auto id = jt.is_object() && jt.contains("thread_id") ? as_u64(jt["thread_id"]) : std::nullopt;
    // A thread state that could not be read: no identity (null, or 0, which no live thread has),
    // no frames, and a warning saying why. Honest, so allowed.
    const bool unidentified = jt.is_object() && (!id || *id == 0) && jt.contains("warning") && jt.contains("frames") &&
                              jt["frames"].is_array() && jt["frames"].empty();
    if (unidentified) continue;
    if (!id) {
      diffs.push_back("thread without an integer thread_id: " + truncate_middle(jt.dump(), 300));
      continue;
    }
    if (!seen.insert(*id).second) diffs.push_back("thread_id " + std::to_string(*id) + " reported twice");
    auto t = std::find_if(truth.threads.begin(), truth.threads.end(),
                          [&](const ThreadTruth& x) { return x.thread_id == *id; });
    if (t == truth.threads.end()) {
      diffs.push_back("invented thread (no such thread_id in the process): " + truncate_middle(jt.dump(), 300));
      continue;
    }
    const std::string label = thread_label(*t);
    if (jt.contains("name") && !jt["name"].is_null() && jt["name"] != t->name)
      diffs.push_back(label + ": name expected \"" + t->name + "\", got " + jt["name"].dump());
    if (t->native_id && jt.contains("native_id") && !jt["native_id"].is_null() && jt["native_id"] != *t->native_id)
      diffs.push_back(label + ": native_id expected " + std::to_string(*t->native_id) + ", got " +
                      jt["native_id"].dump());
    if (!jt.contains("frames") || !jt["frames"].is_array()) {
      diffs.push_back(label + ": \"frames\" missing or not an array");
      continue;
    }
    std::size_t next = 0;  // first ground-truth frame not yet matched
    for (std::size_t i = 0; i < jt["frames"].size(); ++i) {
      const json& jf = jt["frames"][i];
      const std::string where = label + " frame #" + std::to_string(i);
      std::vector<std::string> shape;
      Frame g = parse_got_frame(jf, where, shape);
      const bool line_known = jf.is_object() && jf.contains("line") && jf["line"].is_number_integer();
      for (const auto& d : shape)
        if (line_known || d.find("\"line\"") == std::string::npos) diffs.push_back(d);
      const auto matches = [&](std::size_t k) {
        const Frame& e = t->frames[k];
        if (e.function != g.function || e.file != g.file) return false;
        // The spinner's innermost line moves.
        if (line_known && e.line != g.line && !(t->spinner && k == 0)) return false;
        return !truth.has_qualname() || !g.qualname || e.qualname == g.qualname;
      };
      std::size_t k = next;
      while (k < t->frames.size() && !matches(k)) ++k;
      if (k == t->frames.size()) {
        diffs.push_back(where + ": " + describe(g, truth.has_qualname()) +
                        " is not one of the thread's real frames after frame #" + std::to_string(next) +
                        " (invented, changed or out of order)");
        continue;
      }
      next = k + 1;
    }
    // A stack shown without a warning claims to be whole.
    if (!jt.contains("warning") && jt["frames"].size() != t->frames.size())
      diffs.push_back(label + ": " + std::to_string(jt["frames"].size()) + " of its " +
                      std::to_string(t->frames.size()) + " frames, and no \"warning\" saying the rest is missing");
  }
  return diffs;
}

std::string join_diffs(const std::vector<std::string>& diffs, std::size_t max_lines) {
  std::string s;
  for (std::size_t i = 0; i < diffs.size() && i < max_lines; ++i) s += "  " + diffs[i] + "\n";
  if (diffs.size() > max_lines) s += "  ... " + std::to_string(diffs.size() - max_lines) + " more\n";
  return s;
}

}  // namespace pyxray::it
