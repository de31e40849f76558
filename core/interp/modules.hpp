// The modules of an interpreter: sys.modules and each module's globals.
#pragma once

#include <cstdint>

#include "base/expected.hpp"

namespace pyxray {

class PythonProcess;

// The interpreter's sys.modules dict; 0 when it has none (yet, or any more).
Expected<uint64_t> sys_modules(PythonProcess& proc, uint64_t interp);
// A module object's __dict__, its globals.
Expected<uint64_t> module_dict(PythonProcess& proc, uint64_t module);

}  // namespace pyxray
