// py-tasks: the stacks that are not threads: every asyncio task (its coroutine chain, its loop's
// thread, who awaits it) and every greenlet.
#include "base/json_text.hpp"
#include "commands/commands.hpp"
#include "interp/code.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "report/render_tasks.hpp"
#include "report/source_lines.hpp"
#include "report/thread_report.hpp"

namespace pyxray {
namespace {

Expected<std::string> run_tasks(Session& session, const ParsedArgs& args) {
  PYX_TRY(proc, session.process());
  Objects objects(*proc);
  CodeCache codes(*proc, objects);
  ReportOptions options;
  options.tasks = true;
  options.include_done_tasks = args.has("--all");
  PYX_TRY(report, collect_report(*proc, objects, codes, options));
  const TasksReport& tasks = *report.tasks;
  if (args.has("--json")) return json_line(tasks_json(tasks));
  if (args.has("--tree")) return tasks_tree(tasks);
  SourceLines sources(&proc->target());
  return tasks_text(tasks, sources);
}

}  // namespace

std::vector<CommandDef> task_commands() {
  return {
      {{"py-tasks", "Show every asyncio task and greenlet: its stack, its thread, who awaits it",
        "Usage: py-tasks [--json] [--tree] [--all]\n"
        "List every pending asyncio task of every event loop: its name, state, the thread whose loop\n"
        "runs it (and whether it is running now), its coroutine stack innermost first (following each\n"
        "await through coroutines, async generators and futures), the tasks it awaits and the tasks\n"
        "awaiting it (directly, or through gather, TaskGroup, shield, wait_for); then every greenlet\n"
        "with its saved stack. Tasks awaiting each other in a cycle are reported first as a deadlock."},
       {{"--json", false, "print one JSON object instead of text"},
        {"--tree", false, "print the await tree (each task under the task awaiting it), like asyncio pstree"},
        {"--all", false, "also list tasks that are done or cancelled but still alive"}},
       0,
       run_tasks},
  };
}

}  // namespace pyxray
