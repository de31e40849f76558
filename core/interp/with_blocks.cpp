#include "interp/with_blocks.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_set>

#include <fmt/format.h>

#include "base/limits.hpp"
#include "interp/code.hpp"
#include "interp/exception_table.hpp"
#include "interp/frames.hpp"
#include "interp/objects.hpp"
#include "interp/python_process.hpp"
#include "layout/layout.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

constexpr uint64_t kTpFlagsHeapType = uint64_t{1} << 9;
constexpr std::size_t kPointer = 8;

bool is_exit_name(std::string_view name) { return name == "__exit__" || name == "__aexit__"; }

class WithReader {
 public:
  WithReader(PythonProcess& proc, Objects& objects, const PyFrame& frame)
      : proc_(proc), objects_(objects), m_(proc.mem()), L_(proc.layout()), traits_(proc.traits()), frame_(frame) {}

  Expected<std::vector<EnteredContext>> read() {
    if (!frame_.code || !frame_.code_addr) return fail("the frame has no code object");
    if (traits_.frame_model == FrameModel::FrameObjects) return from_block_stack();
    return from_exception_table();
  }

 private:
  // <= 3.10: every block on the frame's block stack, oldest first. A with block's b_level counts the
  // value-stack entries under it, its bound __exit__ the topmost of them (SETUP_WITH and
  // SETUP_ASYNC_WITH push the block right after it): live for as long as the block is.
  Expected<std::vector<EnteredContext>> from_block_stack() {
    for (int64_t field : {L_.frame_f_iblock, L_.frame_f_blockstack, L_.frame_f_valuestack, L_.tryblock_size,
                          L_.tryblock_b_type, L_.tryblock_b_handler, L_.tryblock_b_level, L_.code_co_code})
      if (field == kAbsent) return fail("the layout has no frame block stack");
    const uint64_t frame = frame_.addr;
    PYX_TRY(iblock, m_.read<int32_t>(frame + L_.frame_f_iblock));
    if (iblock < 0 || iblock > traits_.frame_max_blocks)
      return fail(fmt::format("frame 0x{:x} has {} blocks (at most {})", frame, iblock, traits_.frame_max_blocks));
    std::vector<EnteredContext> out;
    if (iblock == 0) return out;
    PYX_TRY(stack, m_.read_ptr(frame + L_.frame_f_valuestack));
    PYX_TRY(stacksize, m_.read<int32_t>(frame_.code_addr + L_.code_co_stacksize));
    PYX_TRY(code_bytes, bytecode_of_frame_object());
    int level_below = 0;
    for (int i = 0; i < iblock; ++i) {
      const uint64_t block = frame + L_.frame_f_blockstack + static_cast<uint64_t>(i) * L_.tryblock_size;
      PYX_TRY(type, m_.read<int32_t>(block + L_.tryblock_b_type));
      PYX_TRY(handler, m_.read<int32_t>(block + L_.tryblock_b_handler));
      PYX_TRY(level, m_.read<int32_t>(block + L_.tryblock_b_level));
      // Blocks nest: each one's level is at least its outer block's, and within the code's stack.
      if (level < level_below || level > stacksize)
        return fail(fmt::format("frame 0x{:x}: block {} has stack level {} (outer block {}, stack size {})", frame, i,
                                level, level_below, stacksize));
      level_below = level;
      if (type != traits_.with_block_type) continue;
      const int64_t handler_byte = traits_.frame_lasti_in_code_units ? int64_t{handler} * 2 : handler;
      if (handler_byte < 0 || handler_byte >= code_bytes.size)
        return fail(fmt::format("frame 0x{:x}: block {} has its handler at {}, past the code's {} bytes", frame, i,
                                handler_byte, code_bytes.size));
      PYX_TRY(opcode, m_.read<uint8_t>(code_bytes.start + static_cast<uint64_t>(handler_byte)));
      if (opcode != traits_.with_handler_opcode) continue;  // a try block, not a with block
      if (level < 1) return fail(fmt::format("frame 0x{:x}: with block {} has an empty stack under it", frame, i));
      const int slot = level - 1;
      PYX_TRY(exit, m_.read_ptr(stack + static_cast<uint64_t>(slot) * kPointer));
      PYX_TRY(manager, manager_of_bound_exit(exit));
      if (manager) out.push_back({*manager, exit, slot});
    }
    return out;
  }

  struct CodeBytes {
    uint64_t start = 0;
    int64_t size = 0;
  };

  // <= 3.10: the bytes of co_code.
  Expected<CodeBytes> bytecode_of_frame_object() {
    PYX_TRY(bytes, m_.read_ptr(frame_.code_addr + L_.code_co_code));
    const int64_t sval = traits_.str_is_bytes ? L_.string27_ob_sval : L_.bytes_ob_sval;
    if (sval == kAbsent) return fail("the layout has no bytes contents offset");
    PYX_TRY(size, m_.read<int64_t>(bytes + L_.varobject_ob_size));
    if (size < 0 || size > (int64_t{1} << 31)) return fail(fmt::format("co_code of {} bytes", size));
    return CodeBytes{bytes + static_cast<uint64_t>(sval), size};
  }

  // 3.11+: the handlers an exception raised at the frame's instruction would go through, innermost
  // first: the entry covering the instruction, then the entry covering that handler's first
  // instruction, and so on, which is the nesting of try and with statements around it. A with
  // statement's handler begins PUSH_EXC_INFO, WITH_EXCEPT_START and keeps its exit entries at the top
  // of its depth. Slots under the covering entry's depth are live all through its range; a with found
  // further out must keep no more than that (an outer block's depth never exceeds an inner one's).
  Expected<std::vector<EnteredContext>> from_exception_table() {
    for (int64_t field : {L_.code_co_exceptiontable, L_.iframe_localsplus, L_.code_co_nlocalsplus, L_.code_co_stacksize,
                          L_.varobject_ob_size, L_.bytes_ob_sval})
      if (field == kAbsent) return fail("the layout has no exception table or frame stack");
    std::vector<EnteredContext> out;
    if (frame_.instr_offset < 0) return out;  // not started
    const uint64_t code = frame_.code_addr;
    PYX_TRY(code_units, m_.read<int64_t>(code + L_.varobject_ob_size));
    if (code_units <= 0 || code_units > (int64_t{1} << 27))
      return fail(fmt::format("code object 0x{:x} has {} code units", code, code_units));
    const int index = frame_.instr_offset / 2;
    if (index >= code_units)
      return fail(fmt::format("frame 0x{:x}: instruction {} past the code's {} units", frame_.addr, index, code_units));
    PYX_TRY(table, exception_table(code, static_cast<int>(code_units)));
    PYX_TRY(nlocalsplus, m_.read<int32_t>(code + L_.code_co_nlocalsplus));
    PYX_TRY(stacksize, m_.read<int32_t>(code + L_.code_co_stacksize));
    if (nlocalsplus < 0 || stacksize < 0) return fail(fmt::format("code object 0x{:x} has a negative size", code));
    const uint64_t stack = frame_.addr + L_.iframe_localsplus + static_cast<uint64_t>(nlocalsplus) * kPointer;

    const ExceptionHandler* h = handler_at(table, index);
    if (!h) return out;
    int live = h->depth;
    if (live > stacksize)
      return fail(fmt::format("frame 0x{:x}: handler depth {} past the stack size {}", frame_.addr, live, stacksize));
    std::unordered_set<const ExceptionHandler*> seen;
    for (; h && seen.insert(h).second; h = handler_at(table, h->target)) {
      PYX_TRY(is_with, is_with_handler(code_units, h->target));
      if (is_with) {
        if (h->depth > live || h->depth < traits_.with_exit_slots)
          return fail(fmt::format("frame 0x{:x}: a with block's handler at {} keeps {} entries, {} are live",
                                  frame_.addr, h->target, h->depth, live));
        const int slot = h->depth - traits_.with_exit_slots;
        PYX_TRY(entered, exit_entry(stack, slot));
        if (entered) out.push_back(*entered);
      }
      live = std::min(live, h->depth);
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  Expected<std::vector<ExceptionHandler>> exception_table(uint64_t code, int code_units) {
    PYX_TRY(bytes, m_.read_ptr(code + L_.code_co_exceptiontable));
    PYX_TRY(size, m_.read<int64_t>(bytes + L_.varobject_ob_size));
    if (size < 0) return fail(fmt::format("code object 0x{:x} has an exception table of {} bytes", code, size));
    if (size > limits().exception_table)
      return fail(fmt::format("code object 0x{:x} has an exception table of {} bytes ({})", code, size,
                              raise_hint("exception-table")));
    PYX_TRY(data, m_.read_bytes(bytes + L_.bytes_ob_sval, static_cast<std::size_t>(size)));
    return parse_exception_table(data, code_units);
  }

  Expected<bool> is_with_handler(int64_t code_units, int target) {
    if (target + 1 >= code_units) return false;
    const uint64_t at = frame_.code->code_start + static_cast<uint64_t>(target) * 2;
    PYX_TRY(first, m_.read<uint8_t>(at));
    if (first != traits_.with_handler_opcode) return false;
    PYX_TRY(second, m_.read<uint8_t>(at + 2));
    return second == traits_.with_handler_next_opcode;
  }

  Expected<uint64_t> slot_value(uint64_t stack, int slot) {
    PYX_TRY(v, m_.read_ptr(stack + static_cast<uint64_t>(slot) * kPointer));
    return traits_.stackref_tagged ? v & ~uint64_t{3} : v;  // _PyStackRef's tag bits; NULL is 0 after them
  }

  // The with statement's exit entries at `slot`: a bound __exit__ (<= 3.13), or the __exit__
  // function / method descriptor and its self (3.14+).
  Expected<std::optional<EnteredContext>> exit_entry(uint64_t stack, int slot) {
    PYX_TRY(exit, slot_value(stack, slot));
    if (traits_.with_exit_slots == 1) {
      PYX_TRY(manager, manager_of_bound_exit(exit));
      if (!manager) return std::optional<EnteredContext>{};
      return std::optional<EnteredContext>{EnteredContext{*manager, exit, slot}};
    }
    PYX_TRY(self, slot_value(stack, slot + 1));
    if (!self || !exit) return std::optional<EnteredContext>{};  // __exit__ was no method: no self to name
    PYX_TRY(named, is_exit_function(exit));
    if (!named) return std::optional<EnteredContext>{};
    return std::optional<EnteredContext>{EnteredContext{self, exit, slot}};
  }

  // A builtin type, by its exported symbol, else (a build that does not export it) by the name of a
  // static type: a class of the same name is a heap type.
  Expected<bool> is_type(uint64_t type, const char* symbol, std::string_view name) {
    if (uint64_t known = proc_.type_addr(symbol)) return type == known;
    PYX_TRY(flags, m_.read<uint64_t>(type + L_.type_tp_flags));
    if (flags & kTpFlagsHeapType) return false;
    PYX_TRY(type_name, objects_.type_name_of_type(type));
    return type_name == name;
  }

  Expected<bool> function_named_exit(uint64_t fn) {
    PYX_TRY(name, m_.read_ptr(fn + L_.function_func_name));
    PYX_TRY(text, objects_.read_text(name, 16));
    return is_exit_name(text);
  }

  Expected<bool> methoddef_named_exit(uint64_t def) {
    if (!def) return false;
    PYX_TRY(name, m_.read_ptr(def + L_.methoddef_ml_name));
    PYX_TRY(text, m_.read_cstring(name, 16));
    return is_exit_name(text);
  }

  // <= 3.13's exit entry: __exit__ looked up on the manager and bound to it. A method of a Python
  // class is a method object (im_self), one of a C type (a lock) a builtin method (m_self).
  Expected<std::optional<uint64_t>> manager_of_bound_exit(uint64_t exit) {
    const std::optional<uint64_t> none;
    if (!exit) return none;
    PYX_TRY(type, objects_.type_of(exit));
    const bool py2 = traits_.str_is_bytes;
    PYX_TRY(is_method, is_type(type, "PyMethod_Type", py2 ? "instancemethod" : "method"));
    if (is_method && L_.method_im_func != kAbsent && L_.method_im_self != kAbsent) {
      PYX_TRY(func, m_.read_ptr(exit + L_.method_im_func));
      PYX_TRY(self, m_.read_ptr(exit + L_.method_im_self));
      if (!func || !self) return none;
      PYX_TRY(func_type, objects_.type_of(func));
      PYX_TRY(is_function, is_type(func_type, "PyFunction_Type", "function"));
      if (!is_function) return none;
      PYX_TRY(named, function_named_exit(func));
      return named ? std::optional<uint64_t>{self} : none;
    }
    PYX_TRY(is_builtin, is_type(type, "PyCFunction_Type", "builtin_function_or_method"));
    if (is_builtin && L_.cfunction_m_ml != kAbsent && L_.cfunction_m_self != kAbsent) {
      PYX_TRY(def, m_.read_ptr(exit + L_.cfunction_m_ml));
      PYX_TRY(self, m_.read_ptr(exit + L_.cfunction_m_self));
      if (!self) return none;
      PYX_TRY(named, methoddef_named_exit(def));
      return named ? std::optional<uint64_t>{self} : none;
    }
    return none;
  }

  // 3.14+'s exit entry: the unbound __exit__ LOAD_SPECIAL found on the manager's type, a function
  // (a Python class) or a method descriptor (a C type).
  Expected<bool> is_exit_function(uint64_t fn) {
    PYX_TRY(type, objects_.type_of(fn));
    PYX_TRY(is_function, is_type(type, "PyFunction_Type", "function"));
    if (is_function) return function_named_exit(fn);
    PYX_TRY(is_descriptor, is_type(type, "PyMethodDescr_Type", "method_descriptor"));
    if (!is_descriptor || L_.methoddescr_d_method == kAbsent) return false;
    PYX_TRY(def, m_.read_ptr(fn + L_.methoddescr_d_method));
    return methoddef_named_exit(def);
  }

  PythonProcess& proc_;
  Objects& objects_;
  Memory& m_;
  const Layout& L_;
  const VersionTraits& traits_;
  const PyFrame& frame_;
};

}  // namespace

Expected<std::vector<EnteredContext>> entered_contexts(PythonProcess& proc, Objects& objects, const PyFrame& frame) {
  return WithReader(proc, objects, frame).read();
}

}  // namespace pyxray
