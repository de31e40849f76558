// py-locks: every lock some thread holds or waits for, the threads waiting for a notification or for
// another thread, and the deadlocks among them.
#include <fmt/format.h>

#include "base/json_text.hpp"
#include "commands/commands.hpp"
#include "commands/output_file.hpp"
#include "interp/code.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "report/render_locks.hpp"
#include "report/thread_report.hpp"

namespace pyxray {
namespace {

Expected<std::string> run_locks(Session& session, const ParsedArgs& args) {
  std::optional<OutputFile> dot;
  if (auto path = args.value("--dot")) {
    PYX_TRY(file, OutputFile::open("py-locks", *path));
    dot.emplace(std::move(file));
  }
  PYX_TRY(proc, session.process());
  Objects objects(*proc);
  CodeCache codes(*proc, objects);
  ReportOptions options;
  options.locks = true;
  options.all_locks = true;
  PYX_TRY(report, collect_report(*proc, objects, codes, options));
  const LockReport& locks = *report.locks;
  std::string out = args.has("--json") ? json_line(locks_json(report, locks)) : locks_text(report, locks);
  if (dot) {
    if (auto written = dot->write(locks_dot(report, locks)); !written)
      return fail("py-locks: " + written.error().message);
    if (!args.has("--json")) out += fmt::format("The graph is in {} (Graphviz: dot -Tsvg).\n", *args.value("--dot"));
  }
  return out;
}

}  // namespace

std::vector<CommandDef> lock_commands() {
  return {
      {{"py-locks", "Show which thread holds each lock and which threads wait for it",
        "Usage: py-locks [--json] [--dot FILE]\n"
        "List every lock some thread holds or waits for (threading.Lock and RLock, import locks), with\n"
        "the frame holding it and the threads waiting; the threads waiting on a Condition, Event,\n"
        "Semaphore, Barrier or Queue, or joining another thread; and, first, every deadlock: a cycle of\n"
        "threads each waiting for what the next one holds. A plain Lock records no owner: its holder is\n"
        "the frame inside a `with` block of it, and is reported unknown when it was taken with acquire()."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--dot", true, "also write the wait-for graph to FILE for Graphviz (the deadlocks in red)"}},
       0,
       run_locks},
  };
}

}  // namespace pyxray
