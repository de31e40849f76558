#include "interp/modules.hpp"

#include "interp/python_process.hpp"

namespace pyxray {

Expected<uint64_t> sys_modules(PythonProcess& proc, uint64_t interp) {
  const Layout& L = proc.layout();
  // 3.12 moved it into the interpreter's `imports`.
  const int64_t field = L.interp_imports_modules != kAbsent ? L.interp_imports_modules : L.interp_modules;
  if (field == kAbsent) return fail("no layout for the interpreter's modules");
  return proc.mem().read_ptr(interp + static_cast<uint64_t>(field));
}

Expected<uint64_t> module_dict(PythonProcess& proc, uint64_t module) {
  // md_dict follows PyObject_HEAD in every version; debuginfo, when present, says so itself.
  const int64_t field = proc.layout().module_md_dict != kAbsent ? proc.layout().module_md_dict : 16;
  return proc.mem().read_ptr(module + static_cast<uint64_t>(field));
}

}  // namespace pyxray
