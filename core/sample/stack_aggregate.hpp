// What py-sample collects: every distinct frame once (FrameTable), and the sampled stacks as a tree
// per thread with a count at each node (StackAggregate), plus each thread's sequence of samples in
// time order, run-length encoded, and when each sampling round was taken and which thread held the
// GIL then. Adding a sample whose frames and stack were seen before allocates nothing: it is a few
// hash lookups and increments.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace pyxray {

struct FrameInfo {
  std::string function;  // qualname (3.11+) or co_name; the symbol for a native frame
  std::string file;      // co_filename; the object file for a native frame
  int line = -1;         // -1: no line (a native frame, or an instruction without one)
  bool native = false;
  int first_line = -1;  // co_firstlineno, -1 where there is none (a native frame, a task's root)
};

class FrameTable {
 public:
  uint32_t intern(const FrameInfo& frame);
  const FrameInfo& at(uint32_t id) const { return frames_[id]; }
  std::size_t size() const { return frames_.size(); }
  // "function (file:line)", "function (file)" without a line: the folded-stack frame text.
  std::string label(uint32_t id) const;
  // Gives frame `id` another function name (py-sample --async names a task once it knows it); the
  // old name is not interned again.
  void rename(uint32_t id, std::string function) { frames_[id].function = std::move(function); }

 private:
  std::vector<FrameInfo> frames_;
  std::unordered_map<std::string, uint32_t> index_;
};

struct SampledThread {
  uint64_t thread_id = 0;            // pthread id (threading.get_ident())
  std::optional<int64_t> native_id;  // kernel tid
  std::string name;                  // threading name, else the OS name, else ""
};

// "name (tid N)", "tid N" or "thread 0x..." without a kernel id: how profiles name a thread.
std::string thread_title(const SampledThread& t);

class StackAggregate {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Node {
    uint32_t parent = kNone;  // kNone for a thread's root
    uint32_t frame = kNone;   // kNone for a thread's root
    uint32_t thread = 0;
    uint32_t depth = 0;  // 0 for a thread's root
    uint64_t self = 0;   // samples whose innermost frame is this node
  };
  // `count` samples of one stack in consecutive rounds, the first in round `first_round` (kNone when
  // no round was begun: then equal stacks in a row are one run, whatever their rounds).
  struct Run {
    uint32_t leaf = 0;
    uint32_t count = 0;
    uint32_t first_round = kNone;
  };
  StackAggregate();

  // Starts a sampling round, `seconds` after sampling began: the samples added until the next round
  // are this round's, at most one per thread.
  void begin_round(double seconds);
  // The thread (an index into threads()) that held the GIL in the current round; the first one
  // given counts (with one GIL per interpreter, several may).
  void set_gil_holder(uint32_t thread);
  // Adds one sample of `thread` (an index into threads()); frames innermost first, never empty.
  void add(uint32_t thread, std::span<const uint32_t> innermost_first);
  // Threads are registered before their first sample; returns the index.
  uint32_t add_thread(SampledThread t);
  std::vector<SampledThread>& threads() { return threads_; }
  const std::vector<SampledThread>& threads() const { return threads_; }

  uint64_t samples() const { return samples_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  // Frame ids from a node up to its thread's root, root first.
  std::vector<uint32_t> path(uint32_t node) const;
  // One thread's samples in time order: consecutive equal stacks as one run.
  const std::vector<Run>& timeline(uint32_t thread) const { return timelines_[thread]; }
  // Per round begun (while the timeline is complete): its time in seconds since sampling began, and
  // the thread that held the GIL (kNone: none seen).
  const std::vector<double>& round_times() const { return round_times_; }
  const std::vector<uint32_t>& gil_holders() const { return gil_holders_; }
  // False once the timeline-runs limit was reached (runs and rounds together, 12 bytes each): the
  // timelines and rounds then stop early; the counts in the tree are always complete.
  bool timeline_complete() const { return timeline_complete_; }

 private:
  uint32_t child(uint32_t parent, uint32_t frame);

  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> children_;  // (parent << 32 | frame) -> node
  std::vector<uint32_t> roots_;                      // per thread
  std::vector<SampledThread> threads_;
  std::vector<std::vector<Run>> timelines_;  // per thread
  std::vector<double> round_times_;
  std::vector<uint32_t> gil_holders_;
  uint64_t samples_ = 0;
  std::size_t runs_ = 0;  // runs and rounds kept
  bool timeline_complete_ = true;
  std::size_t max_runs_;  // the timeline-runs limit when sampling began: of runs and rounds together
};

// Folded stacks, the input format of flamegraph.pl and most flame graph tools: one line per distinct
// stack (all threads together), root first, frames joined by ';', then a space and the count. Lines
// are sorted, so equal profiles give equal files.
std::string folded_stacks(const StackAggregate& agg, const FrameTable& frames);

// Per function (name and file, every line together): samples where it is the innermost frame (own)
// and samples where it is anywhere on the stack (total), most first.
struct FunctionCost {
  std::string function;
  std::string file;
  bool native = false;
  uint64_t own = 0;
  uint64_t total = 0;
};
std::vector<FunctionCost> function_costs(const StackAggregate& agg, const FrameTable& frames);

}  // namespace pyxray
