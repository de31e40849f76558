#include "interp/gil.hpp"

#include "interp/python_process.hpp"

namespace pyxray {

GilLocation gil_location(PythonProcess& proc) {
  const Layout& L = proc.layout();
  GilLocation g;
  if (L.interp_ceval_gil != kAbsent && L.gil_locked != kAbsent) {
    g.kind = GilLocation::Kind::PerInterpreter;
    g.ceval_gil = L.interp_ceval_gil;
    g.locked = L.gil_locked;
    g.last_holder = L.gil_last_holder;
  } else if (proc.runtime_addr() && L.runtime_gilstate_tstate_current != kAbsent) {
    g.kind = GilLocation::Kind::RuntimeCurrent;
    g.current_addr = proc.runtime_addr() + static_cast<uint64_t>(L.runtime_gilstate_tstate_current);
  } else if (auto cur = proc.target().symbol_address("_PyThreadState_Current")) {
    g.kind = GilLocation::Kind::GlobalCurrent;
    g.current_addr = *cur;
  }
  return g;
}

}  // namespace pyxray
