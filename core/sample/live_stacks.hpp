// Thread lists and Python stacks of a *running* process, for py-sample: the same three frame models
// as frames.cpp, but read through a TickReader (a few system calls per sample), allocation-free, and
// validated at every step, because the target changes while it is read. A walk that finds something
// inconsistent (a code pointer that is no code object, a loop, an impossible offset or line) reports
// why instead of returning a wrong stack.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/expected.hpp"
#include "interp/frame_rules.hpp"
#include "interp/gil.hpp"
#include "layout/layout.hpp"

namespace pyxray {

class PythonProcess;
class SampleCodes;
class TickReader;
struct VersionTraits;

// What the walks need from the debugger, looked up before the target runs: the worker that samples
// must not call into the debugger.
struct SampleSymbols {
  uint64_t code_type = 0;    // PyCode_Type
  uint64_t frame_type = 0;   // PyFrame_Type (<= 3.10 frame objects are checked against it)
  uint64_t none_object = 0;  // _Py_NoneStruct (3.13+: frames of non-code executables)
  GilLocation gil;           // where the GIL's holder is recorded
};
Expected<SampleSymbols> resolve_sample_symbols(PythonProcess& proc);

struct LiveThread {
  uint64_t tstate = 0;
  uint64_t interp = 0;
  uint64_t thread_id = 0;  // pthread id
  int64_t native_id = -1;  // kernel tid from the thread state (3.8+), -1 when unknown
  bool holds_gil = false;
  bool gil_known = false;       // whether its interpreter's GIL holder could be read
  uint64_t first_frame = 0;     // tstate->frame, or the newest _PyInterpreterFrame
  uint64_t first_frame_at = 0;  // where first_frame was read (the thread state, 3.11-3.12 its cframe)
  uint64_t cframe = 0;          // 3.11-3.12: tstate->cframe
  uint64_t chunk = 0;           // 3.11+: tstate->datastack_chunk
};

enum class WalkError : uint8_t {
  None,
  Unreadable,  // memory that was there a moment ago is not (freed, unmapped)
  NotCode,     // a frame's code pointer does not point to a code object
  BadFrame,    // a frame that cannot be one (type, owner, alignment)
  BadOffset,   // an instruction offset outside its code object
  BadLine,     // a line table giving an impossible line
  Loop,        // the frame chain or the thread list loops
  TooDeep,     // more frames than the limit
  BadThreads,  // the thread list could not be read
  TornChain,   // the chain does not end at the thread's entry frame (cut off while read)
  NotRunning,  // a generator's frame in the chain whose generator is not running
  kCount
};
const char* walk_error_name(WalkError e);
// Whether `e` says only that the thread ran on while its chain was read (a frame unlinked or linked
// meanwhile), not that the walk misunderstands the process: a stopped process caught half-way
// through linking a frame can show it too.
bool walk_error_is_torn(WalkError e);

struct WalkedStack {
  std::vector<uint32_t> frames;     // frame ids, innermost first
  std::vector<uint8_t> entry;       // per frame: an evaluation loop was entered from C at this frame
  std::vector<uint64_t> addresses;  // per frame: its address (py-sample --async: a task's coroutine frame)
  std::vector<uint8_t> coroutine;   // per frame: it runs an `async def` function's code
  void clear() {
    frames.clear();
    entry.clear();
    addresses.clear();
    coroutine.clear();
  }
};

class LiveStacks {
 public:
  LiveStacks(PythonProcess& proc, SampleCodes& codes, const SampleSymbols& symbols, int max_frames);
  ~LiveStacks();

  // The list of interpreters is read again when older than this (they come and go rarely; their
  // thread lists are read at every sample).
  static constexpr double kInterpretersRecheck = 0.01;  // seconds
  // A stack holding a generator is confirmed by reading its generators again after the rest; that
  // holds only if too little time passed for a generator to finish and another to start at the same
  // address. A sample whose reads took longer than this (the sampler descheduled) is read again.
  static constexpr double kMaxConfirmWindow = 0.0005;  // seconds

  // Every thread state of every interpreter, with the GIL holder. `now` (seconds, any steady origin)
  // decides whether the interpreter list is read again.
  WalkError read_threads(TickReader& reader, std::vector<LiveThread>& out, double now);
  // One thread's Python frames.
  WalkError walk(TickReader& reader, const LiveThread& thread, WalkedStack& out);
  // Whether the process is stopped while it is walked (before sampling, --blocking): then each
  // thread's oldest frame is taken as it is read (<= 3.10: see known_root).
  void set_stopped(bool stopped) { stopped_ = stopped; }

 private:
  class Visited;
  struct Chunk {
    uint64_t addr = 0;
    uint64_t end = 0;  // of the bytes read
    const std::byte* data = nullptr;
  };

  WalkError walk_frame_objects(TickReader& r, const LiveThread& t, WalkedStack& out);
  WalkError walk_interpreter_frames(TickReader& r, const LiveThread& t, WalkedStack& out);
  const std::byte* interpreter_frame(TickReader& r, uint64_t frame);
  bool entry_flag(const std::byte* frame) const;
  bool known_root(const LiveThread& t, uint64_t oldest);
  WalkError check_generator(TickReader& r, uint64_t frame, uint64_t previous);
  WalkError confirm_generators(TickReader& r, const LiveThread& t);
  WalkError confirm_generator_frames(TickReader& r);

  PythonProcess& proc_;
  const Layout& L_;
  const VersionTraits& traits_;
  FrameRules rules_;
  SampleCodes& codes_;
  SampleSymbols symbols_;
  int max_frames_;
  // The limits in force when sampling began (core/base/limits.def).
  std::size_t max_interpreters_, max_threads_, max_chunks_;
  uint64_t max_chunk_bytes_;
  int64_t tstate_lo_ = 0, tstate_len_ = 0;  // the span of a thread state the sampler reads
  int64_t frame_lo_ = 0, frame_len_ = 0;    // of a frame object (<= 3.10)
  int64_t iframe_len_ = 0;                  // of an interpreter frame's header (3.11+)
  // A generator's gi_frame_state, from its frame (3.11+: before it, so negative).
  bool gen_state_known_ = false;
  int64_t gen_state_from_frame_ = 0;
  std::vector<Chunk> chunks_;  // data-stack chunks read during one walk
  struct Generator {
    uint64_t frame = 0, previous = 0;      // a generator frame in the chain and its link
    uint64_t caller = 0, caller_code = 0;  // the next older frame that is not hidden, and its code
  };
  std::vector<Generator> generators_;  // the generator frames of one walk (3.11+)
  // <= 3.10: a generator's frame, its f_back, and the code the walk read in each.
  struct GeneratorLink {
    uint64_t frame = 0, back = 0, code = 0, back_code = 0;
  };
  std::vector<GeneratorLink> generator_links_;
  std::vector<uint64_t> interps_;  // the interpreters, as last read
  double interps_at_ = -1;
  uint64_t chunk_next_ = 0;  // the newest chunk not read yet
  std::unique_ptr<Visited> visited_;
  // <= 3.10: each thread's oldest frame, by thread state (known_root).
  struct Root {
    uint64_t thread_id = 0;
    uint64_t frame = 0;      // the oldest frame, as known
    uint64_t candidate = 0;  // another oldest frame, read once: a second read in a row confirms it
  };
  std::unordered_map<uint64_t, Root> roots_;
  bool stopped_ = false;
};

}  // namespace pyxray
