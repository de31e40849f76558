#include "python_process.hpp"

#include <fmt/format.h>

#include "objects.hpp"

namespace pyxray {

Expected<std::unique_ptr<PythonProcess>> PythonProcess::open(Target& target) {
  std::unique_ptr<PythonProcess> p(new PythonProcess(target));
  if (auto r = p->find_anchor(); !r) return Unexpected<Error>{r.error()};
  if (auto r = p->detect_version(); !r) return Unexpected<Error>{r.error()};
  if (auto r = check_supported(p->version_); !r) return Unexpected<Error>{r.error()};
  if (auto r = p->resolve_layout(); !r) return Unexpected<Error>{r.error()};
  p->refine_micro_version();
  return p;
}

Expected<void> PythonProcess::find_anchor() {
  for (const auto& obj : target_.loaded_objects()) {
    if (obj.path.find("libpython") != std::string::npos) {
      libpython_ = obj.path;
      break;
    }
  }
  if (auto rt = target_.symbol_address("_PyRuntime")) {
    runtime_ = *rt;
  } else if (auto head = target_.symbol_address("interp_head")) {
    interp_head_ = *head;
  } else {
    std::string what = libpython_.empty() ? "no _PyRuntime or libpython found"
                                           : fmt::format("{} is loaded but neither _PyRuntime nor "
                                                         "interp_head could be found", libpython_);
    return fail(fmt::format("process {} is not running CPython: {}", target_.pid(), what));
  }
  mem_ = std::make_unique<Memory>(choose_reader(target_, runtime_ ? runtime_ : interp_head_));
  return {};
}

Expected<void> PythonProcess::detect_version() {
  if (auto addr = target_.symbol_address("Py_Version")) {
    if (auto hex = mem_->read<uint32_t>(*addr); hex && *hex) {
      version_ = version_from_hex(*hex);
      return {};
    }
  }
  if (!libpython_.empty()) {
    if (auto v = version_from_path(libpython_)) {
      version_ = *v;
      return {};
    }
  }
  for (const auto& obj : target_.loaded_objects()) {
    if (auto v = version_from_path(obj.path)) {
      version_ = *v;
      return {};
    }
  }
  return fail(fmt::format("process {} runs CPython, but its version could not be determined "
                          "(no Py_Version symbol and no versioned libpython or executable name)",
                          target_.pid()));
}

Expected<void> PythonProcess::resolve_layout() {
  int found = fill_layout(layout_, [this](std::string_view type, std::string_view path) {
    return target_.type_offset(type, path);
  });
  bool usable = layout_.object_ob_type != kAbsent && layout_.tstate_next != kAbsent &&
                layout_.interp_next != kAbsent && layout_.code_co_name != kAbsent;
  if (!usable) {
    return fail(fmt::format("no struct layouts for CPython {}: its debug symbols are not loaded "
                            "({} of {} fields found)", version_.text(), found, layout_fields().size()));
  }
  layout_.source = "debuginfo";
  return {};
}

void PythonProcess::refine_micro_version() {
  if (version_.micro_known) return;
  // sys.version is the one version string every build has in memory.
  uint64_t interp = 0;
  if (runtime_) {
    interp = mem_->read_ptr(runtime_ + layout_.runtime_interpreters_head).value_or(0);
  } else {
    interp = mem_->read_ptr(interp_head_).value_or(0);
  }
  if (!interp || layout_.interp_sysdict == kAbsent) return;
  Objects objs(*this);
  auto sysdict = mem_->read_ptr(interp + layout_.interp_sysdict);
  if (!sysdict || !*sysdict) return;
  auto ver = objs.dict_get_str(*sysdict, "version");
  if (!ver || !*ver) return;
  auto text = objs.read_text(**ver, 64);
  if (!text) return;
  if (auto v = parse_version(*text); v && *v == version_ && v->micro_known) version_ = *v;
}

uint64_t PythonProcess::type_addr(const std::string& symbol) {
  auto it = type_addrs_.find(symbol);
  if (it != type_addrs_.end()) return it->second;
  uint64_t addr = target_.symbol_address(symbol).value_or(0);
  type_addrs_[symbol] = addr;
  return addr;
}

}  // namespace pyxray
