#include "tasks/greenlet_layout.hpp"

#include <fmt/format.h>

#include <array>

namespace pyxray {
namespace {

// greenlet 2.0.2, Debian 12's python3-greenlet, on CPython 3.11 (x86-64): a vtable, ExceptionState
// {exc_info*, _PyErr_StackItem} (24), SwitchingArgs (16), StackState at 48 {_stack_start,
// stack_stop, stack_copy, _stack_saved, stack_prev}, PythonState at 88 {_context, _top_frame,
// cframe, use_tracing, recursion_depth, trash_delete_nesting, current_frame, datastack_chunk,
// datastack_top, datastack_limit}, then UserGreenlet {_self, _main_greenlet, _run_callable,
// _parent} or MainGreenlet {_self, _thread_state} at 160. Measured by
// tools/greenlet_offsets.py.
//
// greenlet 3.3.2, Debian sid's, on CPython 3.14 and 3.15 (the same offsets): Greenlet gained
// `_self` after the vtable, so StackState is at 56; PythonState at 96 {_context, _top_frame,
// py_recursion_depth, current_executor, stackpointer, delete_later, current_frame, datastack_chunk,
// datastack_top, datastack_limit}; UserGreenlet {_main_greenlet, _run_callable, _parent} or
// MainGreenlet {_self, _thread_state} at 176.
constexpr GreenletLayout greenlet_3_3_2(int minor) {
  return {.greenlet_version = "3.3.2",
          .python_minor = minor,
          .pimpl = 32,
          .stack_start = 56,
          .stack_stop = 64,
          .current_frame = 144,
          .main_greenlet = 176,
          .parent = 192,
          .thread_state = 184,
          .ts_current_greenlet = 8};
}

constexpr std::array kRows{
    GreenletLayout{.greenlet_version = "2.0.2",
                   .python_minor = 11,
                   .pimpl = 32,
                   .stack_start = 48,
                   .stack_stop = 56,
                   .current_frame = 128,
                   .main_greenlet = 168,
                   .parent = 184,
                   .thread_state = 168,
                   .ts_current_greenlet = 8},
    greenlet_3_3_2(14),
    greenlet_3_3_2(15),
};

}  // namespace

const GreenletLayout* find_greenlet_layout(std::string_view greenlet_version, const PyVersion& python) {
  for (const auto& row : kRows) {
    if (row.greenlet_version == greenlet_version && python.major == 3 && python.minor == row.python_minor) return &row;
  }
  return nullptr;
}

std::string known_greenlet_layouts() {
  std::string out;
  for (const auto& row : kRows) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} on 3.{}", row.greenlet_version, row.python_minor);
  }
  return out;
}

}  // namespace pyxray
