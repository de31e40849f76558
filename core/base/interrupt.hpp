// The user's Ctrl-C (SIGINT), and a request to terminate the debugger (SIGTERM), while a command runs.
//
// A debugger turns these signals into its own "quit" at a moment of its choosing: gdb only when the
// command returns to it (so a 20-second heap walk ran to its end and its answer was thrown away), or,
// for SIGTERM in the middle of a resume, into an internal error. While a command runs, pyxray takes
// both signals itself: long walks look at interrupt_requested() often and end with the part they
// have, marked as cut short; py-sample stops sampling and writes its samples. A SIGTERM is then given
// back to the debugger (raised again) once the command has finished and the target is as it was, so
// the debugger ends the way it would have, only later.
#pragma once

#include <atomic>
#include <string>

namespace pyxray {

// Installed around every command by Session::run. Nests: only the outermost scope installs and
// restores the signal handlers.
class CommandInterrupts {
 public:
  CommandInterrupts();
  ~CommandInterrupts();
  CommandInterrupts(const CommandInterrupts&) = delete;
  CommandInterrupts& operator=(const CommandInterrupts&) = delete;

 private:
  bool outermost_ = false;
};

// While alive, an interrupt also sets `stop` (set at once when the command was interrupted already):
// how a sampling run's worker thread learns of it. Installs CommandInterrupts if none is active.
class InterruptForward {
 public:
  explicit InterruptForward(std::atomic<bool>& stop);
  ~InterruptForward();
  InterruptForward(const InterruptForward&) = delete;
  InterruptForward& operator=(const InterruptForward&) = delete;

 private:
  CommandInterrupts scope_;
  std::atomic<bool>* previous_ = nullptr;
};

// Whether the running command was interrupted (SIGINT or SIGTERM since it began). Cheap: one atomic
// load, for walks to call every few thousand steps.
bool interrupt_requested();
// The signal that interrupted it (SIGTERM wins over SIGINT), or 0.
int interrupt_signal();
// Records an interrupt the debugger took itself (gdb's pending KeyboardInterrupt): the same as if
// pyxray's handler had seen `signal`.
void note_interrupt(int signal);
// "interrupted (Ctrl-C)" or "cut short by SIGTERM", for the line that marks a partial answer.
std::string interrupt_phrase();

}  // namespace pyxray
