#include "interp/python_process.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "interp/interp_scan.hpp"
#include "interp/objects.hpp"
#include "layout/debug_offsets.hpp"
#include "layout/free_threaded_layout.hpp"
#include "layout/layout_tables.hpp"
#include "layout/version_traits.hpp"
#include "target/elf_file.hpp"
#include "target/process_files.hpp"

namespace pyxray {

Expected<std::unique_ptr<PythonProcess>> PythonProcess::open(Target& target, const OpenOptions& options) {
  std::unique_ptr<PythonProcess> p(new PythonProcess(target));
  if (auto r = p->find_anchor(); !r) return Unexpected<Error>{r.error()};
  if (options.forced_version) {
    // Detection still runs so that py-layout can show what the user overrides; failing is fine.
    if (p->detect_version()) p->detected_ = p->version_.text();
    p->version_ = *options.forced_version;
    p->forced_ = true;
  } else if (auto r = p->detect_version(); !r) {
    return Unexpected<Error>{r.error()};
  }
  if (auto r = check_supported(p->version_); !r) return Unexpected<Error>{r.error()};
  if (auto r = p->resolve_layout(); !r) return Unexpected<Error>{r.error()};
  if (p->scan_object_) {
    auto head = scan_for_interp_head(*p, *p->scan_object_, p->scan_bias_);
    if (!head) return Unexpected<Error>{head.error()};
    p->interp_head_ = *head;
  }
  p->refine_micro_version();
  p->note_ = p->table_note();
  return p;
}

std::optional<std::string> PythonProcess::table_note() const {
  if (forced_ || !sources_.table_release || layout_.source.find("built-in table") == std::string::npos)
    return std::nullopt;
  const PyVersion& t = *sources_.table_release;
  if (newer_than_known(version_)) {
    return fmt::format(
        "CPython {} is newer than every version pyxray knows: its struct offsets come from {}, the "
        "ones missing there from the CPython {} table, and it is decoded by 3.{}'s rules; answers "
        "may be incomplete",
        version_.text(), sources_.debuginfo.empty() ? "its _Py_DebugOffsets" : "debuginfo and _Py_DebugOffsets",
        t.text(), kNewestKnownMinor);
  }
  // A later micro release of a known minor: its layout is the table's unless the release changed it.
  if (t == version_ && version_.micro_known && t.micro < version_.micro) {
    const bool newest = std::none_of(layout_tables().begin(), layout_tables().end(), [&](const LayoutTable& other) {
      return other.version == version_ && other.version.micro > t.micro;
    });
    if (newest)
      return fmt::format(
          "CPython {} is newer than pyxray's tables: the struct offsets {} lacks come from the CPython "
          "{} table",
          version_.text(),
          sources_.debuginfo.empty() && sources_.debug_offsets.empty() ? "nothing else gives"
          : sources_.debuginfo.empty()                                 ? "_Py_DebugOffsets"
                                                                       : "debuginfo",
          t.text());
  }
  return std::nullopt;
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
    auto elf = read_elf(target_file_path(target_, path));
    if (!elf) return Unexpected<Error>{elf.error()};
    auto link_addr = elf->dynamic_symbol("Py_Initialize");
    if (!link_addr) return fail(fmt::format("{} exports no Py_Initialize; cannot locate its data", path));
    scan_object_ = std::make_unique<ElfFile>(std::move(*elf));
    scan_bias_ = *init - *link_addr;
  } else {
    for (const auto& missing : target_.missing_objects()) {
      if (missing.find("python") != std::string::npos)
        return fail(
            fmt::format("process {} uses {}, which the debugger could not load (is it missing on "
                        "this host? point gdb at it with 'set sysroot' or 'set solib-search-path')",
                        target_.pid(), missing));
    }
    if (!target_.is_live_local()) {
      // A core whose shared-library list is unreadable still names its files: a truncated or damaged
      // core of a Python process should not be called "not Python".
      for (const auto& file : target_.mapped_files()) {
        if (version_from_path(file))
          return fail(
              fmt::format("the core of process {} maps {}, but the debugger could not load it from the "
                          "core's shared-library list: the core looks truncated or damaged",
                          target_.pid(), file));
      }
    }
    std::string what = libpython_.empty()
                           ? "no _PyRuntime or libpython found"
                           : fmt::format("{} is loaded but none of its symbols could be found", libpython_);
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
  return fail(
      fmt::format("process {} runs CPython, but its version could not be determined "
                  "(no Py_Version symbol and no versioned libpython or executable name); "
                  "if you know it, give it with 'py-layout --python X.Y'",
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

// Fields the block does not carry but fixes by its neighbours: newer tables must not supply them,
// because 3.14 moved them (it put _co_unique_id where 3.13 had _co_firsttraceable), and the
// free-threaded builds, which use no table rows for these structs, need them.
void derive_from_debug_offsets(std::map<std::string, int64_t>& offsets, const PyVersion& v) {
  auto get = [&](const char* key) -> std::optional<int64_t> {
    auto it = offsets.find(key);
    return it == offsets.end() ? std::nullopt : std::optional<int64_t>(it->second);
  };
  // The int _co_firsttraceable sits 16 bytes before the bytecode (before co_tlbc on free-threaded
  // builds, which insert that pointer in between).
  auto base = get("PyCodeObject:co_tlbc");
  if (!base || *base == 0) base = get("PyCodeObject:co_code_adaptive");
  if (base && *base >= 16) offsets.emplace("PyCodeObject:_co_firsttraceable", *base - 16);
  // The collector's flag: the interpreter's gc struct plus the flag's offset inside it.
  if (auto gc = get("debug:interpreter_state.gc"), collecting = get("debug:gc.collecting"); gc && collecting)
    offsets.emplace("PyInterpreterState:gc.collecting", *gc + *collecting);
  // PyThreadState.state follows the 4-byte _status bit field: 3.13 {_status, int _whence, int state},
  // 3.14 {_status, int holds_gil, int _whence, int state} (Include/cpython/pystate.h).
  if (auto status = get("debug:thread_state.status")) {
    if (v.major == 3 && v.minor == 13) offsets.emplace("PyThreadState:state", *status + 8);
    if (v.major == 3 && v.minor == 14) offsets.emplace("PyThreadState:state", *status + 12);
  }
}

LayoutSources PythonProcess::read_layout_sources() {
  LayoutSources src;
  src.forced = forced_;
  src.detected_version = detected_;
  // A forced version is the user saying the detected one is wrong: debuginfo and _Py_DebugOffsets
  // describe the build as it is, so they would contradict the version, or be what is broken.
  if (!forced_) {
    for (const auto& f : layout_fields()) {
      if (auto off = target_.type_offset(f.type, f.path)) src.debuginfo[layout_key(f)] = *off;
    }
  }
  if (!forced_ && runtime_ && version_.at_least(3, 13)) {
    auto bytes = mem_->read_bytes(runtime_, kDebugOffsetsReadSize);
    if (!bytes) {
      src.debug_offsets_error = bytes.error().message;
    } else if (auto parsed = parse_debug_offsets(*bytes, runtime_, version_)) {
      src.debug_offsets = std::move(parsed->offsets);
      src.free_threaded = parsed->free_threaded;
      if (!version_.micro_known) version_ = parsed->version;
      derive_from_debug_offsets(src.debug_offsets, version_);
    } else {
      src.debug_offsets_error = parsed.error().message;
    }
  }
  const LayoutTable* table = table_for(version_);
  bool older_table = false;
  if (!table && !src.debug_offsets.empty()) {
    // A version newer than every table (3.14+): _Py_DebugOffsets covers the frame walk; the newest
    // table fills only what the block lacks (dict keys, sizes), which has not changed since.
    table = newest_table_before(version_);
    older_table = table != nullptr;
  }
  if (table && src.free_threaded) {
    // The tables describe default (GIL) builds: a free-threaded build takes only the rows that
    // header-derived rules carry over (free_threaded_layout.hpp), when they are known.
    src.table = free_threaded_rows(version_, *table);
    if (!src.table.empty()) src.table_version = fmt::format("{}, free-threaded rows", table->version.text());
  } else if (table) {
    src.table_version = table->version.text();
    src.table_release = table->version;
    for (const auto& e : table->entries) {
      // Except _PyRuntimeState's fields: _PyRuntime begins with the block, which grows with every
      // version (3.13's interpreters.main and allocators lie inside 3.14's block), so an older
      // table's offsets there point into the block. Left absent, the decoders fall back (the
      // interpreter list for the main interpreter, pymalloc presumed for the allocator).
      if (older_table && e.key.starts_with("_PyRuntimeState:")) continue;
      src.table[std::string(e.key)] = e.offset;
    }
  }
  return src;
}

Expected<void> PythonProcess::resolve_layout() {
  sources_ = read_layout_sources();
  // Per field, the best source wins: debuginfo, then _Py_DebugOffsets, then the built-in table.
  std::vector<std::string> used;
  auto fill_from = [&](const std::map<std::string, int64_t>& m, std::string name) {
    int n = fill_layout(
        layout_,
        [&](std::string_view type, std::string_view path) -> std::optional<int64_t> {
          if (auto f = m.find(fmt::format("{}:{}", type, path)); f != m.end()) return f->second;
          return std::nullopt;
        },
        /*only_absent=*/true);
    if (n > 0) used.push_back(std::move(name));
  };
  fill_from(sources_.debuginfo, "debuginfo");
  fill_from(sources_.debug_offsets, "_Py_DebugOffsets");
  fill_from(sources_.table, fmt::format("built-in table {}", sources_.table_version));
  // A version newer than pyxray knows is decoded only where it describes itself.
  if (newer_than_known(version_) && sources_.debug_offsets.empty() && sources_.debuginfo.empty())
    return fail(
        fmt::format("CPython {} is newer than every version pyxray knows (2.7, 3.6–3.{}) and its "
                    "_Py_DebugOffsets cannot be used{}",
                    version_.text(), kNewestKnownMinor,
                    sources_.debug_offsets_error ? fmt::format(" ({})", *sources_.debug_offsets_error) : ""));
  if (!walkable(layout_, version_)) {
    std::string why = sources_.debug_offsets_error ? fmt::format(" ({})", *sources_.debug_offsets_error) : "";
    return fail(fmt::format("no struct layouts for CPython {}: no debuginfo is loaded{}{}", version_.text(),
                            sources_.table.empty() ? " and pyxray has no built-in table for this version" : "", why));
  }
  layout_.source = fmt::format("{}", fmt::join(used, ", "));
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
