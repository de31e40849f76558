// The gdb adapter: the core's Target interface over gdb's Python API. Each method is a handful of
// gdb calls; results that cannot change while the process lives (types, symbols) are cached.
#include "gdb_target.hpp"

#include <cstring>
#include <string>

namespace py = pybind11;

namespace pyxray::gdb {
namespace {

py::module_ gdb_module() { return py::module_::import("gdb"); }

// Finds a field by name, looking through anonymous struct/union members as C does.
std::optional<std::pair<int64_t, py::object>> find_field(const py::object& type, const std::string& name) {
  for (const auto& f : type.attr("fields")()) {
    py::object field = py::reinterpret_borrow<py::object>(f);
    py::object fname = field.attr("name");
    if (!py::hasattr(field, "bitpos")) continue;  // static members
    int64_t bitpos = field.attr("bitpos").cast<int64_t>();
    if (fname.is_none()) {
      py::object inner = field.attr("type").attr("strip_typedefs")();
      if (auto sub = find_field(inner, name)) return std::make_pair(bitpos / 8 + sub->first, sub->second);
    } else if (fname.cast<std::string>() == name) {
      return std::make_pair(bitpos / 8, field.attr("type"));
    }
  }
  return std::nullopt;
}

}  // namespace

int GdbTarget::pid() const {
  try {
    return gdb_module().attr("selected_inferior")().attr("pid").cast<int>();
  } catch (const py::error_already_set&) {
    return 0;
  }
}

bool GdbTarget::is_live_local() const {
  try {
    py::object inf = gdb_module().attr("selected_inferior")();
    if (inf.attr("pid").cast<int>() <= 0) return false;
    py::object conn = inf.attr("connection");
    return !conn.is_none() && conn.attr("type").cast<std::string>() == "native";
  } catch (const py::error_already_set&) {
    return false;
  }
}

std::size_t GdbTarget::read_memory(uint64_t addr, std::span<std::byte> out) {
  try {
    py::object mv = gdb_module().attr("selected_inferior")().attr("read_memory")(addr, out.size());
    py::buffer_info info = py::buffer(mv).request();
    std::size_t n = std::min<std::size_t>(out.size(), static_cast<std::size_t>(info.size * info.itemsize));
    std::memcpy(out.data(), info.ptr, n);
    return n;
  } catch (const py::error_already_set&) {
    return 0;
  }
}

std::optional<uint64_t> GdbTarget::symbol_address(std::string_view name) {
  std::string key(name);
  if (auto it = symbols_.find(key); it != symbols_.end()) return it->second;
  std::optional<uint64_t> addr;
  try {
    // Works for debug symbols and for ELF minimal symbols alike.
    py::object v = gdb_module().attr("parse_and_eval")("(unsigned long)&'" + key + "'");
    addr = v.attr("__int__")().cast<uint64_t>();
  } catch (const py::error_already_set&) {
  }
  symbols_[key] = addr;
  return addr;
}

std::optional<int64_t> GdbTarget::type_offset(std::string_view type, std::string_view field) {
  std::string key = std::string(type) + ":" + std::string(field);
  if (auto it = offsets_.find(key); it != offsets_.end()) return it->second;
  std::optional<int64_t> result;
  try {
    py::object t = gdb_module().attr("lookup_type")(std::string(type)).attr("strip_typedefs")();
    if (field.empty()) {
      result = t.attr("sizeof").cast<int64_t>();
    } else {
      int64_t offset = 0;
      std::string path(field);
      std::size_t start = 0;
      bool ok = true;
      while (ok && start <= path.size()) {
        std::size_t dot = path.find('.', start);
        std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        auto f = find_field(t, part);
        if (!f) {
          ok = false;
          break;
        }
        offset += f->first;
        t = f->second.attr("strip_typedefs")();
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      if (ok) result = offset;
    }
  } catch (const py::error_already_set&) {
  }
  offsets_[key] = result;
  return result;
}

std::vector<NativeThread> GdbTarget::threads() {
  std::vector<NativeThread> out;
  try {
    for (const auto& th : gdb_module().attr("selected_inferior")().attr("threads")()) {
      py::object t = py::reinterpret_borrow<py::object>(th);
      NativeThread nt;
      py::tuple ptid = t.attr("ptid");
      nt.tid = ptid[1].cast<int64_t>();
      py::object name = t.attr("name");
      if (!name.is_none()) nt.name = name.cast<std::string>();
      try {
        py::bytes handle = t.attr("handle")();
        std::string h = handle;
        if (h.size() == 8) {
          uint64_t v = 0;
          std::memcpy(&v, h.data(), 8);
          nt.pthread_id = v;
        }
      } catch (const py::error_already_set&) {
      }
      out.push_back(std::move(nt));
    }
  } catch (const py::error_already_set&) {
  }
  return out;
}

std::optional<int64_t> GdbTarget::selected_thread() {
  try {
    py::object t = gdb_module().attr("selected_thread")();
    if (t.is_none()) return std::nullopt;
    py::tuple ptid = t.attr("ptid");
    return ptid[1].cast<int64_t>();
  } catch (const py::error_already_set&) {
    return std::nullopt;
  }
}

std::vector<LoadedObject> GdbTarget::loaded_objects() {
  std::vector<LoadedObject> out;
  try {
    for (const auto& o : gdb_module().attr("objfiles")()) {
      py::object obj = py::reinterpret_borrow<py::object>(o);
      if (!obj.attr("owner").is_none()) continue;  // separate debug info file
      py::object name = obj.attr("filename");
      if (name.is_none()) continue;
      out.push_back({name.cast<std::string>(), std::nullopt});
    }
  } catch (const py::error_already_set&) {
  }
  return out;
}

std::optional<std::vector<NativeFrame>> GdbTarget::native_frames(int64_t tid, std::size_t max_frames) {
  py::module_ gdb = gdb_module();
  py::object original_thread, original_frame;
  try {
    original_thread = gdb.attr("selected_thread")();
    original_frame = gdb.attr("selected_frame")();
  } catch (const py::error_already_set&) {
  }
  std::optional<std::vector<NativeFrame>> out;
  try {
    for (const auto& th : gdb.attr("selected_inferior")().attr("threads")()) {
      py::object thread = py::reinterpret_borrow<py::object>(th);
      if (py::tuple(thread.attr("ptid"))[1].cast<int64_t>() != tid) continue;
      thread.attr("switch")();
      out.emplace();
      py::object frame = gdb.attr("newest_frame")();
      while (!frame.is_none() && out->size() < max_frames) {
        NativeFrame f;
        f.pc = frame.attr("pc")().cast<uint64_t>();
        py::object name = frame.attr("name")();
        if (!name.is_none()) f.function = name.cast<std::string>();
        py::object lib = gdb.attr("solib_name")(f.pc);
        if (!lib.is_none()) {
          f.library = lib.cast<std::string>();
        } else if (py::object prog = gdb.attr("current_progspace")(); !prog.is_none()) {
          py::object file = prog.attr("filename");
          if (!file.is_none()) f.library = file.cast<std::string>();
        }
        out->push_back(std::move(f));
        frame = frame.attr("older")();
      }
      break;
    }
  } catch (const py::error_already_set&) {
    // An unwinder error mid-stack still leaves the frames read so far.
  }
  try {
    if (original_thread && !original_thread.is_none()) original_thread.attr("switch")();
    if (original_frame && !original_frame.is_none()) original_frame.attr("select")();
  } catch (const py::error_already_set&) {
  }
  return out;
}

std::vector<std::string> GdbTarget::missing_objects() {
  // gdb's Python API has no list of shared objects it failed to load; `info sharedlibrary` shows
  // them with "No" symbols read and no address range.
  std::vector<std::string> out;
  try {
    py::object text = gdb_module().attr("execute")("info sharedlibrary", false, true);
    std::string all = text.cast<std::string>();
    std::size_t pos = 0;
    while (pos < all.size()) {
      std::size_t end = all.find('\n', pos);
      if (end == std::string::npos) end = all.size();
      std::string line = all.substr(pos, end - pos);
      pos = end + 1;
      // A loaded entry starts with its address range ("0x..."); a missing one with spaces and "No".
      auto first = line.find_first_not_of(' ');
      if (first == std::string::npos || line.compare(first, 2, "No") != 0) continue;
      auto path = line.find('/', first);
      if (path != std::string::npos) out.push_back(line.substr(path));
    }
  } catch (const py::error_already_set&) {
  }
  return out;
}

}  // namespace pyxray::gdb
