// py-sample: a sampling profiler inside the debugger. The target runs for DURATION while its stacks
// are read from outside, then it is stopped again as before; the profile goes to a flame graph, a
// speedscope file or folded stacks, and a short summary is printed.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/interrupt.hpp"
#include "base/limits.hpp"
#include "base/terminal_progress.hpp"
#include "commands/commands.hpp"
#include "commands/output_file.hpp"
#include "interp/python_process.hpp"
#include "sample/flamegraph_svg.hpp"
#include "sample/sampler.hpp"
#include "sample/speedscope.hpp"
#include "sample/stack_aggregate.hpp"

namespace pyxray {
namespace {

constexpr double kMaxRate = 10'000'000.0;
constexpr std::size_t kTopFunctions = 8;

enum class Format { Svg, Speedscope, Folded };

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
  auto ext = std::filesystem::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".svg") return Format::Svg;
  if (ext == ".json") return Format::Speedscope;
  if (ext == ".folded" || ext == ".txt") return Format::Folded;
  return fail(
      fmt::format("py-sample: cannot tell the output format of '{}': name it .svg (flame graph), .json "
                  "(speedscope) or .folded/.txt (folded stacks)",
                  path));
}

const char* format_name(Format f) {
  switch (f) {
    case Format::Svg: return "flame graph";
    case Format::Speedscope: return "speedscope profile";
    case Format::Folded: return "folded stacks";
  }
  return "";
}

std::string percent(uint64_t part, uint64_t whole) {
  return whole ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "-";
}

std::string summary(const Sampler& sampler, const RunOutcome& outcome, const std::string& path, Format format,
                    const std::optional<std::string>& write_error) {
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
  if (format == Format::Speedscope && !sampler.aggregate().timeline_complete())
    out += fmt::format(
        "pyxray: note: more than {} changes of stack: the speedscope profile keeps each thread's "
        "samples grouped by stack, not in time order ({})\n",
        limits().timeline_runs, raise_hint("timeline-runs"));
  if (s.note) out += fmt::format("pyxray: note: {}\n", *s.note);
  if (s.ticks)
    out += fmt::format("  cost: {:.2f} reads of the target ({:.1f} ranges) per round, {} code objects decoded\n",
                       static_cast<double>(s.syscalls) / static_cast<double>(s.ticks),
                       static_cast<double>(s.ranges) / static_cast<double>(s.ticks), s.codes);
  const auto& agg = sampler.aggregate();
  std::vector<std::pair<uint64_t, uint32_t>> per_thread(agg.threads().size());
  for (uint32_t t = 0; t < per_thread.size(); ++t) per_thread[t].second = t;
  for (const auto& n : agg.nodes()) per_thread[n.thread].first += n.self;
  std::sort(per_thread.rbegin(), per_thread.rend());
  std::string threads;
  std::size_t shown = 0;
  for (const auto& [count, t] : per_thread) {
    if (!count) continue;
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
        "dropped by default: --idle keeps them and shows where the threads wait\n",
        s.idle);
  if (write_error) {
    out += fmt::format("pyxray: {}\n", *write_error);
  } else {
    out += fmt::format("wrote {} to {}\n", format_name(format), path);
  }
  auto costs = function_costs(agg, sampler.frames());
  if (costs.empty()) return out;
  auto table = [&](const char* title, auto less) {
    std::vector<const FunctionCost*> rows;
    for (const auto& c : costs) rows.push_back(&c);
    std::stable_sort(rows.begin(), rows.end(), less);
    out += fmt::format("{}\n  {:>6}  {:>6}  function\n", title, "own", "total");
    for (std::size_t i = 0; i < rows.size() && i < kTopFunctions; ++i) {
      const FunctionCost& c = *rows[i];
      out += fmt::format("  {:>6}  {:>6}  {}{}\n", percent(c.own, s.recorded), percent(c.total, s.recorded), c.function,
                         c.file.empty() ? "" : fmt::format(" ({})", c.file));
    }
  };
  table("top functions by own time:", [](const FunctionCost* a, const FunctionCost* b) { return a->own > b->own; });
  table("top functions by total time:",
        [](const FunctionCost* a, const FunctionCost* b) { return a->total > b->total; });
  return out;
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
  PYX_TRY(proc, session.process());
  if (options.threads == ThreadFilter::Gil && !proc->traits().has_gil)
    return fail(
        fmt::format("py-sample: --threads gil: this free-threaded build of Python {} has no GIL (use "
                    "--threads busy)",
                    proc->version().text()));
  std::string path = args.value("-o").value_or(args.value("--output").value_or(""));
  if (path.empty()) path = fmt::format("pyxray-{}.svg", target.pid());
  PYX_TRY(format, format_for(path));
  PYX_TRY(output, OutputFile::open("py-sample", path));

  TerminalProgress terminal;  // called from the sampling thread: it writes to the terminal directly
  if (terminal.enabled())
    options.progress = [&terminal, duration](double elapsed, uint64_t recorded) {
      terminal.show(
          fmt::format("py-sample: {:.1f} s of {:.1f} s, {} samples (Ctrl-C stops early)", elapsed, duration, recorded));
    };
  const int pid = target.pid();
  Sampler sampler(*proc, options);
  if (auto r = sampler.prepare(); !r) return Unexpected<Error>{r.error()};

  // The sampler may have had to switch to blocking sampling (see SampleStats::note).
  Expected<RunOutcome> outcome = sampler.options().blocking
                                     ? sampler.run_blocking(target)
                                     : target.run_while([&](const std::atomic<bool>& stop) { sampler.run(stop); });
  terminal.clear();
  if (!outcome) return fail("py-sample: " + outcome.error().message);
  bool alive = outcome->end != RunEnd::Exited;
  sampler.finish(alive);

  std::string text;
  switch (format) {
    case Format::Svg: {
      FlameGraphInfo info;
      info.title = fmt::format("py-sample of process {}", pid);
      info.subtitle = fmt::format(
          "Python {}, {} samples in {:.2f} s at {:.0f} Hz{}", proc->version().text(), sampler.stats().recorded,
          sampler.stats().elapsed,
          sampler.stats().elapsed > 0 ? static_cast<double>(sampler.stats().ticks) / sampler.stats().elapsed : 0,
          sampler.options().blocking ? " (blocking)" : "");
      text = flamegraph_svg(sampler.aggregate(), sampler.frames(), info);
      break;
    }
    case Format::Speedscope:
      text = speedscope_json(sampler.aggregate(), sampler.frames(), {fmt::format("py-sample of process {}", pid)});
      break;
    case Format::Folded: text = folded_stacks(sampler.aggregate(), sampler.frames()); break;
  }
  std::optional<std::string> write_error;
  if (auto w = output.write(text); !w) write_error = w.error().message;
  return summary(sampler, *outcome, path, format, write_error);
}

}  // namespace

std::vector<CommandDef> sample_commands() {
  return {
      {{"py-sample", "Profile the target by sampling its Python stacks for a while",
        "Usage: py-sample DURATION [--rate HZ] [-o FILE] [--threads all|gil|busy] [--idle] [--blocking] [--native]\n"
        "                 [--async]\n"
        "Let the target run for DURATION (10s, 500ms, 2m) while reading its Python stacks from outside at\n"
        "random (Poisson) times, HZ a second on average (default 100), then stop it again as before.\n"
        "Nothing is written to the target and, by default, it is never paused: samples that changed while\n"
        "being read are detected and dropped as errors. --blocking stops the target for every sample\n"
        "(exact stacks, much lower rates); --native adds native frames (with --blocking only).\n"
        "--threads: every Python thread (all, the default), only the GIL holder (gil), or only threads\n"
        "holding the GIL or on a CPU (busy). Samples of idle threads are dropped unless --idle is given.\n"
        "-o FILE: .svg interactive flame graph (default pyxray-PID.svg), .json speedscope profile,\n"
        ".folded or .txt folded stacks. Ctrl-C ends early and keeps the samples so far.\n"
        "--async: a thread running an asyncio task is sampled as that task: its frames down to the task's\n"
        "coroutine, under a root frame \"task NAME\" (not the event loop's frames)."},
       {{"--rate", true, "mean samples per second (default 100)"},
        {"-o", true, "output file: .svg, .json (speedscope), .folded/.txt"},
        {"--output", true, "same as -o"},
        {"--threads", true, "all (default), gil or busy"},
        {"--idle", false, "keep samples of idle threads"},
        {"--blocking", false, "stop the target for every sample"},
        {"--native", false, "with --blocking: add native frames"},
        {"--async", false, "attribute samples to asyncio tasks: each stack rooted at its task"},
        {"--max-frames", true, "stop each stack after N frames (default 10000)"}},
       1,
       run_sample},
  };
}

}  // namespace pyxray
