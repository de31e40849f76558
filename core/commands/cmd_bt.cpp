// py-bt-all and py-bt: every thread's (or the selected thread's) Python stack.
#include <fmt/format.h>

#include "base/json_text.hpp"
#include "commands/commands.hpp"
#include "interp/code.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "report/render_stacks.hpp"
#include "report/source_lines.hpp"
#include "report/thread_report.hpp"
#include "target/core_notes.hpp"

namespace pyxray {
namespace {

std::vector<FlagSpec> bt_flags(bool all_threads) {
  std::vector<FlagSpec> flags = {
      {"--json", false, "print one JSON object instead of text"},
      {"--max-frames", true, "stop each stack after N frames (as --max frames=N)"},
      {"--native", false, "interleave native frames with the Python frames"},
      {"--max-native-frames", true,
       "with --native, unwind at most N native frames per thread (as --max native-frames=N)"},
      {"--locals", false, "show each Python frame's local variables"},
  };
  if (all_threads)
    flags.push_back(
        {"--async", false, "name each thread's running asyncio task (and greenlet) and mark its coroutine frames"});
  return flags;
}

Expected<std::string> run_bt(Session& session, const ParsedArgs& args, bool all_threads) {
  ReportOptions options;
  if (auto v = args.value("--max-frames")) {
    PYX_TRY(n, parse_count("--max-frames", *v, 1, 10'000'000));
    options.max_frames = static_cast<int>(n);
  }
  options.native = args.has("--native");
  if (auto v = args.value("--max-native-frames")) {
    PYX_TRY(n, parse_count("--max-native-frames", *v, 1, 10'000'000));
    options.max_native_frames = static_cast<std::size_t>(n);
  }
  options.locals = args.has("--locals");
  options.syscalls = args.has("--json");
  options.entered = args.has("--json");
  options.locks = all_threads;  // which lock each blocked thread waits for, named in its status
  options.tasks = all_threads && args.has("--async");
  if (!all_threads) {
    auto tid = session.target().selected_thread();
    if (!tid) return fail("no thread is selected");
    options.only_native_id = *tid;
  }
  PYX_TRY(proc, session.process());
  Objects objects(*proc);
  CodeCache codes(*proc, objects);
  PYX_TRY(report, collect_report(*proc, objects, codes, options));
  if (!all_threads && report.threads.empty())
    return fail(fmt::format("thread {} has no Python thread state", *options.only_native_id));
  // A running interpreter has at least its main thread's state: an empty list, with nothing said
  // about why, must not look like an answer.
  if (all_threads && report.threads.empty() && report.warnings.empty())
    report.warnings.push_back(
        "no Python thread state in any interpreter (an interpreter shutting down, or a "
        "layout that does not fit this build: see py-layout)");
  // A core file: what ended the process leads, and the thread it hit comes first.
  if (all_threads) {
    if (auto path = session.target().core_file()) {
      if (auto notes = read_core_notes(*path); notes && notes->pid == report.pid)
        report.core = CoreOrigin{*path, std::move(*notes)};
    }
  }
  if (args.has("--json")) return json_line(stacks_json(report));
  SourceLines sources(&proc->target());
  return stacks_text(report, sources);
}

}  // namespace

std::vector<CommandDef> bt_commands() {
  return {
      {{"py-bt-all", "Print the Python stack of every thread",
        "Usage: py-bt-all [--json] [--native] [--locals] [--async] [--max-frames N] [--max-native-frames N]\n"
        "Print every thread's Python stack, innermost frame first, with the thread's kernel id, its\n"
        "threading name and what it is doing (running with the GIL, collecting garbage, waiting for\n"
        "the GIL, or idle in a blocking call). --native interleaves the native frames (each evaluation\n"
        "loop frame replaced by the Python frames it runs); --locals adds each frame's variables;\n"
        "--async names the asyncio task each thread's event loop is running and where its frames end."},
       bt_flags(true),
       0,
       [](Session& s, const ParsedArgs& a) { return run_bt(s, a, true); }},
      {{"py-bt", "Print the Python stack of the selected thread",
        "Usage: py-bt [--json] [--native] [--locals] [--max-frames N] [--max-native-frames N]\n"
        "Print the Python stack of the thread selected in the debugger, innermost frame first."},
       bt_flags(false),
       0,
       [](Session& s, const ParsedArgs& a) { return run_bt(s, a, false); }},
  };
}

}  // namespace pyxray
