// Everything py-bt-all shows about one thread: ids, names, GIL, and its Python stack.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "expected.hpp"
#include "frames.hpp"
#include "threads.hpp"

namespace pyxray {

class PythonProcess;
class CodeCache;
class Objects;

struct ThreadReport {
  ThreadState state;
  std::optional<int64_t> native_id;  // from the thread state (3.8+) or matched through the debugger
  std::string name;                  // threading name, else the OS name, else ""
  PyStack stack;
};

struct ProcessReport {
  int pid = 0;
  std::string python;  // version text
  std::vector<ThreadReport> threads;
  std::vector<std::string> warnings;
};

struct ReportOptions {
  int max_frames = kDefaultMaxFrames;
  std::optional<int64_t> only_native_id;  // py-bt: just the selected thread
};

Expected<ProcessReport> collect_report(PythonProcess& proc, Objects& objects, CodeCache& codes,
                                       const ReportOptions& options);

}  // namespace pyxray
