// The gdb adapter: the core's Target interface over gdb's Python API. Each method is a handful of
// gdb calls; results that cannot change while the process lives (types, symbols) are cached.
#include "gdb_target.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/interrupt.hpp"
#include "target/field_path.hpp"
#include "target/stop_worker.hpp"

namespace py = pybind11;

namespace pyxray::gdb {
namespace {

py::module_ gdb_module() { return py::module_::import("gdb"); }

// The direct data members of a gdb.Type, for field_path_offset.
std::vector<TypeMember<py::object>> members_of(const py::object& type) {
  std::vector<TypeMember<py::object>> out;
  for (const auto& f : type.attr("fields")()) {
    py::object field = py::reinterpret_borrow<py::object>(f);
    if (!py::hasattr(field, "bitpos")) continue;  // static members
    py::object name = field.attr("name");
    out.push_back({name.is_none() ? std::string() : name.cast<std::string>(), field.attr("bitpos").cast<int64_t>() / 8,
                   field.attr("type").attr("strip_typedefs")()});
  }
  return out;
}

}  // namespace

int GdbTarget::pid() const {
  try {
    return gdb_module().attr("selected_inferior")().attr("pid").cast<int>();
  } catch (const py::error_already_set&) {
    return 0;
  }
}

bool GdbTarget::is_live_local() const {
  try {
    py::object inf = gdb_module().attr("selected_inferior")();
    if (inf.attr("pid").cast<int>() <= 0) return false;
    py::object conn = inf.attr("connection");
    return !conn.is_none() && conn.attr("type").cast<std::string>() == "native";
  } catch (const py::error_already_set&) {
    return false;
  }
}

std::size_t GdbTarget::read_memory(uint64_t addr, std::span<std::byte> out) {
  try {
    py::object mv = gdb_module().attr("selected_inferior")().attr("read_memory")(addr, out.size());
    py::buffer_info info = py::buffer(mv).request();
    std::size_t n = std::min<std::size_t>(out.size(), static_cast<std::size_t>(info.size * info.itemsize));
    std::memcpy(out.data(), info.ptr, n);
    return n;
  } catch (const py::error_already_set& e) {
    // gdb's own SIGINT handler ran (gdb puts it back around some calls): the user's Ctrl-C.
    if (e.matches(PyExc_KeyboardInterrupt)) note_interrupt(SIGINT);
    return 0;
  }
}

std::optional<uint64_t> GdbTarget::symbol_address(std::string_view name) {
  std::string key(name);
  if (auto it = symbols_.find(key); it != symbols_.end()) return it->second;
  std::optional<uint64_t> addr;
  try {
    // Works for debug symbols and for ELF minimal symbols alike.
    py::object v = gdb_module().attr("parse_and_eval")("(unsigned long)&'" + key + "'");
    addr = v.attr("__int__")().cast<uint64_t>();
  } catch (const py::error_already_set&) {
  }
  symbols_[key] = addr;
  return addr;
}

std::optional<int64_t> GdbTarget::type_offset(std::string_view type, std::string_view field) {
  std::string key = std::string(type) + ":" + std::string(field);
  if (auto it = offsets_.find(key); it != offsets_.end()) return it->second;
  std::optional<int64_t> result;
  try {
    py::object t = gdb_module().attr("lookup_type")(std::string(type)).attr("strip_typedefs")();
    result = field.empty() ? std::optional<int64_t>(t.attr("sizeof").cast<int64_t>())
                           : field_path_offset(t, field, members_of);
  } catch (const py::error_already_set&) {
  }
  offsets_[key] = result;
  return result;
}

std::vector<NativeThread> GdbTarget::threads() {
  std::vector<NativeThread> out;
  try {
    for (const auto& th : gdb_module().attr("selected_inferior")().attr("threads")()) {
      py::object t = py::reinterpret_borrow<py::object>(th);
      NativeThread nt;
      py::tuple ptid = t.attr("ptid");
      nt.tid = ptid[1].cast<int64_t>();
      py::object name = t.attr("name");
      if (!name.is_none()) nt.name = name.cast<std::string>();
      try {
        py::bytes handle = t.attr("handle")();
        std::string h = handle;
        if (h.size() == 8) {
          uint64_t v = 0;
          std::memcpy(&v, h.data(), 8);
          nt.pthread_id = v;
        }
      } catch (const py::error_already_set&) {
      }
      out.push_back(std::move(nt));
    }
  } catch (const py::error_already_set&) {
  }
  return out;
}

std::optional<int64_t> GdbTarget::selected_thread() {
  try {
    py::object t = gdb_module().attr("selected_thread")();
    if (t.is_none()) return std::nullopt;
    py::tuple ptid = t.attr("ptid");
    return ptid[1].cast<int64_t>();
  } catch (const py::error_already_set&) {
    return std::nullopt;
  }
}

std::vector<LoadedObject> GdbTarget::loaded_objects() {
  std::vector<LoadedObject> out;
  try {
    for (const auto& o : gdb_module().attr("objfiles")()) {
      py::object obj = py::reinterpret_borrow<py::object>(o);
      if (!obj.attr("owner").is_none()) continue;  // separate debug info file
      py::object name = obj.attr("filename");
      if (name.is_none()) continue;
      LoadedObject lo{name.cast<std::string>(), std::nullopt, std::nullopt};
      if (py::hasattr(obj, "build_id")) {
        py::object id = obj.attr("build_id");
        if (!id.is_none()) lo.build_id = id.cast<std::string>();
      }
      out.push_back(std::move(lo));
    }
  } catch (const py::error_already_set&) {
  }
  return out;
}

namespace {

// The thread of the selected inferior whose kernel id is `tid`, or None.
py::object thread_by_tid(py::module_& gdb, int64_t tid) {
  for (const auto& th : gdb.attr("selected_inferior")().attr("threads")()) {
    py::object thread = py::reinterpret_borrow<py::object>(th);
    if (py::tuple(thread.attr("ptid"))[1].cast<int64_t>() == tid) return thread;
  }
  return py::none();
}

// The user's selected thread and frame, given back when the scope ends: a command that switches
// threads to read one must leave the debugger as the user left it.
class KeepSelection {
 public:
  explicit KeepSelection(py::module_& gdb) {
    try {
      thread_ = gdb.attr("selected_thread")();
      frame_ = gdb.attr("selected_frame")();
    } catch (const py::error_already_set&) {
    }
  }
  KeepSelection(const KeepSelection&) = delete;
  KeepSelection& operator=(const KeepSelection&) = delete;
  ~KeepSelection() {
    try {
      if (thread_ && !thread_.is_none()) thread_.attr("switch")();
      if (frame_ && !frame_.is_none()) frame_.attr("select")();
    } catch (const py::error_already_set&) {
    }
  }

 private:
  py::object thread_, frame_;
};

}  // namespace

std::optional<std::vector<NativeFrame>> GdbTarget::native_frames(int64_t tid, std::size_t max_frames) {
  py::module_ gdb = gdb_module();
  KeepSelection keep(gdb);
  std::optional<std::vector<NativeFrame>> out;
  try {
    if (py::object thread = thread_by_tid(gdb, tid); !thread.is_none()) {
      thread.attr("switch")();
      out.emplace();
      py::object frame = gdb.attr("newest_frame")();
      while (!frame.is_none() && out->size() < max_frames) {
        NativeFrame f;
        f.pc = frame.attr("pc")().cast<uint64_t>();
        py::object name = frame.attr("name")();
        if (!name.is_none()) f.function = name.cast<std::string>();
        py::object lib = gdb.attr("solib_name")(f.pc);
        if (!lib.is_none()) {
          f.library = lib.cast<std::string>();
        } else if (py::object prog = gdb.attr("current_progspace")(); !prog.is_none()) {
          py::object file = prog.attr("filename");
          if (!file.is_none()) f.library = file.cast<std::string>();
        }
        out->push_back(std::move(f));
        frame = frame.attr("older")();
      }
    }
  } catch (const py::error_already_set&) {
    // An unwinder error mid-stack still leaves the frames read so far.
  }
  return out;
}

namespace {

// A register of `frame` as its 64 bits: gdb gives orig_rax and the argument registers as signed
// longs.
uint64_t register_bits(const py::object& frame, const char* name) {
  py::object value = frame.attr("read_register")(name).attr("__int__")();
  return PyLong_AsUnsignedLongLongMask(value.ptr());
}

}  // namespace

std::optional<BlockedSyscall> GdbTarget::blocked_syscall(int64_t tid) {
#if defined(__x86_64__)
  // The registers the kernel saved when the thread entered the kernel: orig_rax holds the call's
  // number (-1 when it entered for an interrupt, not a system call), the arguments are in rdi, rsi,
  // rdx, r10, r8, r9. A core's NT_PRSTATUS has the same registers. (aarch64 would need the kernel's
  // orig_x0 and syscallno, which gdb does not show: x0 is already the call's result there.)
  static constexpr const char* kArgs[] = {"rdi", "rsi", "rdx", "r10", "r8", "r9"};
  py::module_ gdb = gdb_module();
  KeepSelection keep(gdb);
  std::optional<BlockedSyscall> out;
  try {
    py::object thread = thread_by_tid(gdb, tid);
    if (!thread.is_none() && !thread.attr("is_running")().cast<bool>()) {
      thread.attr("switch")();
      py::object frame = gdb.attr("newest_frame")();
      if (frame.attr("architecture")().attr("name")().cast<std::string>() == "i386:x86-64") {
        BlockedSyscall call;
        call.number = static_cast<int64_t>(register_bits(frame, "orig_rax"));
        for (std::size_t i = 0; i < call.args.size(); ++i) call.args[i] = register_bits(frame, kArgs[i]);
        if (call.number >= 0) out = call;
      }
    }
  } catch (const py::error_already_set&) {
  }
  return out;
#else
  return std::nullopt;
#endif
}

std::optional<std::string> GdbTarget::core_file() {
  // gdb 13's Python API does not name the core file; `info target` does:
  //   Local core dump file:
  //   	`/path/to/core', file type elf64-x86-64.
  try {
    const std::string text = gdb_module().attr("execute")("info target", false, true).cast<std::string>();
    const std::string heading = "Local core dump file:";
    auto at = text.find(heading);
    if (at == std::string::npos) return std::nullopt;
    auto open = text.find('`', at + heading.size());
    auto close = open == std::string::npos ? open : text.find("', file type", open);
    if (close == std::string::npos) return std::nullopt;
    return text.substr(open + 1, close - open - 1);
  } catch (const py::error_already_set&) {
    return std::nullopt;
  }
}

std::vector<MappedRange> GdbTarget::mapped_ranges() {
  // `info proc mappings` reads /proc for a live process and the core's file note for a core:
  //   Start Addr  End Addr  Size  Offset  [Perms]  objfile
  std::vector<MappedRange> out;
  try {
    std::istringstream text(gdb_module().attr("execute")("info proc mappings", false, true).cast<std::string>());
    std::string line;
    while (std::getline(text, line)) {
      std::istringstream words(line);
      std::string start, end, size, offset;
      if (!(words >> start >> end >> size >> offset) || start.rfind("0x", 0) != 0 || offset.rfind("0x", 0) != 0)
        continue;
      MappedRange r;
      try {
        r.start = std::stoull(start, nullptr, 16);
        r.end = std::stoull(end, nullptr, 16);
        r.offset = std::stoull(offset, nullptr, 16);
      } catch (const std::exception&) {
        continue;
      }
      std::string rest;
      std::getline(words, rest);
      rest.erase(0, rest.find_first_not_of(' '));
      // gdb 12+ shows the permissions of a live process's mappings before the file.
      if (rest.size() >= 4 && rest.find_first_not_of("rwxsp-") >= 4 && (rest.size() == 4 || rest[4] == ' ')) {
        rest.erase(0, 4);
        rest.erase(0, rest.find_first_not_of(' '));
      }
      r.path = rest;
      out.push_back(std::move(r));
    }
  } catch (const py::error_already_set&) {
  }
  return out;
}

std::vector<std::string> GdbTarget::mapped_files() {
  std::vector<std::string> out;
  for (auto& r : mapped_ranges()) {
    if (r.path.empty() || r.path.front() != '/') continue;
    if (out.empty() || out.back() != r.path) out.push_back(std::move(r.path));
  }
  return out;
}

std::vector<std::string> GdbTarget::missing_objects() {
  // gdb's Python API has no list of shared objects it failed to load; `info sharedlibrary` shows
  // them with "No" symbols read and no address range.
  std::vector<std::string> out;
  try {
    py::object text = gdb_module().attr("execute")("info sharedlibrary", false, true);
    std::string all = text.cast<std::string>();
    std::size_t pos = 0;
    while (pos < all.size()) {
      std::size_t end = all.find('\n', pos);
      if (end == std::string::npos) end = all.size();
      std::string line = all.substr(pos, end - pos);
      pos = end + 1;
      // A loaded entry starts with its address range ("0x..."); a missing one with spaces and "No".
      auto first = line.find_first_not_of(' ');
      if (first == std::string::npos || line.compare(first, 2, "No") != 0) continue;
      auto path = line.find('/', first);
      if (path != std::string::npos) out.push_back(line.substr(path));
    }
  } catch (const py::error_already_set&) {
  }
  return out;
}

// --- run_while: let the inferior run while the core samples it from a worker thread ---
//
// The main thread (which holds Python's GIL and is the only one allowed to talk to gdb) runs gdb's
// synchronous "continue"; a C++ worker thread runs `work`, which reads the target with
// process_vm_readv only. When `work` is done the worker stops the inferior with a SIGSTOP to the
// thread gdb resumed: gdb reports it as a signal stop ("handle SIGSTOP stop nopass", set for the
// duration of the call), stops every other thread as for any stop, and does not deliver the signal to
// the program, so "continue" returns with the inferior stopped as before. If instead the inferior
// stops by itself (Ctrl-C, a breakpoint, a signal) or exits, "continue" returns first and the worker
// is told to finish; it then sends nothing. The one race left -- the worker's SIGSTOP arriving just
// after the inferior stopped for another reason -- leaves that SIGSTOP pending in the kernel, where
// it would stop the program at the user's next "continue": we look for it in /proc and consume it.
namespace {

// What `info signals SIGSTOP` says, so that a user's own `handle SIGSTOP ...` is put back afterwards.
struct SignalHandling {
  bool stop = true, print = true, pass = false;
};

std::optional<SignalHandling> read_sigstop_handling(py::module_& gdb) {
  std::istringstream text(gdb.attr("execute")("info signals SIGSTOP", false, true).cast<std::string>());
  std::string line;
  while (std::getline(text, line)) {
    std::istringstream words(line);
    std::string name, stop, print, pass;
    if (!(words >> name >> stop >> print >> pass) || name != "SIGSTOP") continue;
    return SignalHandling{stop == "Yes", print == "Yes", pass == "Yes"};
  }
  return std::nullopt;
}

void set_sigstop_handling(py::module_& gdb, const SignalHandling& h) {
  // `print` first: "noprint" implies "nostop" and "stop" implies "print".
  std::string cmd = std::string("handle SIGSTOP ") + (h.print ? "print " : "noprint ") +
                    (h.stop ? "stop " : "nostop ") + (h.pass ? "pass" : "nopass");
  gdb.attr("execute")(cmd, false, true);
}

// While the inferior runs for us, gdb's announcements of its stops are noise: the stop is ours.
// "set suppress-cli-notifications on" silences the stop location, but not the "Program received
// signal SIGSTOP" line, which gdb writes to its standard output whatever gdb.execute captures; so the
// file descriptor itself points at /dev/null meanwhile (not in the TUI, which owns the terminal).
class QuietOutput {
 public:
  explicit QuietOutput(py::module_& gdb) : gdb_(gdb) {
    try {
      suppress_ = gdb_.attr("parameter")("suppress-cli-notifications").cast<bool>();
      gdb_.attr("execute")("set suppress-cli-notifications on", false, true);
      have_suppress_ = true;
    } catch (const py::error_already_set&) {
    }
    bool tui = false;
    try {  // "The TUI is not active." -- or an error when gdb has no TUI at all
      tui = gdb_.attr("execute")("info win", false, true).cast<std::string>().find("not active") == std::string::npos;
    } catch (const py::error_already_set&) {
    }
    if (tui) return;
    flush();
    int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    saved_stdout_ = null_fd >= 0 ? ::dup(STDOUT_FILENO) : -1;
    if (saved_stdout_ >= 0) ::dup2(null_fd, STDOUT_FILENO);
    if (null_fd >= 0) ::close(null_fd);
  }
  ~QuietOutput() {
    if (saved_stdout_ >= 0) {
      flush();  // what gdb wrote meanwhile goes to /dev/null, not to the terminal later
      ::dup2(saved_stdout_, STDOUT_FILENO);
      ::close(saved_stdout_);
    }
    try {
      if (have_suppress_)
        gdb_.attr("execute")(std::string("set suppress-cli-notifications ") + (suppress_ ? "on" : "off"), false, true);
    } catch (const py::error_already_set&) {
    }
  }
  QuietOutput(const QuietOutput&) = delete;
  QuietOutput& operator=(const QuietOutput&) = delete;

 private:
  void flush() {
    try {
      gdb_.attr("flush")();
    } catch (const py::error_already_set&) {
    }
    std::fflush(stdout);
  }
  py::module_& gdb_;
  bool suppress_ = false, have_suppress_ = false;
  int saved_stdout_ = -1;
};

// Ctrl-C. gdb 13 does not interrupt a "continue" run from a Python command (its SIGINT becomes a
// Python KeyboardInterrupt that nothing looks at while the inferior runs), so the core takes SIGINT
// and SIGTERM while a command runs (core/base/interrupt.hpp). gdb puts its own handler back while it runs
// a command for us (gdb.execute): a Ctrl-C then is a pending Python KeyboardInterrupt, which we take,
// clear and record as the core's interrupt.
bool take_python_interrupt() {
  if (PyErr_CheckSignals() == 0) return false;
  PyErr_Clear();
  note_interrupt(SIGINT);
  return true;
}

// What gdb's stop and exit events said while "continue" ran.
struct StopRecord {
  bool stopped = false, exited = false;
  std::string signal;       // "SIGSTOP", "SIGINT", ... for the first signal stop
  std::string last_signal;  // and the last one (after a drain)
  std::string breakpoints;  // "1, 3" for a breakpoint stop
  std::optional<long> exit_code;
};

}  // namespace

Expected<RunOutcome> GdbTarget::run_while(const std::function<void(const std::atomic<bool>& stop_requested)>& work) {
  py::module_ gdb = gdb_module();
  py::object inferior = gdb.attr("selected_inferior")();
  const int pid = inferior.attr("pid").cast<int>();
  if (pid <= 0 || !is_live_local()) return fail("the target is not a live process on this host");
  if (gdb.attr("parameter")("non-stop").cast<bool>())
    return fail("needs gdb's all-stop mode ('set non-stop off' before attaching)");
  py::object thread = gdb.attr("selected_thread")();
  if (thread.is_none()) return fail("no thread is selected");
  if (thread.attr("is_running")().cast<bool>()) return fail("the target is already running");
  // The thread "continue" resumes in any case (also under 'set scheduler-locking on'): where the stop
  // signal goes.
  const int64_t resumed_tid = py::tuple(thread.attr("ptid"))[1].cast<int64_t>();

  if (take_python_interrupt()) return RunOutcome{RunEnd::Interrupted, ""};

  auto saved = read_sigstop_handling(gdb);
  set_sigstop_handling(gdb, SignalHandling{});  // stop, print (into the captured text), nopass

  auto record = std::make_shared<StopRecord>();
  py::cpp_function on_stop([record](py::object event) {
    std::string signal;
    if (py::hasattr(event, "stop_signal")) signal = event.attr("stop_signal").cast<std::string>();
    record->last_signal = signal;
    if (record->stopped) return;  // a second stop: the drain below
    record->signal = signal;
    record->stopped = true;
    if (py::hasattr(event, "breakpoints")) {
      for (const auto& b : event.attr("breakpoints")) {
        if (!record->breakpoints.empty()) record->breakpoints += ", ";
        record->breakpoints += std::to_string(b.attr("number").cast<long>());
      }
    }
  });
  py::cpp_function on_exit([record](py::object event) {
    record->exited = true;
    if (py::hasattr(event, "exit_code")) record->exit_code = event.attr("exit_code").cast<long>();
  });
  py::object events = gdb.attr("events");
  events.attr("stop").attr("connect")(on_stop);
  events.attr("exited").attr("connect")(on_exit);

  std::optional<std::string> error;
  RunFacts facts;
  bool keyboard_interrupt = false;
  bool alive = false;
  bool stop_sent = false;
  {
    StopWorker worker(pid, resumed_tid, work);
    QuietOutput quiet(gdb);
    {
      InterruptForward interrupt(worker.stop_requested());
      try {
        gdb.attr("execute")("continue", false, true);  // returns once the inferior stopped or exited
      } catch (py::error_already_set& e) {
        if (e.matches(PyExc_KeyboardInterrupt)) {
          keyboard_interrupt = true;
          note_interrupt(SIGINT);
        } else {
          error = e.what();
        }
      }
      worker.finish();
      keyboard_interrupt |= interrupt_requested();
    }
    keyboard_interrupt |= take_python_interrupt();
    stop_sent = worker.stop_sent();

    alive = !record->exited && inferior.attr("is_valid")().cast<bool>() && inferior.attr("pid").cast<int>() == pid;
    facts.alive = alive;
    facts.stop_sent = stop_sent;
    facts.signal = record->signal;
    if (stop_left_pending(facts, pid, resumed_tid)) {
      try {
        gdb.attr("execute")("continue", false, true);
      } catch (py::error_already_set&) {
      }
    }
    // gdb remembers the signal a thread stopped with and delivers it at the next "continue" or
    // "detach" if the signal is one to pass -- and SIGSTOP is, by default. Ours must not reach the
    // program: forget it (the thread that reported it is the selected one now).
    if (alive && stop_sent && record->last_signal == "SIGSTOP") {
      try {
        gdb.attr("execute")("queue-signal 0", false, true);
      } catch (py::error_already_set&) {
      }
    }
  }

  events.attr("stop").attr("disconnect")(on_stop);
  events.attr("exited").attr("disconnect")(on_exit);
  try {
    if (saved) set_sigstop_handling(gdb, *saved);
    // A stop selects the thread that reported it; give the user back the thread they had selected.
    if (alive && thread.attr("is_valid")().cast<bool>()) thread.attr("switch")();
  } catch (py::error_already_set&) {
  }

  if (error && !record->stopped && !record->exited) return fail("could not resume the target: " + *error);
  facts.interrupted = keyboard_interrupt;
  facts.breakpoints = record->breakpoints;
  if (!alive) facts.exit_detail = record->exit_code ? "exit code " + std::to_string(*record->exit_code) : "";
  return run_outcome(facts);
}

}  // namespace pyxray::gdb
