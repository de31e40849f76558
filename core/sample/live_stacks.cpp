#include "sample/live_stacks.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "layout/version_traits.hpp"
#include "sample/sample_codes.hpp"
#include "target/tick_reader.hpp"

namespace pyxray {
namespace {

constexpr uint64_t kChunkSlack = 1024;
constexpr int kMaxOwner = 4;  // the largest frame owner value any version uses

template <class T>
T field(const std::byte* base, int64_t offset) {
  T v;
  std::memcpy(&v, base + offset, sizeof(T));
  return v;
}

// The span [lo, hi) covering every present field.
void span_of(std::initializer_list<std::pair<int64_t, int>> fields, int64_t& lo, int64_t& len) {
  int64_t l = INT64_MAX, h = 0;
  for (auto [off, size] : fields) {
    if (off == kAbsent) continue;
    l = std::min(l, off);
    h = std::max(h, off + size);
  }
  lo = l == INT64_MAX ? 0 : l;
  len = h - lo;
}

}  // namespace

// Addresses seen during one walk: open addressing with a generation stamp, so that starting a walk
// is O(1) and nothing is allocated.
class LiveStacks::Visited {
 public:
  explicit Visited(std::size_t max_entries) {
    std::size_t cap = 64;
    while (cap < max_entries * 2) cap <<= 1;
    keys_.assign(cap, 0);
    stamps_.assign(cap, 0);
    mask_ = cap - 1;
  }
  void reset() {
    if (++stamp_ == 0) {  // wrapped: clear once every 4 billion walks
      std::fill(stamps_.begin(), stamps_.end(), 0);
      stamp_ = 1;
    }
  }
  // False when addr was already inserted since reset().
  bool insert(uint64_t addr) {
    std::size_t i = static_cast<std::size_t>((addr >> 3) * 0x9E3779B97F4A7C15ull) & mask_;
    while (stamps_[i] == stamp_) {
      if (keys_[i] == addr) return false;
      i = (i + 1) & mask_;
    }
    stamps_[i] = stamp_;
    keys_[i] = addr;
    return true;
  }

 private:
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> stamps_;
  std::size_t mask_ = 0;
  uint32_t stamp_ = 0;
};

const char* walk_error_name(WalkError e) {
  switch (e) {
    case WalkError::None: return "none";
    case WalkError::Unreadable: return "memory went away";
    case WalkError::NotCode: return "not a code object";
    case WalkError::BadFrame: return "not a frame";
    case WalkError::BadOffset: return "instruction offset outside its code";
    case WalkError::BadLine: return "impossible line";
    case WalkError::Loop: return "frame chain loops";
    case WalkError::TooDeep: return "too many frames";
    case WalkError::BadThreads: return "thread list unreadable";
    case WalkError::TornChain: return "chain cut off from the thread's entry frame";
    case WalkError::NotRunning: return "generator frame of a generator not running";
    case WalkError::kCount: break;
  }
  return "?";
}

bool walk_error_is_torn(WalkError e) { return e == WalkError::TornChain || e == WalkError::NotRunning; }

Expected<SampleSymbols> resolve_sample_symbols(PythonProcess& proc) {
  SampleSymbols s;
  s.code_type = proc.type_addr("PyCode_Type");
  if (!s.code_type) return fail("cannot find PyCode_Type in the target: its code objects cannot be checked");
  const auto& traits = proc.traits();
  if (traits.frame_model == FrameModel::FrameObjects) {
    s.frame_type = proc.type_addr("PyFrame_Type");
    if (!s.frame_type) return fail("cannot find PyFrame_Type in the target: its frames cannot be checked");
  }
  s.none_object = proc.type_addr("_Py_NoneStruct");
  s.gil = gil_location(proc);
  return s;
}

LiveStacks::LiveStacks(PythonProcess& proc, SampleCodes& codes, const SampleSymbols& symbols, int max_frames)
    : proc_(proc),
      L_(proc.layout()),
      traits_(proc.traits()),
      rules_(L_, traits_),
      codes_(codes),
      symbols_(symbols),
      max_frames_(max_frames),
      max_interpreters_(static_cast<std::size_t>(limits().interpreters)),
      max_threads_(static_cast<std::size_t>(limits().sample_threads)),
      max_chunks_(static_cast<std::size_t>(limits().data_stack_chunks)),
      max_chunk_bytes_(static_cast<uint64_t>(limits().data_stack)),
      visited_(std::make_unique<Visited>(std::max<std::size_t>(static_cast<std::size_t>(max_frames), max_threads_))) {
  span_of({{L_.tstate_next, 8},
           {L_.tstate_thread_id, 8},
           {L_.tstate_native_thread_id, 8},
           {L_.tstate_frame, 8},
           {L_.tstate_cframe, 8},
           {L_.tstate_current_frame, 8},
           {L_.tstate_datastack_chunk, 8}},
          tstate_lo_, tstate_len_);
  span_of({{L_.object_ob_refcnt, 8},
           {L_.object_ob_type, 8},
           {L_.frame_f_back, 8},
           {L_.frame_f_code, 8},
           {L_.frame_f_lasti, 4},
           {L_.frame_f_lineno, 4},
           {L_.frame_f_trace, 8}},
          frame_lo_, frame_len_);
  if (L_.gen_gi_frame_state != kAbsent && L_.gen_gi_iframe != kAbsent) {
    gen_state_known_ = true;
    gen_state_from_frame_ = L_.gen_gi_frame_state - L_.gen_gi_iframe;  // the frame is inside its generator
  }
  if (L_.iframe_localsplus != kAbsent) {
    iframe_len_ = L_.iframe_localsplus;
  } else {
    int64_t lo = 0;
    span_of({{L_.iframe_previous, 8},
             {rules_.code_field, 8},
             {rules_.instr_field, 8},
             {L_.iframe_owner, 1},
             {L_.iframe_is_entry, 1}},
            lo, iframe_len_);
    iframe_len_ += lo;
  }
  chunks_.reserve(std::min<std::size_t>(max_chunks_, 64));
  // Generators deeper than this are checked only as they are met (a chain of generators driving
  // generators is rarely deeper).
  generators_.reserve(16);
  generator_links_.reserve(16);
}

LiveStacks::~LiveStacks() = default;

WalkError LiveStacks::read_threads(TickReader& r, std::vector<LiveThread>& out, double now) {
  out.clear();
  if (interps_.empty() || now - interps_at_ >= kInterpretersRecheck) {
    interps_.clear();
    uint64_t head_slot =
        proc_.runtime_addr() ? proc_.runtime_addr() + L_.runtime_interpreters_head : proc_.interp_head_addr();
    uint64_t interp = 0;
    if (!r.read(head_slot, interp) || interp == 0) return WalkError::BadThreads;
    visited_->reset();
    for (std::size_t n = 0; interp && n < max_interpreters_; ++n) {
      if (interp % 8 || !visited_->insert(interp)) {
        interps_.clear();
        return WalkError::Loop;
      }
      interps_.push_back(interp);
      if (!r.read(interp + L_.interp_next, interp)) {
        interps_.clear();
        return WalkError::BadThreads;
      }
    }
    interps_at_ = now;
  }
  int64_t threads_head = L_.interp_threads_head != kAbsent ? L_.interp_threads_head : L_.interp_tstate_head;
  visited_->reset();
  for (uint64_t interp : interps_) {
    uint64_t ts = 0;
    if (!r.read(interp + threads_head, ts)) return WalkError::BadThreads;
    const std::optional<uint64_t> holder =
        gil_holder(symbols_.gil, interp, [&r](uint64_t a, auto& v) { return r.read(a, v); });
    while (ts) {
      if (ts % 8 || out.size() >= max_threads_) return WalkError::BadThreads;
      if (!visited_->insert(ts)) return WalkError::Loop;
      const std::byte* p = r.get(ts + tstate_lo_, static_cast<std::size_t>(tstate_len_));
      if (!p) return WalkError::Unreadable;
      p -= tstate_lo_;  // fields are read at their offsets from the thread state
      LiveThread t;
      t.tstate = ts;
      t.interp = interp;
      t.thread_id = field<uint64_t>(p, L_.tstate_thread_id);
      if (L_.tstate_native_thread_id != kAbsent) t.native_id = field<int64_t>(p, L_.tstate_native_thread_id);
      t.holds_gil = holder == ts;
      t.gil_known = holder.has_value();
      switch (traits_.frame_model) {
        case FrameModel::FrameObjects:
          t.first_frame = field<uint64_t>(p, L_.tstate_frame);
          t.first_frame_at = ts + static_cast<uint64_t>(L_.tstate_frame);
          break;
        case FrameModel::CurrentFrame:
          t.first_frame = field<uint64_t>(p, L_.tstate_current_frame);
          t.first_frame_at = ts + static_cast<uint64_t>(L_.tstate_current_frame);
          break;
        case FrameModel::CFrame: {
          uint64_t cframe = field<uint64_t>(p, L_.tstate_cframe);
          if (cframe && (cframe % 8 || !r.read(cframe + L_.cframe_current_frame, t.first_frame)))
            return WalkError::Unreadable;
          t.cframe = cframe;
          if (cframe) t.first_frame_at = cframe + static_cast<uint64_t>(L_.cframe_current_frame);
          break;
        }
      }
      if (L_.tstate_datastack_chunk != kAbsent) t.chunk = field<uint64_t>(p, L_.tstate_datastack_chunk);
      out.push_back(t);
      ts = field<uint64_t>(p, L_.tstate_next);
    }
  }
  return WalkError::None;
}

WalkError LiveStacks::walk(TickReader& r, const LiveThread& t, WalkedStack& out) {
  out.clear();
  visited_->reset();
  if (traits_.frame_model == FrameModel::FrameObjects) return walk_frame_objects(r, t, out);
  return walk_interpreter_frames(r, t, out);
}

// Before 3.11 nothing in a frame object says that it is its thread's oldest: a frame read after it
// was freed (put on the free list, or reused by another thread) ends a chain with a NULL f_back too
// (`fib;fib` with no caller, one thread's frames under another's name). A thread's oldest frame stays
// the same frame object for its whole life, so the walk learns it: as read while the process is
// stopped (before sampling starts), or once two reads in a row end at the same new frame (a thread
// that started while sampling, or one whose Python frames are each called from C).
bool LiveStacks::known_root(const LiveThread& t, uint64_t oldest) {
  if (roots_.size() > 4 * max_threads_) roots_.clear();  // threads come and go: learn them again
  Root& root = roots_[t.tstate];
  if (root.thread_id != t.thread_id) root = Root{t.thread_id, 0, 0};  // a new thread in a reused state
  if (oldest == root.frame) return true;
  if (!stopped_) {
    // Another thread's oldest frame: that thread's frames, reached through a frame freed and reused.
    for (const auto& [tstate, other] : roots_)
      if (tstate != t.tstate && other.frame == oldest) return false;
  }
  if (stopped_ || oldest == root.candidate) {
    root.frame = oldest;
    root.candidate = 0;
    return true;
  }
  root.candidate = oldest;
  return false;
}

// The frames below a running generator's frame cannot change while it runs, but they are read after
// it: had it finished in between, its caller may have returned and its frame object been reused by
// another function (`work;fib;<genexpr>`). A generator's frame still alive and linked to the same
// caller once everything was read, soon enough (kMaxConfirmWindow), says the frames below it were
// read while it ran.
WalkError LiveStacks::confirm_generator_frames(TickReader& r) {
  if (stopped_ || generator_links_.empty()) return WalkError::None;  // a stopped process does not change
  int64_t lo = 0, len = 0;
  span_of({{L_.object_ob_refcnt, 8}, {L_.frame_f_back, 8}, {L_.frame_f_code, 8}}, lo, len);
  std::byte buf[256];
  if (len > static_cast<int64_t>(sizeof buf)) return WalkError::BadFrame;  // never: the object header and two fields
  for (const GeneratorLink& g : generator_links_) {
    if (!r.read_fresh(g.frame + static_cast<uint64_t>(lo), buf, static_cast<std::size_t>(len)))
      return WalkError::Unreadable;
    const std::byte* p = buf - lo;
    if (L_.object_ob_refcnt != kAbsent && field<int64_t>(p, L_.object_ob_refcnt) <= 0) return WalkError::NotRunning;
    // Frame objects are reused at once (a code object's zombie frame, the free list): the generator's
    // frame may since serve another call linked to the same address, or a generator run again may
    // sit there while in between its caller's frame object served another call, and the walk read
    // it then. Both must still run what the walk read in them.
    if (field<uint64_t>(p, L_.frame_f_back) != g.back || field<uint64_t>(p, L_.frame_f_code) != g.code)
      return WalkError::NotRunning;
    if (g.back_code) {
      if (!r.read_fresh(g.back + static_cast<uint64_t>(lo), buf, static_cast<std::size_t>(len)))
        return WalkError::Unreadable;
      if (field<uint64_t>(p, L_.frame_f_code) != g.back_code) return WalkError::NotRunning;
    }
  }
  if (r.age() > kMaxConfirmWindow) return WalkError::NotRunning;
  return WalkError::None;
}

WalkError LiveStacks::walk_frame_objects(TickReader& r, const LiveThread& t, WalkedStack& out) {
  const SampledCode* oldest = nullptr;
  uint64_t oldest_frame = 0;
  generator_links_.clear();
  for (uint64_t frame = t.first_frame; frame;) {
    if (frame % 8) return WalkError::BadFrame;
    if (!visited_->insert(frame)) return WalkError::Loop;
    if (static_cast<int>(out.frames.size()) >= max_frames_) return WalkError::TooDeep;
    const std::byte* p = r.get(frame + frame_lo_, static_cast<std::size_t>(frame_len_));
    if (!p) return WalkError::Unreadable;
    p -= frame_lo_;
    if (field<uint64_t>(p, L_.object_ob_type) != symbols_.frame_type) return WalkError::BadFrame;
    // A running frame is referenced by its evaluation loop. One without references was freed while
    // the chain was read: it is kept for reuse (a code object's zombie frame, the free list, whose
    // frames are linked through f_back) with its old code, so the chain goes on through freed frames.
    if (L_.object_ob_refcnt != kAbsent && field<int64_t>(p, L_.object_ob_refcnt) <= 0) return WalkError::TornChain;
    CodeCheck why{};
    SampledCode* code = codes_.lookup(r, field<uint64_t>(p, L_.frame_f_code), why);
    if (!code) return why == CodeCheck::NotCode ? WalkError::NotCode : WalkError::Unreadable;
    std::optional<uint32_t> id;
    if (field<uint64_t>(p, L_.frame_f_trace)) {
      // A traced frame keeps f_lineno up to date itself (frames.cpp reads it the same way).
      id = codes_.frame_id_for_line(*code, field<int32_t>(p, L_.frame_f_lineno));
    } else {
      int32_t lasti = field<int32_t>(p, L_.frame_f_lasti);
      if (lasti < -1 || lasti > (1 << 26)) return WalkError::BadOffset;
      id = codes_.frame_id(*code, rules_.lasti_offset(lasti));
    }
    if (!id) return WalkError::BadLine;
    out.frames.push_back(*id);
    out.entry.push_back(1);  // one evaluation loop per frame object
    out.addresses.push_back(frame);
    out.coroutine.push_back(code->coroutine);
    oldest = code;
    oldest_frame = frame;
    if (!generator_links_.empty() && generator_links_.back().back == frame && !generator_links_.back().back_code)
      generator_links_.back().back_code = field<uint64_t>(p, L_.frame_f_code);
    uint64_t back = field<uint64_t>(p, L_.frame_f_back);
    if (code->generator && back && generator_links_.size() < generator_links_.capacity())
      generator_links_.push_back({frame, back, field<uint64_t>(p, L_.frame_f_code), 0});
    frame = back;
  }
  // A generator's frame is linked to its caller (f_back) only while it runs, and a thread never
  // starts in one: a chain ending at one was read after the generator yielded, cut off from the
  // frames that ran it.
  if (oldest && oldest->generator) return WalkError::TornChain;
  if (oldest_frame && !known_root(t, oldest_frame)) return WalkError::TornChain;
  return confirm_generator_frames(r);
}

// The header of the interpreter frame at `frame`: from a data-stack chunk when the frame lives in
// one (the whole used part of a chunk is read at once), else read on its own (generator frames, the
// C-stack shim frames of 3.12+).
const std::byte* LiveStacks::interpreter_frame(TickReader& r, uint64_t frame) {
  uint64_t end = frame + static_cast<uint64_t>(iframe_len_);
  for (const Chunk& c : chunks_) {
    if (frame >= c.addr && end <= c.end) return c.data + (frame - c.addr);
  }
  // Chunks are walked newest first, and inside one the oldest frame is at the lowest address: the
  // first frame met in a chunk is its newest, so reading the chunk up to it covers every older frame
  // in it. The chunk's header says how large it is; a frame outside it (a generator's, a C-stack
  // shim) is read on its own and the chunk stays the candidate for the frames after it.
  uint64_t c = chunk_next_;
  if (c && chunks_.size() < max_chunks_ && frame > c && frame - c < max_chunk_bytes_) {
    int64_t header = std::max(L_.chunk_size, L_.chunk_previous) + 8;
    const std::byte* h = r.get(c, static_cast<std::size_t>(header));
    uint64_t size = h ? field<uint64_t>(h, L_.chunk_size) : 0;
    if (size <= max_chunk_bytes_ && end <= c + size) {
      // A little more than needed, so that the next sample's prefetch still covers a slightly
      // deeper stack.
      uint64_t stop = std::min(c + size, end + kChunkSlack);
      if (const std::byte* p = r.get(c, static_cast<std::size_t>(stop - c))) {
        chunks_.push_back({c, stop, p});
        chunk_next_ = field<uint64_t>(p, L_.chunk_previous);
        if (chunk_next_ % 8) chunk_next_ = 0;
        return p + (frame - c);
      }
    }
  }
  return r.get(frame, static_cast<std::size_t>(iframe_len_));
}

// Whether the frame `p`, whose `previous` is NULL, is where a thread's chain truly ends (the rule is
// the version's ChainRoot). Anything else was read while the thread ran on: a generator's frame
// unlinked as it yielded, or a stale frame whose link was cleared.
// 3.11's is_entry flag of an interpreter frame (false where the layout has none).
bool LiveStacks::entry_flag(const std::byte* p) const {
  return L_.iframe_is_entry != kAbsent && field<uint8_t>(p, L_.iframe_is_entry) != 0;
}

// A generator's frame is linked into a chain only while the generator runs (gi_frame_state
// FRAME_EXECUTING); read after it yielded or finished, its `previous` is cleared or stale.
WalkError LiveStacks::check_generator(TickReader& r, uint64_t frame, uint64_t previous) {
  if (!gen_state_known_) return WalkError::None;
  int8_t state = 0;
  if (!r.read(frame + static_cast<uint64_t>(gen_state_from_frame_), state)) return WalkError::Unreadable;
  if (state != traits_.generator_executing) return WalkError::NotRunning;
  if (generators_.size() < generators_.capacity()) generators_.push_back({frame, previous, 0, 0});
  return WalkError::None;
}

// The frames below a running generator cannot change while it runs, but the walk reads them after
// the generator's own frame (a data-stack chunk, a C-stack shim: other ranges, read later): had the
// generator finished in between, its caller may have returned and another function taken the
// caller's place (`work;fib;<genexpr>`). Each generator still running after everything was read
// says the frames below it were read while it ran -- unless it is another generator at the same
// address (a freed generator's memory is soon reused, by another thread too, whose frames the chain
// then runs into). So the thread's newest frame must also be the one the walk started from: with the
// GIL, a thread cannot be running another thread's generator.
WalkError LiveStacks::confirm_generators(TickReader& r, const LiveThread& t) {
  if (stopped_ || generators_.empty()) return WalkError::None;  // a stopped process does not change
  // Each generator's state and its frame's link to its caller, as the walk followed it: a generator
  // at the same address in another thread links elsewhere.
  const int64_t lo = std::min(gen_state_from_frame_, L_.iframe_previous);
  const int64_t len = std::max(gen_state_from_frame_ + 1, L_.iframe_previous + 8) - lo;
  std::byte buf[256];
  if (len > static_cast<int64_t>(sizeof buf)) return WalkError::BadFrame;  // never: a few bytes apart
  for (const Generator& g : generators_) {
    if (!r.read_fresh(g.frame + static_cast<uint64_t>(lo), buf, static_cast<std::size_t>(len)))
      return WalkError::Unreadable;
    const std::byte* p = buf - lo;
    if (field<int8_t>(p, gen_state_from_frame_) != traits_.generator_executing) return WalkError::NotRunning;
    if (field<uint64_t>(p, L_.iframe_previous) != g.previous) return WalkError::NotRunning;
    // The frame that runs it still runs what the walk read there: a data-stack chunk is read once
    // for all its frames, possibly after the generator finished and another call took its caller's
    // place.
    if (g.caller) {
      uint64_t code = 0;
      if (!r.read_fresh(g.caller + static_cast<uint64_t>(rules_.code_field), reinterpret_cast<std::byte*>(&code),
                        sizeof code))
        return WalkError::Unreadable;
      if (code != g.caller_code) return WalkError::NotRunning;
    }
  }
  if (t.cframe) {
    // 3.11-3.12: the cframe is the evaluation loop's, on the C stack; once that loop returns, its
    // memory still names the frame it ran, so the thread state must still point to it.
    uint64_t cframe = 0;
    if (!r.read_fresh(t.tstate + static_cast<uint64_t>(L_.tstate_cframe), reinterpret_cast<std::byte*>(&cframe),
                      sizeof cframe))
      return WalkError::Unreadable;
    if (cframe != t.cframe) return WalkError::NotRunning;
  }
  if (t.first_frame_at) {
    uint64_t newest = 0;
    if (!r.read_fresh(t.first_frame_at, reinterpret_cast<std::byte*>(&newest), sizeof newest))
      return WalkError::Unreadable;
    if (newest != t.first_frame) return WalkError::NotRunning;
  }
  if (r.age() > kMaxConfirmWindow) return WalkError::NotRunning;
  return WalkError::None;
}

WalkError LiveStacks::walk_interpreter_frames(TickReader& r, const LiveThread& t, WalkedStack& out) {
  chunks_.clear();
  generators_.clear();
  chunk_next_ = L_.chunk_size != kAbsent && L_.chunk_previous != kAbsent && t.chunk % 8 == 0 ? t.chunk : 0;
  for (uint64_t frame = t.first_frame; frame;) {
    if (frame % 8) return WalkError::BadFrame;
    if (!visited_->insert(frame)) return WalkError::Loop;
    if (static_cast<int>(out.frames.size()) >= max_frames_) return WalkError::TooDeep;
    const std::byte* p = interpreter_frame(r, frame);
    if (!p) return WalkError::Unreadable;
    const uint64_t frame_addr = frame;
    uint64_t previous = field<uint64_t>(p, L_.iframe_previous);
    frame = previous;
    int owner = 0;
    if (L_.iframe_owner != kAbsent) {
      owner = field<uint8_t>(p, L_.iframe_owner);
      if (owner > kMaxOwner) return WalkError::BadFrame;
    }
    if (previous == 0 && !rules_.ends_chain(owner, entry_flag(p))) return WalkError::TornChain;
    if (rules_.hidden(owner)) {
      // A C-stack shim: the frame just newer than it is where a C call entered Python.
      if (!out.entry.empty()) out.entry.back() = 1;
      continue;
    }
    // The generator just newer than this frame runs in this frame's call: remember what it runs.
    if (!generators_.empty() && generators_.back().caller == 0) {
      generators_.back().caller = frame_addr;
      generators_.back().caller_code = field<uint64_t>(p, rules_.code_field);
    }
    if (rules_.generator_owned(owner)) {
      if (WalkError e = check_generator(r, frame_addr, previous); e != WalkError::None) return e;
    }
    const uint64_t executable = rules_.executable(field<uint64_t>(p, rules_.code_field));
    CodeCheck why{};
    SampledCode* code = codes_.lookup(r, executable, why);
    if (!code) {
      // 3.13+ frames may run something that is not code (None for a trampoline): Python hides them.
      if (why == CodeCheck::NotCode && symbols_.none_object && executable == symbols_.none_object &&
          traits_.frame_model == FrameModel::CurrentFrame)
        continue;
      return why == CodeCheck::NotCode ? WalkError::NotCode : WalkError::Unreadable;
    }
    uint64_t start = code->code_start;
    if (L_.iframe_tlbc_index != kAbsent && L_.code_co_tlbc != kAbsent && L_.codearray_entries != kAbsent) {
      // 3.14t: the thread's own copy of the bytecode (code.hpp: bytecode_start), read every time:
      // a thread that exits frees its copies and a new thread may reuse its index.
      int32_t index = field<int32_t>(p, L_.iframe_tlbc_index);
      if (index != 0) {
        uint64_t array = 0;
        int64_t size = 0;
        if (index < 0) return WalkError::BadFrame;
        if (!r.read(executable + L_.code_co_tlbc, array) || array == 0 || array % 8) return WalkError::Unreadable;
        if (L_.codearray_size != kAbsent && (!r.read(array + L_.codearray_size, size) || index >= size))
          return WalkError::BadFrame;
        if (!r.read(array + L_.codearray_entries + 8 * static_cast<uint64_t>(index), start) || start == 0)
          return WalkError::Unreadable;
      }
    }
    const int64_t offset = FrameRules::instruction_offset(field<uint64_t>(p, rules_.instr_field), start);
    if (offset < -2 || (code->code_bytes >= 0 && offset > code->code_bytes) || offset > (int64_t{1} << 27))
      return WalkError::BadOffset;
    if (rules_.not_started(owner, offset, code->first_traceable)) continue;
    auto id = codes_.frame_id(*code, FrameRules::line_offset(offset));
    if (!id) return WalkError::BadLine;
    out.frames.push_back(*id);
    out.entry.push_back(entry_flag(p));
    out.addresses.push_back(frame_addr);
    out.coroutine.push_back(code->coroutine);
  }
  return confirm_generators(r, t);
}

}  // namespace pyxray
