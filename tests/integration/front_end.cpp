#include "front_end.hpp"

#include "lldb_harness.hpp"
#include "workload.hpp"

namespace pyxray::it {

const char* front_end_name(FrontEnd front) { return front == FrontEnd::Gdb ? "gdb" : "lldb"; }

std::filesystem::path front_end_plugin(FrontEnd front) {
  return front == FrontEnd::Gdb ? gdb_plugin_path() : lldb_plugin_path();
}

FrontEndRun run_front_end(FrontEnd front, pid_t pid, const std::vector<std::string>& commands,
                          const std::filesystem::path& work_dir) {
  FrontEndRun run;
  if (front == FrontEnd::Gdb) {
    run.raw = run_gdb(pid, marked_script(commands), work_dir, std::chrono::seconds(60));
    if (run.raw.timed_out) run.problems.push_back("gdb was killed after its timeout");
    if (run.raw.exit_code != 0) run.problems.push_back("gdb exited with status " + std::to_string(run.raw.exit_code));
    for (const char* bad : {"Traceback", "Python Exception"})
      if (run.raw.out.find(bad) != std::string::npos || run.raw.err.find(bad) != std::string::npos)
        run.problems.push_back(std::string("\"") + bad + "\" in gdb's output");
  } else {
    // LLDB has no echo command: Python's print makes the same markers.
    std::vector<std::string> script;
    for (const auto& line : marked_script(commands)) {
      if (line.rfind("echo ", 0) != 0) {
        script.push_back(line);
        continue;
      }
      std::string text = line.substr(5);
      text.resize(text.size() - 2);  // the "\n"
      script.push_back("script print('" + text + "', flush=True)");
    }
    run.raw = run_lldb_attached(pid, script, work_dir);
    run.problems = lldb_run_problems(run.raw, /*require_success=*/true);
  }
  run.outputs = marked_outputs(run.raw.out, commands.size());
  if (front == FrontEnd::Lldb) {
    for (auto& out : run.outputs) {  // LLDB echoes every command as "(lldb) COMMAND"
      std::string kept;
      for (const auto& line : split_lines(out))
        if (line.rfind("(lldb) ", 0) != 0) kept += line + "\n";
      out = kept;
    }
  }
  return run;
}

ThreadSelect select_thread(FrontEnd front, uint64_t pthread_id, int64_t tid) {
  if (front == FrontEnd::Gdb)
    return {{"python [t.switch() for t in gdb.selected_inferior().threads() if " + gdb_thread_is(pthread_id, tid) + "]",
             "thread"},
            gdb_thread_label(pthread_id, tid)};
  // LLDB 16's `thread select` takes only its own index: select by kernel id through the script bridge.
  return {{"script lldb.process.SetSelectedThreadByID(" + std::to_string(tid) + ")", "thread info"},
          "tid = " + std::to_string(tid)};
}

}  // namespace pyxray::it
