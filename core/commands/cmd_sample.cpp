// py-sample: a sampling profiler inside the debugger. The target runs for DURATION while its stacks
// are read from outside, then it is stopped again as before; the profile goes to a flame graph, a
// speedscope file, folded stacks, a pprof profile, cProfile stats, a per-line table, an HTML line
// heat view or a Firefox Profiler file (one or more files), and a short summary is printed (text, or
// JSON with --json).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/interrupt.hpp"
#include "base/json_text.hpp"
#include "base/limits.hpp"
#include "base/terminal_progress.hpp"
#include "commands/commands.hpp"
#include "commands/output_file.hpp"
#include "interp/python_process.hpp"
#include "report/source_lines.hpp"
#include "sample/flamegraph_svg.hpp"
#include "sample/gecko.hpp"
#include "sample/line_costs.hpp"
#include "sample/line_heat_html.hpp"
#include "sample/line_table.hpp"
#include "sample/pprof.hpp"
#include "sample/pstats.hpp"
#include "sample/sampler.hpp"
#include "sample/source_age.hpp"
#include "sample/speedscope.hpp"
#include "sample/stack_aggregate.hpp"

namespace pyxray {
namespace {

constexpr double kMaxRate = 10'000'000.0;
constexpr std::size_t kTopFunctions = 8;
constexpr std::size_t kTopLines = 5;

enum class Format { Svg, Speedscope, Folded, Pprof, Pstats, Lines, Html, Gecko };

// Every output format: its --format name, what the summary calls it, and the extension of a
// default file name.
struct FormatRow {
  Format format;
  const char* name;
  const char* what;
  const char* extension;
};
constexpr FormatRow kFormats[] = {
    {Format::Svg, "svg", "flame graph", ".svg"},
    {Format::Speedscope, "speedscope", "speedscope profile", ".json"},
    {Format::Folded, "folded", "folded stacks", ".folded"},
    {Format::Pprof, "pprof", "pprof profile", ".pb.gz"},
    {Format::Pstats, "pstats", "pstats profile", ".pstats"},
    {Format::Lines, "lines", "per-line table", ".lines"},
    {Format::Html, "html", "line heat view", ".html"},
    {Format::Gecko, "gecko", "Firefox Profiler profile", ".gecko.json"},
};

const FormatRow& row_of(Format f) {
  for (const auto& r : kFormats)
    if (r.format == f) return r;
  return kFormats[0];
}

// A file the profile goes to.
struct Output {
  std::string path;
  Format format;
};

// A number followed by one of `units` (each a suffix and its scale; "" for no suffix), scaled;
// nullopt when the text is not that.
std::optional<double> parse_scaled(const std::string& text,
                                   std::initializer_list<std::pair<std::string_view, double>> units) {
  std::size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (end == 0 || !std::isfinite(value)) return std::nullopt;
  const std::string_view unit = std::string_view(text).substr(end);
  for (const auto& [suffix, scale] : units)
    if (unit == suffix) return value * scale;
  return std::nullopt;
}

// "10s", "500ms", "2m", "1.5s", "10" (seconds).
Expected<double> parse_duration(const std::string& text) {
  auto seconds = parse_scaled(text, {{"", 1}, {"s", 1}, {"ms", 1e-3}, {"m", 60}, {"min", 60}, {"h", 3600}});
  if (!seconds || *seconds <= 0)
    return fail(fmt::format("py-sample: DURATION is a time such as 10s, 500ms or 2m, not '{}'", text));
  if (*seconds > static_cast<double>(limits().sample_seconds))
    return fail(fmt::format("py-sample: {} is longer than the sample-seconds limit ({} s): {}", text,
                            limits().sample_seconds, raise_hint("sample-seconds")));
  return *seconds;
}

// "100", "20000", "20k", "1.5k".
Expected<double> parse_rate(const std::string& text) {
  auto rate = parse_scaled(text, {{"", 1}, {"Hz", 1}, {"k", 1e3}, {"kHz", 1e3}});
  if (!rate || *rate < 0.1 || *rate > kMaxRate)
    return fail(
        fmt::format("py-sample: --rate wants samples per second from 0.1 to 10000000 (e.g. 100, 20k), not '{}'", text));
  return *rate;
}

Expected<Format> format_for(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto ends_with = [&](std::string_view tail) { return name.ends_with(tail) && name.size() > tail.size(); };
  if (ends_with(".svg")) return Format::Svg;
  if (ends_with(".gecko.json")) return Format::Gecko;  // before .json
  if (ends_with(".json")) return Format::Speedscope;
  if (ends_with(".folded") || ends_with(".txt")) return Format::Folded;
  if (ends_with(".pb.gz")) return Format::Pprof;
  if (ends_with(".pstats") || ends_with(".prof")) return Format::Pstats;
  if (ends_with(".lines")) return Format::Lines;
  if (ends_with(".html") || ends_with(".htm")) return Format::Html;
  return fail(
      fmt::format("py-sample: cannot tell the output format of '{}': name it .svg (flame graph), .json "
                  "(speedscope), .folded/.txt (folded stacks), .pb.gz (pprof), .pstats/.prof (pstats), .lines "
                  "(per-line table), .html (line heat view) or .gecko.json (Firefox Profiler), or give --format",
                  path));
}

Expected<Format> parse_format(const std::string& name) {
  for (const auto& r : kFormats)
    if (name == r.name) return r.format;
  if (name == "firefox") return Format::Gecko;
  return fail(fmt::format(
      "py-sample: --format is svg, speedscope, folded, pprof, pstats, lines, html or gecko (firefox), not '{}'", name));
}

// The files -o names (each in the format of its extension, or all in --format's), else the default
// pyxray-PID file.
Expected<std::vector<Output>> outputs_of(const ParsedArgs& args, int pid) {
  std::optional<Format> forced;
  if (auto v = args.value("--format")) {
    PYX_TRY(f, parse_format(*v));
    forced = f;
  }
  std::vector<Output> out;
  for (const auto& [flag, path] : args.values_given) {
    if (flag != "-o" && flag != "--output") continue;
    if (path.empty()) return fail("py-sample: -o wants a file name");
    if (forced) {
      out.push_back({path, *forced});
    } else {
      PYX_TRY(f, format_for(path));
      out.push_back({path, f});
    }
  }
  if (out.empty()) {
    Format f = forced.value_or(Format::Svg);
    out.push_back({fmt::format("pyxray-{}{}", pid, row_of(f).extension), f});
  }
  return out;
}

// The mean time one thread sample stands for: a round samples every thread once.
double mean_interval(const Sampler& sampler) {
  const SampleStats& s = sampler.stats();
  if (s.ticks && s.elapsed > 0) return s.elapsed / static_cast<double>(s.ticks);
  return 1.0 / sampler.options().rate;
}

std::string percent(uint64_t part, uint64_t whole) {
  return whole ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "-";
}

// What became of each output: nullopt written, else why not.
using WriteErrors = std::vector<std::optional<std::string>>;

bool has_format(const std::vector<Output>& outputs, Format f) {
  return std::any_of(outputs.begin(), outputs.end(), [f](const Output& o) { return o.format == f; });
}

// Each thread's recorded samples, most first, as (count, thread index); threads without any left out.
std::vector<std::pair<uint64_t, uint32_t>> thread_samples(const StackAggregate& agg) {
  std::vector<std::pair<uint64_t, uint32_t>> per_thread(agg.threads().size());
  for (uint32_t t = 0; t < per_thread.size(); ++t) per_thread[t].second = t;
  for (const auto& n : agg.nodes()) per_thread[n.thread].first += n.self;
  std::sort(per_thread.rbegin(), per_thread.rend());
  while (!per_thread.empty() && per_thread.back().first == 0) per_thread.pop_back();
  return per_thread;
}

// The functions the summary lists: the most costly by own or by total samples.
std::vector<const FunctionCost*> top_functions(const std::vector<FunctionCost>& costs, bool by_total) {
  std::vector<const FunctionCost*> rows;
  for (const auto& c : costs) rows.push_back(&c);
  std::stable_sort(rows.begin(), rows.end(), [by_total](const FunctionCost* a, const FunctionCost* b) {
    return by_total ? a->total > b->total : a->own > b->own;
  });
  if (rows.size() > kTopFunctions) rows.resize(kTopFunctions);
  return rows;
}

// What --mode names the samples kept.
const char* mode_name(const SampleOptions& o) {
  return o.threads == ThreadFilter::Gil ? "gil" : o.idle ? "wall" : "cpu";
}

// The lines the summary lists: the most own samples first.
std::vector<const LineCost*> top_lines(const LineCosts& costs) {
  std::vector<const LineCost*> rows;
  for (const auto& l : costs.lines) {
    if (l.own == 0 || rows.size() == kTopLines) break;
    rows.push_back(&l);
  }
  return rows;
}

// Why a Firefox Profiler file ends before sampling did.
std::string gecko_cut_note(const StackAggregate& agg) {
  const double kept = agg.round_times().empty() ? 0.0 : agg.round_times().back();
  return fmt::format(
      "more than {} changes of stack and sampling rounds: the Firefox Profiler profile holds the samples "
      "of the first {:.2f} s only ({})",
      limits().timeline_runs, kept, raise_hint("timeline-runs"));
}

std::string summary(const Sampler& sampler, const RunOutcome& outcome, const std::vector<Output>& outputs,
                    const WriteErrors& write_errors, const LineCosts& lines) {
  const SampleStats& s = sampler.stats();
  const SampleOptions& o = sampler.options();
  std::string out;
  double rate = s.elapsed > 0 ? static_cast<double>(s.ticks) / s.elapsed : 0;
  // A round samples every thread once: thread samples and rounds differ by the number of threads, and
  // the rate is of rounds (what --rate asks for).
  out += fmt::format(
      "py-sample: {} thread sample{} in {} round{} over {:.2f} s ({:.0f} Hz, {:.0f} Hz requested{}): "
      "{} recorded, {} errors ({}), {} idle{}\n",
      s.taken, s.taken == 1 ? "" : "s", s.ticks, s.ticks == 1 ? "" : "s", s.elapsed, rate, o.rate,
      o.blocking ? ", blocking" : "", s.recorded, s.errors, percent(s.errors, s.taken), s.idle,
      o.idle ? "" : " dropped");
  switch (outcome.end) {
    case RunEnd::WorkDone:
      if (s.target_gone) out += "pyxray: the target went away during sampling; kept the samples taken until then\n";
      break;
    case RunEnd::Interrupted:
      out +=
          fmt::format("pyxray: {} after {:.2f} s; kept the samples taken until then\n", interrupt_phrase(), s.elapsed);
      break;
    case RunEnd::Stopped:
      out += fmt::format("pyxray: the target stopped ({}) after {:.2f} s; kept the samples taken until then\n",
                         outcome.detail, s.elapsed);
      break;
    case RunEnd::Exited:
      out += fmt::format("pyxray: the target exited{} after {:.2f} s; kept the samples taken until then\n",
                         outcome.detail.empty() ? "" : " (" + outcome.detail + ")", s.elapsed);
      break;
  }
  if (s.empty) out += fmt::format("  {} samples of threads without a Python frame (not recorded)\n", s.empty);
  if (o.threads == ThreadFilter::Gil && s.no_holder)
    out += fmt::format("  {} rounds found no thread holding the GIL\n", s.no_holder);
  if (s.errors) {
    std::string kinds;
    for (std::size_t k = 1; k < s.error_kinds.size(); ++k) {
      if (!s.error_kinds[k]) continue;
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", s.error_kinds[k],
                           walk_error_name(static_cast<WalkError>(k)));
    }
    out += fmt::format("  errors (stacks that changed while being read, dropped): {}\n", kinds);
  }
  if (s.native_warning) out += fmt::format("pyxray: warning: {}\n", *s.native_warning);
  if (has_format(outputs, Format::Speedscope) && !sampler.aggregate().timeline_complete())
    out += fmt::format(
        "pyxray: note: more than {} changes of stack: the speedscope profile keeps each thread's "
        "samples grouped by stack, not in time order ({})\n",
        limits().timeline_runs, raise_hint("timeline-runs"));
  if (has_format(outputs, Format::Gecko) && !sampler.aggregate().timeline_complete())
    out += fmt::format("pyxray: note: {}\n", gecko_cut_note(sampler.aggregate()));
  if (s.note) out += fmt::format("pyxray: note: {}\n", *s.note);
  if (s.ticks)
    out += fmt::format("  cost: {:.2f} reads of the target ({:.1f} ranges) per round, {} code objects decoded\n",
                       static_cast<double>(s.syscalls) / static_cast<double>(s.ticks),
                       static_cast<double>(s.ranges) / static_cast<double>(s.ticks), s.codes);
  const auto& agg = sampler.aggregate();
  std::string threads;
  std::size_t shown = 0;
  for (const auto& [count, t] : thread_samples(agg)) {
    if (shown++ == 5) {
      threads += ", ...";
      break;
    }
    threads += fmt::format("{}{} {}", threads.empty() ? "" : ", ", thread_title(agg.threads()[t]), count);
  }
  if (!threads.empty()) out += fmt::format("  threads: {}\n", threads);
  // Nothing recorded because every sample was of an idle thread: an empty profile needs a reason.
  if (!s.recorded && s.idle && !o.idle)
    out += fmt::format(
        "pyxray: note: every thread was idle (blocked without the GIL) in all {} samples, which are "
        "dropped by default: --mode wall keeps them and shows where the threads wait\n",
        s.idle);
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (write_errors[i]) {
      out += fmt::format("pyxray: {}\n", *write_errors[i]);
    } else {
      out += fmt::format("wrote {} to {}\n", row_of(outputs[i].format).what, outputs[i].path);
    }
  }
  auto costs = function_costs(agg, sampler.frames());
  if (costs.empty()) return out;
  auto table = [&](const char* title, bool by_total) {
    out += fmt::format("{}\n  {:>6}  {:>6}  function\n", title, "own", "total");
    for (const FunctionCost* c : top_functions(costs, by_total))
      out += fmt::format("  {:>6}  {:>6}  {}{}\n", percent(c->own, s.recorded), percent(c->total, s.recorded),
                         c->function, c->file.empty() ? "" : fmt::format(" ({})", c->file));
  };
  table("top functions by own time:", false);
  table("top functions by total time:", true);
  if (auto rows = top_lines(lines); !rows.empty()) {
    out += fmt::format("top lines by own time:\n  {:>6}  {:>6}  line\n", "own", "total");
    for (const LineCost* l : rows)
      out += fmt::format("  {:>6}  {:>6}  {}:{} ({})\n", percent(l->own, s.recorded), percent(l->total, s.recorded),
                         l->file, l->line, l->function);
  }
  return out;
}

const char* end_name(const RunOutcome& outcome, const SampleStats& s) {
  switch (outcome.end) {
    case RunEnd::WorkDone: return s.target_gone ? "target_gone" : "done";
    case RunEnd::Interrupted: return "interrupted";
    case RunEnd::Stopped: return "stopped";
    case RunEnd::Exited: return "exited";
  }
  return "";
}

// The summary as one JSON object: the same facts as the text, as numbers.
std::string summary_json(const Sampler& sampler, const RunOutcome& outcome, const std::vector<Output>& outputs,
                         const WriteErrors& write_errors, const LineCosts& lines, int pid, const std::string& python) {
  using nlohmann::ordered_json;
  const SampleStats& s = sampler.stats();
  const SampleOptions& o = sampler.options();
  const auto& agg = sampler.aggregate();
  ordered_json j;
  j["pid"] = pid;
  j["python"] = python;
  j["mode"] = mode_name(o);
  j["samples"] = {{"taken", s.taken}, {"recorded", s.recorded}, {"errors", s.errors}, {"idle", s.idle},
                  {"empty", s.empty}, {"retried", s.retried},   {"idle_kept", o.idle}};
  ordered_json kinds = ordered_json::object();
  for (std::size_t k = 1; k < s.error_kinds.size(); ++k)
    if (s.error_kinds[k]) kinds[walk_error_name(static_cast<WalkError>(k))] = s.error_kinds[k];
  j["errors_by_kind"] = std::move(kinds);
  j["rounds"] = s.ticks;
  j["elapsed"] = s.elapsed;
  j["rate"] = s.elapsed > 0 ? static_cast<double>(s.ticks) / s.elapsed : 0.0;
  j["rate_requested"] = o.rate;
  j["interval"] = mean_interval(sampler);
  j["blocking"] = o.blocking;
  j["ended"] = end_name(outcome, s);
  if (!outcome.detail.empty()) j["ended_detail"] = outcome.detail;
  ordered_json files = ordered_json::array();
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    ordered_json f = {{"file", outputs[i].path}, {"format", row_of(outputs[i].format).name}};
    if (write_errors[i]) f["error"] = *write_errors[i];
    files.push_back(std::move(f));
  }
  j["outputs"] = std::move(files);
  ordered_json threads = ordered_json::array();
  for (const auto& [count, t] : thread_samples(agg)) {
    const SampledThread& th = agg.threads()[t];
    ordered_json jt = {{"thread_id", th.thread_id}, {"native_id", nullptr}, {"name", th.name}, {"samples", count}};
    if (th.native_id) jt["native_id"] = *th.native_id;
    threads.push_back(std::move(jt));
  }
  j["threads"] = std::move(threads);
  const auto costs = function_costs(agg, sampler.frames());
  for (bool by_total : {false, true}) {
    ordered_json rows = ordered_json::array();
    for (const FunctionCost* c : top_functions(costs, by_total))
      rows.push_back(
          {{"function", c->function}, {"file", c->file}, {"native", c->native}, {"own", c->own}, {"total", c->total}});
    j[by_total ? "top_total" : "top_own"] = std::move(rows);
  }
  ordered_json line_rows = ordered_json::array();
  for (const LineCost* l : top_lines(lines))
    line_rows.push_back(
        {{"file", l->file}, {"line", l->line}, {"function", l->function}, {"own", l->own}, {"total", l->total}});
  j["top_lines"] = std::move(line_rows);
  ordered_json notes = ordered_json::array(), warnings = ordered_json::array();
  if (s.note) notes.push_back(*s.note);
  if (has_format(outputs, Format::Speedscope) && !agg.timeline_complete())
    notes.push_back(
        fmt::format("more than {} changes of stack: the speedscope profile keeps each thread's samples "
                    "grouped by stack, not in time order ({})",
                    limits().timeline_runs, raise_hint("timeline-runs")));
  if (has_format(outputs, Format::Gecko) && !agg.timeline_complete()) notes.push_back(gecko_cut_note(agg));
  if (!s.recorded && s.idle && !o.idle)
    notes.push_back(
        "every thread was idle (blocked without the GIL) in every sample, which are dropped by default: "
        "--mode wall keeps them");
  if (s.native_warning) warnings.push_back(*s.native_warning);
  j["notes"] = std::move(notes);
  j["warnings"] = std::move(warnings);
  return json_line(j);
}

// The profile in one format.
Expected<std::string> render(Format format, const Sampler& sampler, const LineCosts& lines, int pid,
                             const std::string& python, int64_t start_nanos, SourceLines& sources,
                             const std::function<bool(const std::string&)>& changed) {
  const SampleStats& s = sampler.stats();
  const double rate = s.elapsed > 0 ? static_cast<double>(s.ticks) / s.elapsed : 0;
  switch (format) {
    case Format::Svg: {
      FlameGraphInfo info;
      info.title = fmt::format("py-sample of process {}", pid);
      info.subtitle = fmt::format("Python {}, {} samples in {:.2f} s at {:.0f} Hz{}", python, s.recorded, s.elapsed,
                                  rate, sampler.options().blocking ? " (blocking)" : "");
      return flamegraph_svg(sampler.aggregate(), sampler.frames(), info);
    }
    case Format::Speedscope:
      return speedscope_json(sampler.aggregate(), sampler.frames(), {fmt::format("py-sample of process {}", pid)});
    case Format::Folded: return folded_stacks(sampler.aggregate(), sampler.frames());
    case Format::Pprof: {
      PprofInfo info;
      info.interval_seconds = mean_interval(sampler);
      info.time_nanos = start_nanos;
      info.duration_nanos = static_cast<int64_t>(std::llround(s.elapsed * 1e9));
      info.comment = fmt::format("py-sample of process {}, Python {}", pid, python);
      info.binary = "python" + python;
      return pprof_file(sampler.aggregate(), sampler.frames(), info);
    }
    case Format::Pstats: return pstats_file(sampler.aggregate(), sampler.frames(), mean_interval(sampler));
    case Format::Lines:
    case Format::Html: {
      const LineViewInfo info{fmt::format("py-sample of process {}, Python {}", pid, python), s.elapsed,
                              mean_interval(sampler), mode_name(sampler.options()), changed};
      return format == Format::Lines ? line_table(lines, sources, info) : line_heat_html(lines, sources, info);
    }
    case Format::Gecko: {
      GeckoInfo info;
      info.pid = pid;
      info.python = python;
      info.process_name = fmt::format("python {} (pid {})", python, pid);
      info.start_ms = static_cast<double>(start_nanos) / 1e6;
      info.interval_ms = mean_interval(sampler) * 1e3;
      info.duration_ms = s.elapsed * 1e3;
      return gecko_json(sampler.aggregate(), sampler.frames(), info);
    }
  }
  return fail("py-sample: unknown output format");
}

Expected<std::string> run_sample(Session& session, const ParsedArgs& args) {
  if (args.positional.empty()) return fail("py-sample: missing DURATION (e.g. 'py-sample 10s'; see 'help py-sample')");
  SampleOptions options;
  PYX_TRY(duration, parse_duration(args.positional[0]));
  options.duration = duration;
  if (auto v = args.value("--rate")) {
    PYX_TRY(rate, parse_rate(*v));
    options.rate = rate;
  }
  if (auto v = args.value("--threads")) {
    if (*v == "all") options.threads = ThreadFilter::All;
    else if (*v == "gil") options.threads = ThreadFilter::Gil;
    else if (*v == "busy") options.threads = ThreadFilter::Busy;
    else return fail(fmt::format("py-sample: --threads is all, gil or busy, not '{}'", *v));
  }
  options.idle = args.has("--idle");
  // --mode names what is kept as CPython's profiling.sampling names it; --threads and --idle are the
  // older spellings of the same choices (wall = --idle, cpu = the default, gil = --threads gil).
  if (auto v = args.value("--mode")) {
    if (args.has("--threads") || args.has("--idle"))
      return fail("py-sample: --mode says which samples are kept, as --threads and --idle did: give one of them");
    if (*v == "wall") options.idle = true;
    else if (*v == "gil") options.threads = ThreadFilter::Gil;
    else if (*v != "cpu") return fail(fmt::format("py-sample: --mode is wall, cpu or gil, not '{}'", *v));
  }
  options.blocking = args.has("--blocking");
  options.native = args.has("--native");
  options.async_tasks = args.has("--async");
  if (options.async_tasks && options.native)
    return fail("py-sample: --async samples tasks' coroutine chains, --native whole native stacks: use one");
  if (options.idle && options.threads == ThreadFilter::Busy)
    return fail("py-sample: --idle keeps idle threads' samples, --threads busy leaves them out: use one");
  if (options.native && !options.blocking)
    return fail(
        "py-sample: --native needs --blocking (native stacks are unwound by the debugger, which needs the "
        "target stopped)");
  if (auto v = args.value("--max-frames")) {
    PYX_TRY(n, parse_count("--max-frames", *v, 1, 1'000'000));
    options.max_frames = static_cast<int>(n);
  }

  Target& target = session.target();
  if (!target.is_live_local() && (target.pid() > 0 || !target.threads().empty()))
    return fail("py-sample needs a live process (this target is a core file or not on this host)");
  PYX_TRY(outputs, outputs_of(args, target.pid()));
  PYX_TRY(proc, session.process());
  if (options.threads == ThreadFilter::Gil && !proc->traits().has_gil)
    return fail(
        fmt::format("py-sample: --mode gil: this free-threaded build of Python {} has no GIL (use "
                    "--mode cpu)",
                    proc->version().text()));
  std::vector<OutputFile> files;
  files.reserve(outputs.size());
  for (const Output& o : outputs) {
    PYX_TRY(file, OutputFile::open("py-sample", o.path));
    files.push_back(std::move(file));
  }

  TerminalProgress terminal;  // called from the sampling thread: it writes to the terminal directly
  if (terminal.enabled())
    options.progress = [&terminal, duration](double elapsed, uint64_t recorded) {
      terminal.show(
          fmt::format("py-sample: {:.1f} s of {:.1f} s, {} samples (Ctrl-C stops early)", elapsed, duration, recorded));
    };
  const int pid = target.pid();
  Sampler sampler(*proc, options);
  if (auto r = sampler.prepare(); !r) return Unexpected<Error>{r.error()};

  const int64_t start_nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  // The sampler may have had to switch to blocking sampling (see SampleStats::note).
  Expected<RunOutcome> outcome = sampler.options().blocking
                                     ? sampler.run_blocking(target)
                                     : target.run_while([&](const std::atomic<bool>& stop) { sampler.run(stop); });
  terminal.clear();
  if (!outcome) return fail("py-sample: " + outcome.error().message);
  bool alive = outcome->end != RunEnd::Exited;
  sampler.finish(alive);

  const std::string python = proc->version().text();
  // Per-line costs, once: the summary's top lines and the .lines/.html views read the same.
  const LineCosts lines = line_costs(sampler.aggregate(), sampler.frames());
  WriteErrors write_errors(outputs.size());
  // The line views' source, as the target sees its files (or as named here, once it has exited).
  SourceLines sources(&target, /*also_as_given=*/true);
  const auto changed = changed_since_start(target);
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    auto text = render(outputs[i].format, sampler, lines, pid, python, start_nanos, sources, changed);
    if (!text) {
      write_errors[i] = text.error().message;
      continue;
    }
    if (auto w = files[i].write(*text); !w) write_errors[i] = w.error().message;
  }
  if (args.has("--json")) return summary_json(sampler, *outcome, outputs, write_errors, lines, pid, python);
  return summary(sampler, *outcome, outputs, write_errors, lines);
}

}  // namespace

std::vector<CommandDef> sample_commands() {
  return {
      {{"py-sample", "Profile the target by sampling its Python stacks for a while",
        "Usage: py-sample DURATION [--rate HZ] [-o FILE]... [--format NAME] [--mode wall|cpu|gil]\n"
        "                 [--blocking] [--native] [--async] [--json]\n"
        "Let the target run for DURATION (10s, 500ms, 2m) while reading its Python stacks from outside at\n"
        "random (Poisson) times, HZ a second on average (default 100), then stop it again as before.\n"
        "Nothing is written to the target and, by default, it is never paused: samples that changed while\n"
        "being read are detected and dropped as errors. --blocking stops the target for every sample\n"
        "(exact stacks, much lower rates); --native adds native frames (with --blocking only).\n"
        "--mode, as CPython's profiling.sampling names it: cpu (the default) keeps the samples of threads\n"
        "on a CPU or holding the GIL, wall every thread's (waiting ones too), gil only the GIL holder's.\n"
        "(CPython's sampler defaults to wall.) --idle is --mode wall and --threads gil is --mode gil, as\n"
        "before; --threads busy also leaves idle samples out of the count taken.\n"
        "-o FILE: .svg interactive flame graph (default pyxray-PID.svg), .json speedscope profile,\n"
        ".folded or .txt folded stacks, .pb.gz pprof profile (go tool pprof, Pyroscope, Grafana), .pstats or\n"
        ".prof cProfile stats (pstats, snakeviz), .gecko.json Firefox Profiler file (profiler.firefox.com:\n"
        "one track per thread, the GIL as markers); -o again writes the same profile to more files.\n"
        ".lines: a per-line table (own and total samples per file:line with its source, then each hot\n"
        "function line by line, as line_profiler shows it); .html: one self-contained page showing the\n"
        "hottest files' source, each line's background by its share.\n"
        "--format NAME (svg, speedscope, folded, pprof, pstats, lines, html, gecko or firefox) overrides the\n"
        "extension. Ctrl-C ends early and keeps the samples so far. --json prints the summary as one JSON\n"
        "object.\n"
        "--async: a thread running an asyncio task is sampled as that task: its frames down to the task's\n"
        "coroutine, under a root frame \"task NAME\" (not the event loop's frames)."},
       {{"--rate", true, "mean samples per second (default 100)"},
        {"-o", true,
         "output file: .svg, .json (speedscope), .folded/.txt, .pb.gz (pprof), .pstats/.prof, .lines, .html, "
         ".gecko.json (Firefox Profiler); again for more"},
        {"--output", true, "same as -o"},
        {"--format", true,
         "svg, speedscope, folded, pprof, pstats, lines, html or gecko, whatever the file's extension"},
        {"--json", false, "print the summary as one JSON object"},
        {"--mode", true, "cpu (default), wall or gil: which threads' samples are kept"},
        {"--threads", true, "all (default), gil or busy (older than --mode)"},
        {"--idle", false, "keep samples of idle threads (--mode wall)"},
        {"--blocking", false, "stop the target for every sample"},
        {"--native", false, "with --blocking: add native frames"},
        {"--async", false, "attribute samples to asyncio tasks: each stack rooted at its task"},
        {"--max-frames", true, "stop each stack after N frames (default 10000)"}},
       1,
       run_sample},
  };
}

}  // namespace pyxray
