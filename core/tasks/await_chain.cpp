#include "tasks/await_chain.hpp"

#include <unordered_set>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/code.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

constexpr uint64_t kPointer = 8;

// The objects whose frames make up a chain; the others are links to follow or its end.
enum class Link { Generator, Wrapper, AsyncSend, AsyncThrow, FutureIter, Other };

Link link_kind(std::string_view type) {
  if (type == "coroutine" || type == "generator" || type == "async_generator") return Link::Generator;
  if (type == "coroutine_wrapper") return Link::Wrapper;  // <= 3.7 with coroutine wrappers set
  if (type == "async_generator_asend") return Link::AsyncSend;
  if (type == "async_generator_athrow") return Link::AsyncThrow;
  if (type == "_asyncio.FutureIter" || type == "FutureIter") return Link::FutureIter;
  return Link::Other;
}

class Chain {
 public:
  Chain(PythonProcess& proc, Objects& objects, CodeCache& codes)
      : proc_(proc), objects_(objects), codes_(codes), L_(proc.layout()), m_(proc.mem()), traits_(proc.traits()) {}

  Expected<uint64_t> frame_of(uint64_t gen) {
    if (traits_.frame_model == FrameModel::FrameObjects) {
      if (L_.gen_gi_frame == kAbsent) return fail("the layout has no generator frame");
      return m_.read_ptr(gen + L_.gen_gi_frame);  // NULL once finished
    }
    if (L_.gen_gi_iframe == kAbsent || L_.gen_gi_frame_state == kAbsent)
      return fail("the layout has no generator frame");
    PYX_TRY(state, m_.read<int8_t>(gen + L_.gen_gi_frame_state));
    if (state >= traits_.generator_finished) return uint64_t{0};
    return gen + static_cast<uint64_t>(L_.gen_gi_iframe);
  }

  AwaitChain follow(uint64_t coro) {
    std::vector<PyFrame> outer_first;
    std::unordered_set<uint64_t> seen;
    const auto max = static_cast<std::size_t>(limits().await_chain);
    uint64_t obj = coro;
    while (obj != 0) {
      if (!seen.insert(obj).second) {
        chain_.warning = fmt::format("the await chain loops at 0x{:x}", obj);
        break;
      }
      if (seen.size() > max) {
        chain_.warning = fmt::format("await chain cut at {} ({})", max, raise_hint("await-chain"));
        break;
      }
      auto type = objects_.type_name(obj);
      if (!type) {
        chain_.warning = fmt::format("awaited object 0x{:x}: {}", obj, type.error().message);
        break;
      }
      auto next = step(obj, link_kind(*type), outer_first);
      if (!next) {
        chain_.warning = fmt::format("{} at 0x{:x}: {}", *type, obj, next.error().message);
        break;
      }
      obj = *next;
    }
    chain_.frames.assign(outer_first.rbegin(), outer_first.rend());
    return std::move(chain_);
  }

 private:
  // The next object of the chain after `obj` (0: the chain ends), adding obj's frame if it has one.
  Expected<uint64_t> step(uint64_t obj, Link kind, std::vector<PyFrame>& frames) {
    switch (kind) {
      case Link::Generator: {
        PYX_TRY(frame, frame_of(obj));
        if (frame == 0) return uint64_t{0};  // finished: nothing more to show
        PyStack one = walk_frames_from(proc_, codes_, frame, 1);
        if (one.frames.empty()) return uint64_t{0};  // not started yet
        frames.push_back(one.frames.front());
        return awaited_by_frame(obj, frame, one.frames.front());
      }
      case Link::Wrapper: return read_field(obj, L_.coro_wrapper_cw_coroutine);
      case Link::AsyncSend: return read_field(obj, L_.asyncgen_asend_ags_gen);
      case Link::AsyncThrow: return read_field(obj, L_.asyncgen_athrow_agt_gen);
      case Link::FutureIter: {
        PYX_TRY(future, read_field(obj, L_.futureiter_future));
        chain_.awaited = future;
        return uint64_t{0};
      }
      case Link::Other: chain_.awaited = obj; return uint64_t{0};
    }
    return uint64_t{0};
  }

  Expected<uint64_t> read_field(uint64_t obj, int64_t field) {
    if (field == kAbsent) return fail("the layout does not have this field");
    return m_.read_ptr(obj + static_cast<uint64_t>(field));
  }

  // What a suspended frame awaits, by the version's rule; 0 when it is not in an await.
  Expected<uint64_t> awaited_by_frame(uint64_t gen, uint64_t frame, const PyFrame& pf) {
    switch (traits_.yield_from_rule) {
      case YieldFromRule::NoAwait: return uint64_t{0};
      case YieldFromRule::NextOpcode: {
        if (pf.instr_offset < 0) return uint64_t{0};
        PYX_TRY(code_bytes, m_.read_ptr(pf.code_addr + L_.code_co_code));
        PYX_TRY(next, m_.read<uint8_t>(code_bytes + L_.bytes_ob_sval + pf.instr_offset + 2));
        if (next != traits_.yield_from_opcode) return uint64_t{0};
        break;
      }
      case YieldFromRule::ResumeOparg: {
        PYX_TRY(instr, m_.read_ptr(frame + L_.iframe_prev_instr));
        PYX_TRY(next, m_.read<uint16_t>(instr + 2));  // opcode, then oparg
        if ((next & 0xff) != traits_.yield_from_opcode || (next >> 8) < 2) return uint64_t{0};
        break;
      }
      case YieldFromRule::FrameState: {
        PYX_TRY(state, m_.read<int8_t>(gen + L_.gen_gi_frame_state));
        if (state < traits_.generator_yield_from_first || state > traits_.generator_yield_from_last) return uint64_t{0};
        break;
      }
    }
    PYX_TRY(top, stack_top(frame));
    const uint64_t entry = top - kPointer * static_cast<uint64_t>(traits_.yield_from_depth);
    PYX_TRY(value, m_.read_ptr(entry));
    return traits_.stackref_tagged ? value & ~uint64_t{3} : value;
  }

  // The address just above the last entry of the frame's value stack, from whichever field the
  // version keeps it in.
  Expected<uint64_t> stack_top(uint64_t frame) {
    if (L_.frame_f_stacktop != kAbsent) {  // <= 3.9
      PYX_TRY(top, m_.read_ptr(frame + L_.frame_f_stacktop));
      if (top == 0) return fail("the frame has no stack top");
      return top;
    }
    if (L_.frame_f_stackdepth != kAbsent && L_.frame_f_valuestack != kAbsent) {  // 3.10
      PYX_TRY(base, m_.read_ptr(frame + L_.frame_f_valuestack));
      PYX_TRY(depth, m_.read<int32_t>(frame + L_.frame_f_stackdepth));
      if (depth <= 0) return fail("the frame's stack is empty");
      return base + kPointer * static_cast<uint64_t>(depth);
    }
    if (L_.iframe_stacktop != kAbsent) {  // 3.11-3.13: an index into localsplus
      PYX_TRY(index, m_.read<int32_t>(frame + L_.iframe_stacktop));
      if (index <= 0) return fail("the frame's stack is empty");
      return frame + static_cast<uint64_t>(L_.iframe_localsplus) + kPointer * static_cast<uint64_t>(index);
    }
    if (L_.iframe_stackpointer != kAbsent) {  // 3.14+
      PYX_TRY(pointer, m_.read_ptr(frame + L_.iframe_stackpointer));
      if (pointer <= frame + static_cast<uint64_t>(L_.iframe_localsplus)) return fail("the frame's stack is empty");
      return pointer;
    }
    return fail("the layout has no frame stack top");
  }

  PythonProcess& proc_;
  Objects& objects_;
  CodeCache& codes_;
  const Layout& L_;
  Memory& m_;
  const VersionTraits& traits_;
  AwaitChain chain_;
};

}  // namespace

Expected<uint64_t> generator_frame(PythonProcess& proc, Objects& objects, uint64_t gen) {
  PYX_TRY(type, objects.type_name(gen));
  if (link_kind(type) != Link::Generator) return uint64_t{0};
  CodeCache codes(proc, objects);
  return Chain(proc, objects, codes).frame_of(gen);
}

AwaitChain follow_awaits(PythonProcess& proc, Objects& objects, CodeCache& codes, uint64_t coro) {
  return Chain(proc, objects, codes).follow(coro);
}

}  // namespace pyxray
