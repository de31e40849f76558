// Where greenlet keeps a greenlet's state, per greenlet release and CPython version: rows of data.
//
// greenlet 2.x and 3.x are C++. The Python object (PyGreenlet, greenlet.h) holds `pimpl`, a pointer
// to a C++ Greenlet (greenlet_greenlet.hpp in 2.0, TGreenlet.hpp in 3.x) whose members are a vtable,
// the saved exception state and switch arguments, a StackState (the slice of the C stack it owns),
// a PythonState (the thread-state fields it swaps out on a switch) and, by subclass, UserGreenlet's
// main greenlet and parent or MainGreenlet's per-thread ThreadState. No release ships debug info,
// (Debian has no -dbgsym for python3-greenlet), so each row was measured on the real build by
// tools/greenlet_offsets.py and checked against the source of that release.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "layout/version.hpp"

namespace pyxray {

struct GreenletLayout {
  std::string_view greenlet_version;  // greenlet.__version__, exactly
  int python_minor = 0;               // the CPython 3.x the extension was built for
  // PyGreenlet
  int64_t pimpl = 0;
  // Greenlet (the C++ implementation object)
  int64_t stack_start = 0;    // StackState::_stack_start: NULL when not running or suspended (dead)
  int64_t stack_stop = 0;     // StackState::stack_stop: NULL before it starts, -1 for a main greenlet
  int64_t current_frame = 0;  // PythonState::current_frame (3.11+): the saved _PyInterpreterFrame*
  // UserGreenlet
  int64_t main_greenlet = 0;  // _main_greenlet: NULL until it starts
  int64_t parent = 0;         // _parent
  // MainGreenlet
  int64_t thread_state = 0;  // _thread_state: greenlet's per-thread ThreadState, NULL once it died
  // greenlet's ThreadState
  int64_t ts_current_greenlet = 0;  // current_greenlet: the one running on that thread
};

// The row for this greenlet release on this CPython, or nullptr when pyxray has none: its greenlets
// are listed without state or stacks, never decoded with another release's offsets.
const GreenletLayout* find_greenlet_layout(std::string_view greenlet_version, const PyVersion& python);

// The releases and Pythons pyxray knows, for the warning that names what it has ("2.0.2 on 3.11").
std::string known_greenlet_layouts();

}  // namespace pyxray
