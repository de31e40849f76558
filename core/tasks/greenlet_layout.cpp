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
// _parent} or MainGreenlet {_self, _thread_state} at 160. Measured with ctypes against gr_frame,
// parent and getcurrent() in the process itself.
constexpr std::array kRows{
    GreenletLayout{.greenlet_version = "2.0.2",
                   .python_minor = 11,
                   .pimpl = 32,
                   .stack_start = 48,
                   .stack_stop = 56,
                   .current_frame = 128,
                   .datastack_chunk = 136,
                   .main_greenlet = 168,
                   .parent = 184,
                   .thread_state = 168,
                   .ts_current_greenlet = 8},
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
