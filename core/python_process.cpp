#include "python_process.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "elf_file.hpp"
#include "interp_scan.hpp"
#include "layout_tables.hpp"
#include "objects.hpp"
#include "version_traits.hpp"

namespace pyxray {

Expected<std::unique_ptr<PythonProcess>> PythonProcess::open(Target& target) {
  std::unique_ptr<PythonProcess> p(new PythonProcess(target));
  if (auto r = p->find_anchor(); !r) return Unexpected<Error>{r.error()};
  if (auto r = p->detect_version(); !r) return Unexpected<Error>{r.error()};
  if (auto r = check_supported(p->version_); !r) return Unexpected<Error>{r.error()};
  if (auto r = p->resolve_layout(); !r) return Unexpected<Error>{r.error()};
  if (p->scan_object_) {
    auto head = scan_for_interp_head(*p, *p->scan_object_, p->scan_bias_);
    if (!head) return Unexpected<Error>{head.error()};
    p->interp_head_ = *head;
  }
  p->refine_micro_version();
  return p;
}

Expected<void> PythonProcess::find_anchor() {
  std::vector<LoadedObject> objects = target_.loaded_objects();
  for (const auto& obj : objects) {
    if (obj.path.find("libpython") != std::string::npos) {
      libpython_ = obj.path;
      break;
    }
  }
  uint64_t probe = 0;
  if (auto rt = target_.symbol_address("_PyRuntime")) {
    runtime_ = probe = *rt;
  } else if (auto head = target_.symbol_address("interp_head")) {
    interp_head_ = probe = *head;
  } else if (auto init = target_.symbol_address("Py_Initialize")) {
    // A stripped 2.7/3.6: exported functions are still there; interp_head is found by a scan later.
    probe = *init;
    std::string path = libpython_;
    if (path.empty() && !objects.empty()) path = objects.front().path;  // a static build: the executable
    auto elf = read_elf(path);
    if (!elf) return Unexpected<Error>{elf.error()};
    auto link_addr = elf->dynamic_symbol("Py_Initialize");
    if (!link_addr) return fail(fmt::format("{} exports no Py_Initialize; cannot locate its data", path));
    scan_object_ = std::make_unique<ElfFile>(std::move(*elf));
    scan_bias_ = *init - *link_addr;
  } else {
    std::string what = libpython_.empty() ? "no _PyRuntime or libpython found"
                                           : fmt::format("{} is loaded but none of its symbols could be found",
                                                         libpython_);
    return fail(fmt::format("process {} is not running CPython: {}", target_.pid(), what));
  }
  mem_ = std::make_unique<Memory>(choose_reader(target_, probe));
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

namespace {

// The fields without which no stack can be walked for this version.
bool walkable(const Layout& L, const PyVersion& v) {
  bool base = L.object_ob_type != kAbsent && L.type_tp_name != kAbsent && L.tstate_next != kAbsent &&
              L.interp_next != kAbsent && L.code_co_name != kAbsent && L.code_co_filename != kAbsent;
  switch (traits_for(v).frame_model) {
    case FrameModel::FrameObjects: return base && L.tstate_frame != kAbsent && L.frame_f_back != kAbsent;
    case FrameModel::CFrame: return base && L.tstate_cframe != kAbsent && L.iframe_previous != kAbsent;
    case FrameModel::CurrentFrame: return base && L.tstate_current_frame != kAbsent && L.iframe_previous != kAbsent;
  }
  return false;
}

}  // namespace

Expected<void> PythonProcess::resolve_layout() {
  // Per field, the best source wins: debuginfo, then _Py_DebugOffsets, then the built-in table.
  std::vector<std::string> sources;
  if (fill_layout(layout_, [this](std::string_view type, std::string_view path) {
        return target_.type_offset(type, path);
      }) > 0)
    sources.push_back("debuginfo");
  if (auto d = debug_offsets_fields(); !d.empty()) {
    int n = fill_layout(layout_, [&](std::string_view type, std::string_view path) -> std::optional<int64_t> {
      if (auto f = d.find(fmt::format("{}:{}", type, path)); f != d.end()) return f->second;
      return std::nullopt;
    }, /*only_absent=*/true);
    if (n > 0) sources.push_back("_Py_DebugOffsets");
  }
  if (const LayoutTable* table = table_for(version_)) {
    int n = fill_layout(layout_, [table](std::string_view type, std::string_view path) {
      return table->find(fmt::format("{}:{}", type, path));
    }, /*only_absent=*/true);
    if (n > 0) sources.push_back(fmt::format("built-in table {}", table->version.text()));
  }
  if (!walkable(layout_, version_)) {
    return fail(fmt::format("no struct layouts for CPython {}: no debuginfo is loaded{}", version_.text(),
                            table_for(version_) ? "" : " and pyxray has no built-in table for this version"));
  }
  layout_.source = fmt::format("{}", fmt::join(sources, ", "));
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

std::map<std::string, int64_t> PythonProcess::debug_offsets_fields() {
  // Filled in by the _Py_DebugOffsets decoder (3.13+).
  return {};
}

uint64_t PythonProcess::type_addr(const std::string& symbol) {
  auto it = type_addrs_.find(symbol);
  if (it != type_addrs_.end()) return it->second;
  uint64_t addr = target_.symbol_address(symbol).value_or(0);
  type_addrs_[symbol] = addr;
  return addr;
}

}  // namespace pyxray
