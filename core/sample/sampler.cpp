#include "sample/sampler.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "interp/code.hpp"
#include "interp/frames.hpp"
#include "interp/native_merge.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "report/thread_report.hpp"
#include "sample/sample_codes.hpp"
#include "target/tick_reader.hpp"
#include "tasks/asyncio_tasks.hpp"

namespace pyxray {
namespace {

constexpr double kProgressInterval = 0.25;  // seconds
constexpr double kSpinBelow = 30e-6;        // closer than this to a sample time, spin instead of sleeping
constexpr double kMaxSleep = 0.02;          // sleep in slices so that a stop request is seen soon
constexpr double kMaxLag = 0.05;            // further behind the schedule than this: resynchronize

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// When to sample, for both ways of sampling: gaps drawn from an exponential distribution (Poisson
// sampling), so that nothing periodic in the program can line up with the samples; and when to
// report progress.
struct Schedule {
  Schedule(const SampleOptions& o, double start_time)
      : options(o),
        rng(std::random_device{}()),
        gaps(o.rate),
        start(start_time),
        end(start_time + o.duration),
        next(start_time + gap()),
        next_progress(start_time + kProgressInterval) {}
  double gap() { return gaps(rng); }
  void progress(double t, uint64_t recorded) {
    if (!options.progress || t < next_progress) return;
    options.progress(t - start, recorded);
    next_progress = t + kProgressInterval;
  }

  const SampleOptions& options;
  std::mt19937_64 rng;
  std::exponential_distribution<double> gaps;
  double start, end;
  double next;  // the next sample is due then
  double next_progress;
};

}  // namespace

// Whether a thread is busy, from /proc (files kept open: one pread per question). While the target
// runs: its scheduler state, 'R' (on a CPU or runnable) meaning busy. While it is stopped (blocking
// mode) every thread is in a tracing stop, so the question becomes where it was stopped: inside a
// system call (a wait, a sleep, I/O) is idle, outside one (running code) is busy.
class Sampler::OsThreads {
 public:
  OsThreads(int pid, bool stopped) : pid_(pid), stopped_(stopped) {}
  ~OsThreads() {
    for (auto& [tid, fd] : fds_)
      if (fd >= 0) ::close(fd);
  }
  OsThreads(const OsThreads&) = delete;
  OsThreads& operator=(const OsThreads&) = delete;

  // False too when the thread is gone.
  bool busy(int64_t tid) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto it = fds_.find(tid);
      if (it == fds_.end()) {
        char path[64];
        std::snprintf(path, sizeof path, "/proc/%d/task/%lld/%s", pid_, static_cast<long long>(tid),
                      stopped_ ? "syscall" : "stat");
        it = fds_.emplace(tid, ::open(path, O_RDONLY | O_CLOEXEC)).first;
      }
      if (it->second < 0) return false;
      char buf[512];
      ssize_t n = ::pread(it->second, buf, sizeof buf - 1, 0);
      if (n > 0) {
        buf[n] = 0;
        if (stopped_) return buf[0] == '-' || buf[0] == 'r';  // "-1 ..." or "running": not in a system call
        const char* paren = std::strrchr(buf, ')');           // the name may hold ')' itself
        return paren && paren[1] == ' ' && paren[2] == 'R';
      }
      // The thread is gone; its id may belong to a new thread now: open it again once.
      ::close(it->second);
      fds_.erase(it);
    }
    return false;
  }

 private:
  int pid_;
  bool stopped_;
  std::unordered_map<int64_t, int> fds_;
};

Sampler::Sampler(PythonProcess& proc, SampleOptions options) : proc_(proc), options_(std::move(options)) {
  // Found here, on the debugger's thread, not lazily inside a sampling round.
  if (options_.native) proc_.eval_loop_code();
}
Sampler::~Sampler() = default;

double Sampler::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Expected<void> Sampler::prepare() {
  Target& target = proc_.target();
  if (!target.is_live_local() || target.pid() <= 0) return fail("py-sample needs a live process");
  // Sampling a running process reads it with process_vm_readv from the sampling thread. Where the
  // core cannot (another system, another pid namespace, PYXRAY_READER=debugger), it reads through
  // the debugger, which needs the process stopped: every sample then stops it (--blocking).
  MemoryReader* via = nullptr;
  if (std::strcmp(proc_.mem().reader().name(), "process_vm_readv") != 0) {
    via = &proc_.mem().reader();
    if (!options_.blocking) {
      options_.blocking = true;
      stats_.note = fmt::format(
          "process {} cannot be read while it runs (reads go through {}): every sample "
          "stopped it, as with --blocking, so the rate is limited",
          target.pid(), proc_.mem().reader().name());
    }
  }
  PYX_TRY(symbols, resolve_sample_symbols(proc_));
  symbols_ = symbols;
  if (options_.threads == ThreadFilter::Gil && symbols_.gil.kind == GilLocation::Kind::Unknown)
    return fail("--mode gil: pyxray cannot tell which thread holds the GIL in this build");

  if (options_.async_tasks) learn_tasks();
  reader_ = std::make_unique<TickReader>(target.pid(), via);
  codes_ = std::make_unique<SampleCodes>(proc_, frames_, symbols_.code_type);
  stacks_ = std::make_unique<LiveStacks>(proc_, *codes_, symbols_, options_.max_frames);
  os_ = std::make_unique<OsThreads>(target.pid(), options_.blocking);
  threads_.reserve(256);
  walked_.frames.reserve(static_cast<std::size_t>(options_.max_frames));
  walked_.entry.reserve(static_cast<std::size_t>(options_.max_frames));
  walked_.addresses.reserve(static_cast<std::size_t>(options_.max_frames));
  walked_.coroutine.reserve(static_cast<std::size_t>(options_.max_frames));
  merged_.reserve(1024);
  name_threads();

  // A first walk of every thread while the target is stopped: it must succeed (else the decoders do
  // not understand this process and sampling would only collect errors), and it decodes the code
  // objects on the stacks now rather than during the first samples.
  tick_time_ = now();
  codes_->set_now(tick_time_);
  stacks_->set_stopped(true);
  reader_->begin();
  WalkError e = stacks_->read_threads(*reader_, threads_, tick_time_);
  if (e != WalkError::None) {
    reader_->end();
    return fail(fmt::format("cannot read the thread list of process {} ({})", target.pid(), walk_error_name(e)));
  }
  for (const LiveThread& t : threads_) {
    // A thread stopped half-way through linking or unlinking a frame shows a torn chain: that is
    // the moment, not a misunderstanding of the process.
    if (WalkError w = stacks_->walk(*reader_, t, walked_); w != WalkError::None && !walk_error_is_torn(w)) {
      reader_->end();
      return fail(fmt::format("cannot walk the stack of thread {} of the stopped process ({})",
                              t.native_id >= 0 ? t.native_id : static_cast<int64_t>(t.thread_id), walk_error_name(w)));
    }
  }
  reader_->end();
  stacks_->set_stopped(options_.blocking);
  return {};
}

void Sampler::name_threads() {
  // Names and kernel ids as py-bt-all finds them (threading._active, the debugger's threads).
  proc_.begin_command();
  Objects objects(proc_);
  CodeCache codes(proc_, objects);
  ReportOptions ro;
  ro.max_frames = 1;
  auto report = collect_report(proc_, objects, codes, ro);
  proc_.begin_command();
  if (!report) return;
  for (const auto& r : report->threads) {
    if (!r.name.empty()) names_[r.state.thread_id] = r.name;
    if (r.native_id) pthread_tids_[r.state.thread_id] = *r.native_id;
  }
  for (auto& th : agg_.threads()) {
    if (th.name.empty())
      if (auto it = names_.find(th.thread_id); it != names_.end()) th.name = it->second;
    if (!th.native_id)
      if (auto it = pthread_tids_.find(th.thread_id); it != pthread_tids_.end()) th.native_id = it->second;
  }
}

void Sampler::finish(bool target_alive) {
  stats_.syscalls = reader_ ? reader_->syscalls() : 0;
  stats_.ranges = reader_ ? reader_->ranges() : 0;
  stats_.codes = codes_ ? codes_->decoded() : 0;
  if (target_alive) name_threads();
  if (target_alive && options_.async_tasks) learn_tasks();
  os_.reset();  // closes the /proc files
}

int64_t Sampler::kernel_tid(const LiveThread& t) const {
  if (t.native_id >= 0) return t.native_id;
  auto it = pthread_tids_.find(t.thread_id);
  return it != pthread_tids_.end() ? it->second : -1;
}

// The aggregate's thread for `t` if it has one already.
std::optional<uint32_t> Sampler::known_slot(const LiveThread& t) const {
  auto it = slots_.find(t.thread_id);
  if (it == slots_.end()) return std::nullopt;
  const int64_t tid = kernel_tid(t);
  const SampledThread& known = agg_.threads()[it->second];
  // pthread ids are reused once a thread has exited: a new kernel id means a new thread.
  if (tid < 0 || !known.native_id || *known.native_id == tid) return it->second;
  return std::nullopt;
}

uint32_t Sampler::thread_slot(const LiveThread& t) {
  if (auto known = known_slot(t)) return *known;
  SampledThread st;
  st.thread_id = t.thread_id;
  if (int64_t tid = kernel_tid(t); tid >= 0) st.native_id = tid;
  if (auto n = names_.find(t.thread_id); n != names_.end()) st.name = n->second;
  uint32_t slot = agg_.add_thread(std::move(st));
  slots_[t.thread_id] = slot;
  return slot;
}

// Every task's coroutine frame and name, while the target is stopped (find_tasks reads through the
// debugger's memory reader and may look up symbols).
void Sampler::learn_tasks() {
  Objects objects(proc_);
  CodeCache codes(proc_, objects);
  auto states = thread_states(proc_);
  if (!states) return;
  std::vector<PyStack> stacks;
  for (const auto& t : states->threads) stacks.push_back(walk_stack(proc_, codes, t, options_.max_frames));
  TasksReport report;
  if (!find_tasks(proc_, objects, codes, states->threads, stacks, TaskOptions{}, report)) return;
  for (const auto& task : report.tasks) {
    const std::string name = task.name.empty() ? fmt::format("0x{:x}", task.address) : task.name;
    // The coroutine's frame: the outermost of a suspended task's chain, or the running one's.
    if (!task.stack.empty()) task_names_[task.stack.back().addr] = "task " + name;
  }
  for (const auto& [frame, id] : task_roots_)
    if (auto it = task_names_.find(frame); it != task_names_.end()) frames_.rename(id, it->second);
}

// --async: the innermost frames down to the task's coroutine (the outermost coroutine frame), then
// the task as the root; the stack as it is when the thread runs no task.
std::span<const uint32_t> Sampler::task_stack(std::span<const uint32_t> frames) {
  std::size_t k = walked_.coroutine.size();
  while (k > 0 && !walked_.coroutine[k - 1]) --k;
  if (k == 0 || k > frames.size()) return frames;
  const std::size_t outer = k - 1;
  const uint64_t addr = walked_.addresses[outer];
  auto [root, added] = task_roots_.try_emplace(addr, 0);
  if (added) {
    auto known = task_names_.find(addr);
    // Until the task is known (it began while sampling), it is named after its coroutine.
    root->second = frames_.intern(FrameInfo{
        known != task_names_.end() ? known->second : "task " + frames_.at(frames[outer]).function, "", -1, false});
  }
  task_frames_.assign(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(k));
  task_frames_.push_back(root->second);
  return task_frames_;
}

void Sampler::record(uint32_t slot, Target* native, const LiveThread& t) {
  ++stats_.recorded;
  if (options_.async_tasks) {
    agg_.add(slot, task_stack(walked_.frames));
    return;
  }
  int64_t tid = agg_.threads()[slot].native_id.value_or(-1);
  std::optional<std::vector<NativeFrame>> nf;
  if (native && tid > 0) nf = native->native_frames(tid, options_.max_native_frames);
  if (nf) name_eval_loop_frames(proc_.eval_loop_code(), *nf);
  if (!nf) {
    agg_.add(slot, walked_.frames);
    return;
  }
  // Python frames go where their evaluation loop is on the native stack (merge_native's rules).
  PyStack py;
  py.frames.resize(walked_.frames.size());
  for (std::size_t i = 0; i < py.frames.size(); ++i) py.frames[i].is_entry = walked_.entry[i] != 0;
  MixedStack mixed = merge_native(py, *nf, nf->size() >= options_.max_native_frames);
  if (mixed.warning && !stats_.native_warning) stats_.native_warning = mixed.warning;
  merged_.clear();
  for (const MixedFrame& m : mixed.frames) {
    if (m.python) {
      merged_.push_back(walked_.frames[static_cast<std::size_t>(m.python - py.frames.data())]);
    } else {
      std::string function = m.native.function.empty() ? fmt::format("0x{:x}", m.native.pc) : m.native.function;
      merged_.push_back(frames_.intern(FrameInfo{function, basename_of(m.native.library), -1, true}));
    }
  }
  if (merged_.empty()) {
    agg_.add(slot, walked_.frames);
    return;
  }
  agg_.add(slot, merged_);
}

bool Sampler::sample_thread(const LiveThread& t, Target* native) {
  if (options_.threads == ThreadFilter::Gil && !t.holds_gil) return false;
  // Idle: neither holding the GIL nor on a CPU (blocked in I/O, a sleep, a lock, or waiting for the
  // GIL, as py-spy counts it). Asked only when the answer matters.
  bool need_busy = options_.threads == ThreadFilter::Busy || !options_.idle;
  if (need_busy && !t.holds_gil) {
    const int64_t tid = kernel_tid(t);
    bool busy = tid > 0 && os_->busy(tid);
    if (!busy) {
      if (options_.threads == ThreadFilter::Busy) return false;
      ++stats_.taken;
      ++stats_.idle;
      return true;
    }
  }
  ++stats_.taken;
  WalkError e = stacks_->walk(*reader_, t, walked_);
  const LiveThread* walked_thread = &t;
  LiveThread again;
  if (e != WalkError::None) {
    // Read once more, from the thread state on: most inconsistencies are a frame pushed or popped
    // while it was being read, and the second read sees it settled.
    reader_->refresh();
    WalkError list = stacks_->read_threads(*reader_, retry_threads_, tick_time_);
    e = list != WalkError::None ? list : WalkError::BadThreads;
    for (const LiveThread& r : retry_threads_) {
      if (r.tstate != t.tstate) continue;
      again = r;
      e = stacks_->walk(*reader_, again, walked_);
      walked_thread = &again;
      break;
    }
    if (e != WalkError::None) {
      ++stats_.errors;
      ++stats_.error_kinds[static_cast<std::size_t>(e)];
      return true;
    }
    ++stats_.retried;
  }
  if (walked_.frames.empty()) {
    ++stats_.empty;
    return true;
  }
  record(thread_slot(*walked_thread), native, *walked_thread);
  return true;
}

void Sampler::tick(Target* native) {
  ++stats_.ticks;
  tick_time_ = now();
  agg_.begin_round(tick_time_ - start_);
  codes_->set_now(tick_time_);
  reader_->begin();
  WalkError e = stacks_->read_threads(*reader_, threads_, tick_time_);
  if (e != WalkError::None) {
    reader_->refresh();
    e = stacks_->read_threads(*reader_, threads_, tick_time_);
  }
  if (e != WalkError::None) {
    ++stats_.taken;
    ++stats_.errors;
    ++stats_.error_kinds[static_cast<std::size_t>(e)];
  } else {
    bool any = false;
    for (std::size_t i = 0; i < threads_.size(); ++i) any |= sample_thread(threads_[i], native);
    if (!any && options_.threads == ThreadFilter::Gil) ++stats_.no_holder;
    // The GIL holder of this round, for the Firefox Profiler's GIL markers: a thread the profile
    // knows (one never recorded has no track to mark).
    for (const LiveThread& t : threads_)
      if (t.holds_gil)
        if (auto slot = known_slot(t)) agg_.set_gil_holder(*slot);
  }
  reader_->end();
}

void Sampler::sleep_until(double deadline, const std::atomic<bool>& stop) {
  for (;;) {
    if (stop.load(std::memory_order_relaxed)) return;
    double left = deadline - now();
    if (left <= 0) return;
    if (left < kSpinBelow) continue;  // a system call would overshoot more than this
    double nap = std::min(left, kMaxSleep);
    timespec ts{static_cast<time_t>(nap),
                static_cast<long>((nap - static_cast<double>(static_cast<time_t>(nap))) * 1e9)};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
  }
}

void Sampler::run(const std::atomic<bool>& stop) {
  // Sleeps end when asked, not up to 50 µs later (the default timer slack).
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  Schedule s(options_, now());
  start_ = s.start;
  while (!stop.load(std::memory_order_relaxed)) {
    double t = now();
    if (t >= s.end) break;
    if (s.next > t) {
      sleep_until(std::min(s.next, s.end), stop);
      continue;
    }
    tick(nullptr);
    if (reader_->process_gone()) {
      stats_.target_gone = true;
      break;
    }
    s.next += s.gap();
    if (s.next < t - kMaxLag) s.next = t;  // descheduled for a while: do not make up for it in a burst
    s.progress(t, stats_.recorded);
  }
  stats_.elapsed = std::min(now(), s.end) - s.start;
}

Expected<RunOutcome> Sampler::run_blocking(Target& target) {
  Schedule s(options_, now());
  start_ = s.start;
  Target* native = options_.native ? &target : nullptr;
  RunOutcome last;
  for (;;) {
    double until = std::min(s.next, s.end);
    auto out = target.run_while([&](const std::atomic<bool>& stop) {
      prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
      sleep_until(until, stop);
    });
    if (!out) {
      stats_.elapsed = std::min(now(), s.end) - s.start;
      return out;
    }
    last = *out;
    double t = now();
    if (last.end != RunEnd::WorkDone || t >= s.end) break;
    tick(native);  // the target is stopped: an exact sample
    s.next += s.gap();
    // Stopping and resuming through the debugger is slow: when behind, wait a full gap from now.
    if (s.next < now()) s.next = now() + s.gap();
    s.progress(t, stats_.recorded);
  }
  stats_.elapsed = std::min(now(), s.end) - s.start;
  return last;
}

}  // namespace pyxray
