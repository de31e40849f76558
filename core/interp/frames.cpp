#include "interp/frames.hpp"

#include <unordered_set>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/code.hpp"
#include "interp/frame_rules.hpp"
#include "interp/python_process.hpp"
#include "interp/threads.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

class Walker {
 public:
  Walker(PythonProcess& proc, CodeCache& codes, int max_frames)
      : proc_(proc),
        L_(proc.layout()),
        m_(proc.mem()),
        codes_(codes),
        traits_(proc.traits()),
        rules_(L_, traits_),
        max_frames_(max_frames) {}

  PyStack walk(const ThreadState& t) {
    if (traits_.frame_model == FrameModel::FrameObjects) {
      auto f = m_.read_ptr(t.addr + L_.tstate_frame);
      if (!f) return stopped(f.error());
      return walk_from(*f);
    }
    prefetch_data_stack(t);
    auto first = first_interpreter_frame(t);
    if (!first) return stopped(first.error());
    return walk_from(*first);
  }

  PyStack walk_from(uint64_t first) {
    switch (traits_.frame_model) {
      case FrameModel::FrameObjects: walk_frame_objects(first); break;
      case FrameModel::CFrame:
      case FrameModel::CurrentFrame: walk_interpreter_frames(first); break;
    }
    return std::move(stack_);
  }

 private:
  // Returns false when the walk must stop (loop, limit).
  bool visit(uint64_t frame) {
    if (!seen_.insert(frame).second) {
      stack_.warning = fmt::format("the frame chain loops at 0x{:x}", frame);
      return false;
    }
    if (static_cast<int>(stack_.frames.size()) >= max_frames_) {
      stack_.warning = fmt::format("stack cut at {} frames ({})", max_frames_, raise_hint("frames"));
      return false;
    }
    return true;
  }

  void stop(const Error& e) { stack_.warning = e.message; }
  // A frame without its line because of the line-table limit: the first such one is named (a cut
  // stack's own warning, set later, takes its place).
  void note_line_warning(const CodeInfo& code) {
    if (!stack_.warning) stack_.warning = code.line_warning();
  }
  PyStack stopped(const Error& e) {
    stop(e);
    return std::move(stack_);
  }

  void walk_frame_objects(uint64_t first) {
    for (uint64_t frame = first; frame && visit(frame);) {
      auto code_addr = m_.read_ptr(frame + L_.frame_f_code);
      if (!code_addr) return stop(code_addr.error());
      auto code = codes_.get(*code_addr);
      if (!code) return stop(code.error());
      PyFrame pf{frame, *code, *code_addr, std::nullopt, /*is_entry=*/true};  // one C call per frame
      pf.instr_offset = rules_.lasti_offset(m_.read<int32_t>(frame + L_.frame_f_lasti).value_or(-1));
      uint64_t trace = m_.read_ptr(frame + L_.frame_f_trace).value_or(0);
      if (trace) {  // a traced frame keeps its line up to date itself
        pf.line = m_.read<int32_t>(frame + L_.frame_f_lineno).value_or(0);
      } else {
        pf.line = (*code)->line_at(pf.instr_offset);
        note_line_warning(**code);
      }
      stack_.frames.push_back(pf);
      auto back = m_.read_ptr(frame + L_.frame_f_back);
      if (!back) return stop(back.error());
      frame = *back;
    }
  }

  void prefetch_data_stack(const ThreadState& t) {
    if (L_.tstate_datastack_chunk == kAbsent) return;
    // Chunks are 16 KiB by default and grow for deep stacks; past the limits the frames are still
    // walked, one read each.
    const int64_t max_chunks = limits().data_stack_chunks;
    const auto max_bytes = static_cast<uint64_t>(limits().data_stack);
    uint64_t chunk = m_.read_ptr(t.addr + L_.tstate_datastack_chunk).value_or(0);
    for (int64_t i = 0; chunk && i < max_chunks; ++i) {
      uint64_t size = m_.read<uint64_t>(chunk + L_.chunk_size).value_or(0);
      if (size == 0 || size > max_bytes) break;
      m_.prefetch(chunk, size);
      chunk = m_.read_ptr(chunk + L_.chunk_previous).value_or(0);
    }
  }

  Expected<uint64_t> first_interpreter_frame(const ThreadState& t) {
    if (traits_.frame_model == FrameModel::CurrentFrame) return m_.read_ptr(t.addr + L_.tstate_current_frame);
    PYX_TRY(cframe, m_.read_ptr(t.addr + L_.tstate_cframe));
    if (cframe == 0) return uint64_t{0};
    return m_.read_ptr(cframe + L_.cframe_current_frame);
  }

  void walk_interpreter_frames(uint64_t first) {
    uint64_t code_type = proc_.type_addr("PyCode_Type");
    for (uint64_t frame = first; frame && visit(frame);) {
      auto next = m_.read_ptr(frame + L_.iframe_previous);
      if (!next) return stop(next.error());
      if (auto pf = interpreter_frame(frame, code_type); !pf) {
        return stop(pf.error());
      } else if (pf->code) {
        stack_.frames.push_back(*pf);
      } else if (pf->is_entry && !stack_.frames.empty()) {
        // 3.12+: each evaluation-loop call starts with a shim frame; the frame just newer than it
        // is where that C call entered Python.
        stack_.frames.back().is_entry = true;
      }
      frame = *next;
    }
  }

  // A frame as sys._current_frames() would show it, or a PyFrame with no code for frames Python
  // hides: C-stack shims, frames of non-code executables, and frames that have not started yet.
  Expected<PyFrame> interpreter_frame(uint64_t frame, uint64_t code_type) {
    PyFrame pf{frame, nullptr, 0, std::nullopt, false};
    int owner = 0;
    if (L_.iframe_owner != kAbsent) {
      PYX_TRY(o, m_.read<uint8_t>(frame + L_.iframe_owner));
      owner = o;
      if (rules_.hidden(owner)) {
        pf.is_entry = true;  // marks the boundary; the frame itself is not shown
        return pf;
      }
    }
    PYX_TRY(field, m_.read_ptr(frame + rules_.code_field));
    const uint64_t executable = rules_.executable(field);
    if (code_type) {
      PYX_TRY(type, m_.read_ptr(executable + L_.object_ob_type));
      if (type != code_type) return pf;
    }
    PYX_TRY(code, codes_.get(executable));
    PYX_TRY(instr, m_.read_ptr(frame + rules_.instr_field));
    uint64_t start = code->code_start;
    if (L_.iframe_tlbc_index != kAbsent) {  // 3.14t: the thread's own copy of the bytecode
      PYX_TRY(index, m_.read<int32_t>(frame + L_.iframe_tlbc_index));
      PYX_TRY(copy, bytecode_start(m_, L_, executable, start, index));
      start = copy;
    }
    const int64_t offset = FrameRules::instruction_offset(instr, start);
    if (rules_.not_started(owner, offset, code->first_traceable)) return pf;
    if (L_.iframe_is_entry != kAbsent) pf.is_entry = m_.read<uint8_t>(frame + L_.iframe_is_entry).value_or(0);
    pf.code = code;
    pf.code_addr = executable;
    pf.instr_offset = FrameRules::line_offset(offset);
    pf.line = code->line_at(pf.instr_offset);
    note_line_warning(*code);
    return pf;
  }

  PythonProcess& proc_;
  const Layout& L_;
  Memory& m_;
  CodeCache& codes_;
  const VersionTraits& traits_;
  FrameRules rules_;
  int max_frames_;
  PyStack stack_;
  std::unordered_set<uint64_t> seen_;
};

}  // namespace

PyStack walk_stack(PythonProcess& proc, CodeCache& codes, const ThreadState& thread, int max_frames) {
  return Walker(proc, codes, max_frames).walk(thread);
}

PyStack walk_frames_from(PythonProcess& proc, CodeCache& codes, uint64_t first_frame, int max_frames) {
  return Walker(proc, codes, max_frames).walk_from(first_frame);
}

}  // namespace pyxray
