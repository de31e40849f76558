#include "sample/gecko.hpp"

#include <sys/utsname.h>

#include <initializer_list>
#include <iterator>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json_text.hpp"

namespace pyxray {
namespace {

constexpr int kPreprocessedVersion = 57;
constexpr int kGeckoVersion = 32;  // meta.version: the raw format's version of that time, as CPython writes

// meta.categories, by index. The profiler wants a grey one (its default) and at least one
// subcategory in each (the first is a category's default).
constexpr int kOther = 0, kPython = 1, kNative = 2, kGil = 3;
constexpr const char* kGilMarker = "HasGIL";  // the marker's name and its data's type (its schema)
constexpr int kIntervalPhase = 1;             // markers.phase: a start and an end time

// shared.stringArray: every string of the file once, referred to by index.
class Strings {
 public:
  uint32_t operator()(const std::string& s) {
    auto [it, added] = index_.try_emplace(s, static_cast<uint32_t>(list_.size()));
    if (added) list_.push_back(s);
    return it->second;
  }
  std::string json() const { return json_text(nlohmann::json(list_)); }

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::string> list_;
};

// One column of a table, kept as JSON text: a thread's samples may be millions, too many for a
// JSON tree.
class Column {
 public:
  void value(std::string_view json) {
    separate();
    text_ += json;
  }
  void number(int64_t v) {
    separate();
    fmt::format_to(std::back_inserter(text_), "{}", v);
  }
  void ms(double v) {
    separate();
    fmt::format_to(std::back_inserter(text_), "{:.3f}", v);
  }
  void index_or_null(uint32_t v) {
    if (v == StackAggregate::kNone) value("null");
    else number(v);
  }
  const std::string& text() const { return text_; }

 private:
  void separate() {
    if (n_++) text_ += ',';
  }
  std::string text_;
  std::size_t n_ = 0;
};

// The same value `n` times: the columns the format has and pyxray has nothing for.
Column repeated(std::string_view json, std::size_t n) {
  Column c;
  for (std::size_t i = 0; i < n; ++i) c.value(json);
  return c;
}

// {"column":[...],...,"length":n}, every column `length` values long.
std::string table(std::initializer_list<std::pair<const char*, const Column*>> columns, std::size_t length) {
  std::string out = "{";
  for (const auto& [name, column] : columns) out += fmt::format("\"{}\":[{}],", name, column->text());
  out += fmt::format("\"length\":{}}}", length);
  return out;
}

// One thread's stack, frame, func and resource tables (per thread in version 57). Stacks are the
// thread's nodes of the stack tree in creation order, so a stack's prefix (its parent) always comes
// before it, as the profiler requires; frames, functions and files get a row when first used.
class ThreadTables {
 public:
  ThreadTables(const FrameTable& frames, Strings& strings) : frames_(frames), strings_(strings) {}

  // The stack row of a node whose parent's row is `prefix` (kNone under the thread's root).
  uint32_t add_stack(uint32_t frame_id, uint32_t prefix) {
    const uint32_t frame = frame_row(frame_id);
    stack_frame_.number(frame);
    stack_prefix_.index_or_null(prefix);
    stack_category_.number(frame_category_[frame]);
    stack_subcategory_.number(0);
    return static_cast<uint32_t>(stacks_++);
  }

  std::string json() const {
    const std::size_t nf = frame_category_.size(), nu = funcs_.size(), nr = resources_.size();
    Column frame_category, address = repeated("-1", nf), inline_depth = repeated("0", nf), zero = repeated("0", nf),
                           nulls = repeated("null", nf);
    for (int c : frame_category_) frame_category.number(c);
    Column no_column = repeated("null", nu), lib = repeated("null", nr), host = repeated("null", nr),
           library = repeated("1", nr);
    return fmt::format(R"("stackTable":{},"frameTable":{},"funcTable":{},"resourceTable":{},)"
                       R"("nativeSymbols":{{"libIndex":[],"address":[],"name":[],"functionSize":[],"length":0}})",
                       table({{"frame", &stack_frame_},
                              {"prefix", &stack_prefix_},
                              {"category", &stack_category_},
                              {"subcategory", &stack_subcategory_}},
                             stacks_),
                       table({{"address", &address},
                              {"inlineDepth", &inline_depth},
                              {"category", &frame_category},
                              {"subcategory", &zero},
                              {"func", &frame_func_},
                              {"nativeSymbol", &nulls},
                              {"innerWindowID", &nulls},
                              {"implementation", &nulls},
                              {"line", &frame_line_},
                              {"column", &nulls},
                              {"optimizations", &nulls}},
                             nf),
                       table({{"name", &func_name_},
                              {"isJS", &func_is_python_},
                              {"relevantForJS", &func_is_python_},
                              {"resource", &func_resource_},
                              {"fileName", &func_file_},
                              {"lineNumber", &func_line_},
                              {"columnNumber", &no_column}},
                             nu),
                       table({{"lib", &lib}, {"name", &resource_name_}, {"host", &host}, {"type", &library}}, nr));
  }

 private:
  uint32_t frame_row(uint32_t id) {
    auto [it, added] = frame_rows_.try_emplace(id, static_cast<uint32_t>(frame_category_.size()));
    if (!added) return it->second;
    const FrameInfo& f = frames_.at(id);
    frame_category_.push_back(f.native ? kNative : kPython);
    frame_func_.number(func_row(f));
    frame_line_.index_or_null(f.line >= 0 ? static_cast<uint32_t>(f.line) : StackAggregate::kNone);
    return it->second;
  }

  // A function is its name, file and first line (a frame is one line of it). Python functions are
  // "JS" to the profiler, so that its JavaScript-only filter shows the Python frames.
  uint32_t func_row(const FrameInfo& f) {
    std::string key = fmt::format("{}\n{}\n{}\n{}", f.native ? 'n' : 'p', f.function, f.file, f.first_line);
    auto [it, added] = funcs_.try_emplace(std::move(key), static_cast<uint32_t>(funcs_.size()));
    if (!added) return it->second;
    func_name_.number(strings_(f.function));
    func_is_python_.value(f.native ? "false" : "true");
    func_resource_.number(f.file.empty() ? -1 : static_cast<int64_t>(resource_row(f.file)));
    func_file_.index_or_null(f.file.empty() ? StackAggregate::kNone : strings_(f.file));
    func_line_.index_or_null(f.first_line >= 0 ? static_cast<uint32_t>(f.first_line) : StackAggregate::kNone);
    return it->second;
  }

  // A file (or a native frame's library), named by its last component as the profiler's call tree
  // shows a resource beside each function; the function's fileName keeps the whole path.
  uint32_t resource_row(const std::string& file) {
    auto [it, added] = resources_.try_emplace(file, static_cast<uint32_t>(resources_.size()));
    if (added) {
      auto slash = file.rfind('/');
      resource_name_.number(strings_(slash == std::string::npos ? file : file.substr(slash + 1)));
    }
    return it->second;
  }

  const FrameTable& frames_;
  Strings& strings_;
  std::size_t stacks_ = 0;
  Column stack_frame_, stack_prefix_, stack_category_, stack_subcategory_;
  std::unordered_map<uint32_t, uint32_t> frame_rows_;  // frame id -> row
  std::vector<int> frame_category_;
  Column frame_func_, frame_line_;
  std::unordered_map<std::string, uint32_t> funcs_;
  Column func_name_, func_is_python_, func_resource_, func_file_, func_line_;
  std::unordered_map<std::string, uint32_t> resources_;
  Column resource_name_;
};

// Per thread, the time intervals (ms) in which it held the GIL: consecutive rounds with it as the
// holder, from the first such round's time to the time of the round that found another holder or
// none. An interval still open at the last round ends there.
std::vector<std::vector<std::pair<double, double>>> gil_intervals(const StackAggregate& agg) {
  std::vector<std::vector<std::pair<double, double>>> out(agg.threads().size());
  const auto& times = agg.round_times();
  const auto& holders = agg.gil_holders();
  uint32_t held_by = StackAggregate::kNone;
  double since = 0;
  for (std::size_t r = 0; r < holders.size() && r < times.size(); ++r) {
    if (holders[r] == held_by) continue;
    if (held_by != StackAggregate::kNone) out[held_by].emplace_back(since, times[r] * 1e3);
    held_by = holders[r];
    since = times[r] * 1e3;
  }
  if (held_by != StackAggregate::kNone) out[held_by].emplace_back(since, times.back() * 1e3);
  return out;
}

std::string machine() {
  utsname u{};
  return uname(&u) == 0 ? u.machine : "";
}

nlohmann::json meta(const GeckoInfo& info) {
  using nlohmann::json;
  const json subcategories = json::array({"Other"});
  json m;
  m["version"] = kGeckoVersion;
  m["preprocessedProfileVersion"] = kPreprocessedVersion;
  m["interval"] = info.interval_ms;
  m["startTime"] = info.start_ms;
  m["profilingStartTime"] = 0;
  m["profilingEndTime"] = info.duration_ms;
  m["processType"] = 0;
  m["product"] = "pyxray py-sample";
  m["importedFrom"] = "pyxray py-sample";
  m["misc"] = "Python " + info.python;
  m["platform"] = "Linux";
  m["oscpu"] = machine();
  m["stackwalk"] = 0;
  m["symbolicated"] = true;
  m["logicalCPUs"] = std::thread::hardware_concurrency();
  m["categories"] = json::array({
      {{"name", "Other"}, {"color", "grey"}, {"subcategories", subcategories}},
      {{"name", "Python"}, {"color", "yellow"}, {"subcategories", subcategories}},
      {{"name", "Native"}, {"color", "blue"}, {"subcategories", subcategories}},
      {{"name", "GIL"}, {"color", "green"}, {"subcategories", subcategories}},
  });
  m["markerSchema"] = json::array({{
      {"name", kGilMarker},
      {"display", json::array({"marker-chart", "marker-table", "timeline-overview"})},
      {"chartLabel", "GIL"},
      {"tooltipLabel", "holds the GIL"},
      {"tableLabel", "holds the GIL"},
      {"description", "The thread held the GIL in every sampling round of this interval."},
      {"fields", json::array()},
  }});
  m["extensions"] = {{"id", json::array()}, {"name", json::array()}, {"baseURL", json::array()}, {"length", 0}};
  return m;
}

}  // namespace

std::string gecko_json(const StackAggregate& agg, const FrameTable& frames, const GeckoInfo& info) {
  const auto& nodes = agg.nodes();
  const auto& times = agg.round_times();
  Strings strings;
  strings("(root)");  // as CPython's: string 0
  const uint32_t gil_name = strings(kGilMarker);
  const auto gil = gil_intervals(agg);

  // Each thread's nodes (the root left out) in creation order: parents first.
  std::vector<std::vector<uint32_t>> thread_nodes(agg.threads().size());
  for (uint32_t n = 0; n < nodes.size(); ++n)
    if (nodes[n].parent != StackAggregate::kNone) thread_nodes[nodes[n].thread].push_back(n);
  std::vector<uint32_t> stack_row(nodes.size(), StackAggregate::kNone);  // node -> its thread's row

  std::string threads;
  for (uint32_t t = 0; t < agg.threads().size(); ++t) {
    const SampledThread& th = agg.threads()[t];
    ThreadTables tables(frames, strings);
    for (uint32_t n : thread_nodes[t]) stack_row[n] = tables.add_stack(nodes[n].frame, stack_row[nodes[n].parent]);

    // Samples in time order, each at its round's time.
    Column stack, time;
    std::size_t samples = 0;
    for (const auto& run : agg.timeline(t)) {
      for (uint32_t k = 0; k < run.count; ++k, ++samples) {
        stack.number(stack_row[run.leaf]);
        const uint64_t round = uint64_t{run.first_round} + k;
        // Without rounds (an aggregate not made by the sampler), evenly spaced.
        time.ms(run.first_round != StackAggregate::kNone && round < times.size()
                    ? times[round] * 1e3
                    : static_cast<double>(samples) * info.interval_ms);
      }
    }
    if (samples == 0) {  // the profiler expects a sample in every thread: one without a stack
      stack.value("null");
      time.ms(0);
      samples = 1;
    }

    Column marker_data, marker_name, marker_start, marker_end, marker_phase, marker_category;
    for (const auto& [from, to] : gil[t]) {
      marker_data.value(fmt::format(R"({{"type":"{}"}})", kGilMarker));
      marker_name.number(gil_name);
      marker_start.ms(from);
      marker_end.ms(to);
      marker_phase.number(kIntervalPhase);
      marker_category.number(kGil);
    }

    const std::string name = th.name.empty() ? thread_title(th) : th.name;
    // The process's main thread has the process's id as its kernel id.
    const bool main = th.native_id ? *th.native_id == info.pid : th.name == "MainThread";
    const std::string tid = th.native_id ? std::to_string(*th.native_id) : std::to_string(th.thread_id);
    if (!threads.empty()) threads += ',';
    threads +=
        fmt::format(R"({{"name":{},"isMainThread":{},"processType":"default","processName":{},"pid":"{}","tid":{},)"
                    R"("processStartupTime":0,"processShutdownTime":null,"registerTime":0,"unregisterTime":null,)"
                    R"("pausedRanges":[],"showMarkersInTimeline":true,)"
                    R"("samples":{{"stack":[{}],"time":[{}],"weight":null,"weightType":"samples","length":{}}},)"
                    R"("markers":{},{}}})",
                    json_text(name), main ? "true" : "false", json_text(info.process_name), info.pid, tid, stack.text(),
                    time.text(), samples,
                    table({{"data", &marker_data},
                           {"name", &marker_name},
                           {"startTime", &marker_start},
                           {"endTime", &marker_end},
                           {"phase", &marker_phase},
                           {"category", &marker_category}},
                          gil[t].size()),
                    tables.json());
  }
  return fmt::format(R"({{"meta":{},"libs":[],"pages":[],"threads":[{}],"shared":{{"stringArray":{}}}}})",
                     json_text(meta(info)), threads, strings.json()) +
         "\n";
}

}  // namespace pyxray
