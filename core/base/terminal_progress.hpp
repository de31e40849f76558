// Progress of a long command (a heap walk, a sampling run) on the user's terminal: one line on
// stderr, rewritten in place, and erased when the command ends. Shown only when stderr is a
// terminal, so scripts and logs never see it. Written to the file descriptor directly: the caller
// may be a worker thread that must not call into the debugger, and both gdb and LLDB share the
// terminal's stderr with their plugins.
#pragma once

#include <string_view>

namespace pyxray {

class TerminalProgress {
 public:
  TerminalProgress();
  ~TerminalProgress() { clear(); }
  TerminalProgress(const TerminalProgress&) = delete;
  TerminalProgress& operator=(const TerminalProgress&) = delete;

  bool enabled() const { return enabled_; }
  // Replaces the line with `text` (no newline).
  void show(std::string_view text);
  // Erases the line, if one is shown.
  void clear();

 private:
  bool enabled_ = false;
  bool shown_ = false;
};

}  // namespace pyxray
