// Which thread holds the GIL: the one rule, read by py-bt-all (through the page cache, target
// stopped) and by the sampler (through its tick reader, target running).
//
//  3.12+     each interpreter's `ceval.gil` points to its GIL: `locked`, and the `last_holder` thread
//            state (which stays set after release, hence `locked`);
//  3.7-3.11  `_PyRuntime.gilstate.tstate_current`, cleared when the GIL is released;
//  2.7, 3.6  the `_PyThreadState_Current` global, likewise.
#pragma once

#include <cstdint>
#include <optional>

namespace pyxray {

class PythonProcess;

// Where this process records the GIL's holder; found once per process.
struct GilLocation {
  enum class Kind { Unknown, PerInterpreter, RuntimeCurrent, GlobalCurrent };
  Kind kind = Kind::Unknown;
  uint64_t current_addr = 0;                           // RuntimeCurrent, GlobalCurrent: the pointer's address
  int64_t ceval_gil = 0, locked = 0, last_holder = 0;  // PerInterpreter: offsets
};
GilLocation gil_location(PythonProcess& proc);

// The thread state that holds the GIL of interpreter `interp` (0: none holds it); nullopt when it
// cannot be read. `read(addr, value)` reads a uint64_t or int32_t and returns whether it could.
template <class Read>
std::optional<uint64_t> gil_holder(const GilLocation& where, uint64_t interp, Read&& read) {
  uint64_t holder = 0;
  switch (where.kind) {
    case GilLocation::Kind::PerInterpreter: {
      uint64_t gil = 0;
      int32_t locked = 0;
      if (!read(interp + where.ceval_gil, gil)) return std::nullopt;
      if (gil == 0) return std::nullopt;
      if (!read(gil + where.locked, locked) || !read(gil + where.last_holder, holder)) return std::nullopt;
      return locked ? holder : 0;
    }
    case GilLocation::Kind::RuntimeCurrent:
    case GilLocation::Kind::GlobalCurrent:
      if (!read(where.current_addr, holder)) return std::nullopt;
      return holder;
    case GilLocation::Kind::Unknown: break;
  }
  return std::nullopt;
}

}  // namespace pyxray
