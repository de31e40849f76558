// LLDBTarget::run_while: let the process run while the core samples it from a worker thread.
//
// The debugger's thread resumes the process with a synchronous SBProcess::Continue (the debugger is
// put in synchronous mode for the call, so Continue returns once the process stopped or exited and
// LLDB's event handler does not announce the stop); the worker (core/target/stop_worker.hpp) runs `work`
// and, when it is done first, stops the process with a SIGSTOP, which LLDB reports as a signal stop.
// SIGSTOP is set to stop, not to be passed and not to be announced for the call, so the program never
// receives it; the user's handling is put back afterwards, as is the selected thread and frame.
#include <csignal>
#include <string>

#include "lldb/API/SBDebugger.h"
#include "lldb/API/SBError.h"
#include "lldb/API/SBFrame.h"
#include "lldb/API/SBThread.h"
#include "lldb/API/SBUnixSignals.h"

#include "base/interrupt.hpp"
#include "lldb_target.hpp"
#include "target/stop_worker.hpp"

namespace pyxray::lldb_plugin {
namespace {

struct SignalHandling {
  bool Stop = true, Suppress = true, Notify = true;
};

SignalHandling readHandling(const lldb::SBUnixSignals &Signals, int32_t Signo) {
  return {Signals.GetShouldStop(Signo), Signals.GetShouldSuppress(Signo), Signals.GetShouldNotify(Signo)};
}

void setHandling(lldb::SBUnixSignals &Signals, int32_t Signo, const SignalHandling &H) {
  Signals.SetShouldStop(Signo, H.Stop);
  Signals.SetShouldSuppress(Signo, H.Suppress);
  Signals.SetShouldNotify(Signo, H.Notify);
}

// Why the process stopped: the first thread with a stop reason that says so.
struct StopCause {
  int Signal = 0;          // a signal stop's number, 0 otherwise
  std::string Breakpoints; // "1, 3" for a breakpoint stop
};

StopCause stopCause(lldb::SBProcess &P) {
  StopCause Cause;
  const uint32_t N = P.GetNumThreads();
  for (uint32_t I = 0; I < N; ++I) {
    lldb::SBThread T = P.GetThreadAtIndex(I);
    switch (T.GetStopReason()) {
    case lldb::eStopReasonSignal:
      if (!Cause.Signal) Cause.Signal = static_cast<int>(T.GetStopReasonDataAtIndex(0));
      break;
    case lldb::eStopReasonBreakpoint:
      // Pairs of (breakpoint id, location id).
      for (uint32_t D = 0; D + 1 < T.GetStopReasonDataCount(); D += 2) {
        if (!Cause.Breakpoints.empty()) Cause.Breakpoints += ", ";
        Cause.Breakpoints += std::to_string(T.GetStopReasonDataAtIndex(D));
      }
      break;
    default: break;
    }
  }
  return Cause;
}

// Continue synchronously: returns once the process stopped or exited.
lldb::SBError continueAndWait(lldb::SBProcess &P) { return P.Continue(); }

} // namespace

Expected<RunOutcome> LLDBTarget::run_while(const std::function<void(const std::atomic<bool> &)> &work) {
  if (!is_live_local()) return fail("the target is not a live process on this host");
  if (TheProcess.GetState() != lldb::eStateStopped) return fail("the target is not stopped");
  const int Pid = pid();
  lldb::SBThread Selected = TheProcess.GetSelectedThread();
  if (!Selected.IsValid()) return fail("no thread is selected");
  // The worker signals the selected thread: LLDB resumes every thread on Continue.
  const lldb::tid_t SelectedTid = Selected.GetThreadID();
  const uint32_t SelectedFrame = Selected.GetSelectedFrame().IsValid() ? Selected.GetSelectedFrame().GetFrameID() : 0;

  lldb::SBDebugger Debugger = TheTarget.GetDebugger();
  const bool WasAsync = Debugger.GetAsync();
  lldb::SBUnixSignals Signals = TheProcess.GetUnixSignals();
  const int32_t Sigstop = Signals.IsValid() ? Signals.GetSignalNumberFromName("SIGSTOP") : SIGSTOP;
  const SignalHandling Saved = readHandling(Signals, Sigstop);
  setHandling(Signals, Sigstop, SignalHandling{true, true, false});
  Debugger.SetAsync(false);

  lldb::SBError Error;
  bool Interrupted = false, StopSent = false;
  {
    StopWorker Worker(Pid, static_cast<int64_t>(SelectedTid), work);
    InterruptForward Interrupt(Worker.stop_requested());
    Error = continueAndWait(TheProcess);
    Worker.finish();
    Interrupted = interrupt_requested();
    StopSent = Worker.stop_sent();
  }

  lldb::StateType State = TheProcess.GetState();
  StopCause Cause = State == lldb::eStateStopped ? stopCause(TheProcess) : StopCause{};
  const char *SignalName = Cause.Signal && Signals.IsValid() ? Signals.GetSignalAsCString(Cause.Signal) : nullptr;
  RunFacts Facts;
  Facts.alive = State == lldb::eStateStopped || State == lldb::eStateCrashed;
  Facts.stop_sent = StopSent;
  Facts.signal = Cause.Signal == Sigstop ? "SIGSTOP" : SignalName ? SignalName : "";
  Facts.interrupted = Interrupted;
  Facts.breakpoints = Cause.Breakpoints;
  if (State == lldb::eStateStopped && stop_left_pending(Facts, Pid, static_cast<int64_t>(SelectedTid))) {
    continueAndWait(TheProcess);
    State = TheProcess.GetState();
  }

  Debugger.SetAsync(WasAsync);
  if (Signals.IsValid()) setHandling(Signals, Sigstop, Saved);
  if (State == lldb::eStateStopped && TheProcess.SetSelectedThreadByID(SelectedTid)) {
    lldb::SBThread T = TheProcess.GetSelectedThread();
    if (T.IsValid()) T.SetSelectedFrame(SelectedFrame);
  }

  if (State == lldb::eStateExited || State == lldb::eStateDetached || !TheProcess.IsValid()) {
    Facts.alive = false;
    if (State == lldb::eStateExited) Facts.exit_detail = "exit code " + std::to_string(TheProcess.GetExitStatus());
    return run_outcome(Facts);
  }
  if (State != lldb::eStateStopped && State != lldb::eStateCrashed) {
    if (Error.Fail())
      return fail(std::string("could not resume the target: ") + (Error.GetCString() ? Error.GetCString() : "?"));
    return fail("the target did not stop (state " + std::to_string(static_cast<int>(State)) + ")");
  }
  return run_outcome(Facts);
}

} // namespace pyxray::lldb_plugin
