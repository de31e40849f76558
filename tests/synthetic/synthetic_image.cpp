#include "synthetic_image.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace pyxray::synthetic {

// ---- Image

void Image::map(uint64_t addr, std::size_t size) {
  if (size == 0) throw std::invalid_argument("empty region");
  auto next = regions_.lower_bound(addr);
  bool overlaps_next = next != regions_.end() && next->first < addr + size;
  bool overlaps_prev = next != regions_.begin() && std::prev(next)->first + std::prev(next)->second.size() > addr;
  if (overlaps_next || overlaps_prev)
    throw std::invalid_argument(fmt::format("region at {:#x} overlaps another", addr));
  regions_.emplace(addr, Bytes(size));
}

std::map<uint64_t, Bytes>::const_iterator Image::find(uint64_t addr) const {
  auto it = regions_.upper_bound(addr);
  if (it == regions_.begin()) return regions_.end();
  --it;
  return addr - it->first < it->second.size() ? it : regions_.end();
}

bool Image::is_mapped(uint64_t addr, std::size_t len) const {
  std::vector<std::byte> scratch(len);
  return read(addr, scratch) == len;
}

std::size_t Image::read(uint64_t addr, std::span<std::byte> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    auto it = find(addr + done);
    if (it == regions_.end()) break;
    std::size_t at = addr + done - it->first;
    std::size_t n = std::min(out.size() - done, it->second.size() - at);
    std::memcpy(out.data() + done, it->second.data() + at, n);
    done += n;
  }
  return done;
}

void Image::write(uint64_t addr, std::span<const std::byte> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto it = find(addr + done);
    if (it == regions_.end()) throw std::out_of_range(fmt::format("write to unmapped {:#x}", addr + done));
    auto& region = const_cast<Bytes&>(it->second);
    std::size_t at = addr + done - it->first;
    std::size_t n = std::min(data.size() - done, region.size() - at);
    std::memcpy(region.data() + at, data.data() + done, n);
    done += n;
  }
}

namespace {
template <class T>
std::span<const std::byte> bytes_of(const T& v) {
  return std::as_bytes(std::span<const T, 1>(&v, 1));  // little-endian, like the targets
}
}  // namespace

void Image::write_u8(uint64_t addr, uint8_t v) { write(addr, bytes_of(v)); }
void Image::write_u16(uint64_t addr, uint16_t v) { write(addr, bytes_of(v)); }
void Image::write_u32(uint64_t addr, uint32_t v) { write(addr, bytes_of(v)); }
void Image::write_u64(uint64_t addr, uint64_t v) { write(addr, bytes_of(v)); }

void Image::write_cstring(uint64_t addr, std::string_view s) {
  write(addr, std::as_bytes(std::span(s.data(), s.size())));
  write_u8(addr + s.size(), 0);
}

uint64_t Image::read_u64(uint64_t addr) const {
  uint64_t v = 0;
  if (read(addr, std::as_writable_bytes(std::span<uint64_t, 1>(&v, 1))) != sizeof v)
    throw std::out_of_range(fmt::format("read of unmapped {:#x}", addr));
  return v;
}

// ---- SyntheticTarget

std::size_t SyntheticTarget::read_memory(uint64_t addr, std::span<std::byte> out) {
  ++reads_;
  return image_->read(addr, out);
}

std::optional<uint64_t> SyntheticTarget::symbol_address(std::string_view name) {
  if (auto it = symbols_.find(name); it != symbols_.end()) return it->second;
  return std::nullopt;
}

// ---- _Py_DebugOffsets

// Transcribed from CPython's Include/internal/pycore_debug_offsets.h (member order) with the values
// of real 3.14.6 and 3.15.0rc1 x86-64 GIL builds; tests/unit/debug_offsets_test.cpp checks the same
// order against the parser. One correction: there, native_thread_id is thread_id + 4, which cannot
// be. Both are `unsigned long` (8 bytes, 8-aligned on LP64) and declared back to back, so here it
// is thread_id + 8.
DebugOffsetsMembers debug_offsets_314() {
  return {
      {"runtime_state.size", 315600},
      {"runtime_state.finalizing", 784},
      {"runtime_state.interpreters_head", 808},
      {"interpreter_state.size", 225672},
      {"interpreter_state.id", 7280},
      {"interpreter_state.next", 7272},
      {"interpreter_state.threads_head", 7336},
      {"interpreter_state.threads_main", 7352},
      {"interpreter_state.gc", 7400},
      {"interpreter_state.imports_modules", 7680},
      {"interpreter_state.sysdict", 7664},
      {"interpreter_state.builtins", 7672},
      {"interpreter_state.ceval_gil", 16},
      {"interpreter_state.gil_runtime_state", 7768},
      {"interpreter_state.gil_runtime_state_enabled", 0},
      {"interpreter_state.gil_runtime_state_locked", 7784},
      {"interpreter_state.gil_runtime_state_holder", 7776},
      {"interpreter_state.code_object_generation", 7824},
      {"interpreter_state.tlbc_generation", 0},
      {"thread_state.size", 824},
      {"thread_state.prev", 0},
      {"thread_state.next", 8},
      {"thread_state.interp", 16},
      {"thread_state.current_frame", 72},
      {"thread_state.thread_id", 152},
      {"thread_state.native_thread_id", 160},
      {"thread_state.datastack_chunk", 224},
      {"thread_state.status", 32},
      {"interpreter_frame.size", 88},
      {"interpreter_frame.previous", 8},
      {"interpreter_frame.executable", 0},
      {"interpreter_frame.instr_ptr", 56},
      {"interpreter_frame.localsplus", 80},
      {"interpreter_frame.owner", 74},
      {"interpreter_frame.stackpointer", 64},
      {"interpreter_frame.tlbc_index", 0},
      {"code_object.size", 216},
      {"code_object.filename", 112},
      {"code_object.name", 120},
      {"code_object.qualname", 128},
      {"code_object.linetable", 136},
      {"code_object.firstlineno", 68},
      {"code_object.argcount", 52},
      {"code_object.localsplusnames", 96},
      {"code_object.localspluskinds", 104},
      {"code_object.co_code_adaptive", 208},
      {"code_object.co_tlbc", 0},
      {"pyobject.size", 16},
      {"pyobject.ob_type", 8},
      {"type_object.size", 416},
      {"type_object.tp_name", 24},
      {"type_object.tp_repr", 88},
      {"type_object.tp_flags", 168},
      {"tuple_object.size", 40},
      {"tuple_object.ob_item", 32},
      {"tuple_object.ob_size", 16},
      {"list_object.size", 40},
      {"list_object.ob_item", 24},
      {"list_object.ob_size", 16},
      {"set_object.size", 200},
      {"set_object.used", 24},
      {"set_object.table", 40},
      {"set_object.mask", 32},
      {"dict_object.size", 48},
      {"dict_object.ma_keys", 32},
      {"dict_object.ma_values", 40},
      {"float_object.size", 24},
      {"float_object.ob_fval", 16},
      {"long_object.size", 32},
      {"long_object.lv_tag", 16},
      {"long_object.ob_digit", 24},
      {"bytes_object.size", 40},
      {"bytes_object.ob_size", 16},
      {"bytes_object.ob_sval", 32},
      {"unicode_object.size", 64},
      {"unicode_object.state", 32},
      {"unicode_object.length", 16},
      {"unicode_object.asciiobject_size", 40},
      {"gc.size", 264},
      {"gc.collecting", 192},
      {"gen_object.size", 160},
      {"gen_object.gi_name", 24},
      {"gen_object.gi_iframe", 72},
      {"gen_object.gi_frame_state", 67},
      {"llist_node.next", 0},
      {"llist_node.prev", 8},
      {"debugger_support.eval_breaker", 24},
      {"debugger_support.remote_debugger_support", 296},
      {"debugger_support.remote_debugging_enabled", 7904},
      {"debugger_support.debugger_pending_call", 0},
      {"debugger_support.debugger_script_path", 4},
      {"debugger_support.debugger_script_path_size", 512},
  };
}

DebugOffsetsMembers debug_offsets_315() {
  return {
      {"runtime_state.size", 345248},
      {"runtime_state.finalizing", 912},
      {"runtime_state.interpreters_head", 936},
      {"interpreter_state.size", 226040},
      {"interpreter_state.id", 7272},
      {"interpreter_state.next", 7264},
      {"interpreter_state.threads_head", 7328},
      {"interpreter_state.threads_main", 7344},
      {"interpreter_state.gc", 7392},
      {"interpreter_state.imports_modules", 7584},
      {"interpreter_state.sysdict", 7568},
      {"interpreter_state.builtins", 7576},
      {"interpreter_state.ceval_gil", 16},
      {"interpreter_state.gil_runtime_state", 7720},
      {"interpreter_state.gil_runtime_state_enabled", 0},
      {"interpreter_state.gil_runtime_state_locked", 7736},
      {"interpreter_state.gil_runtime_state_holder", 7728},
      {"interpreter_state.code_object_generation", 7776},
      {"interpreter_state.tlbc_generation", 0},
      {"thread_state.size", 880},
      {"thread_state.prev", 0},
      {"thread_state.next", 8},
      {"thread_state.interp", 16},
      {"thread_state.current_frame", 72},
      {"thread_state.base_frame", 80},
      {"thread_state.last_profiled_frame", 88},
      {"thread_state.last_profiled_frame_seq", 96},
      {"thread_state.thread_id", 176},
      {"thread_state.native_thread_id", 184},
      {"thread_state.datastack_chunk", 248},
      {"thread_state.status", 32},
      {"thread_state.holds_gil", 36},
      {"thread_state.gil_requested", 40},
      {"thread_state.current_exception", 136},
      {"thread_state.exc_state", 280},
      {"err_stackitem.exc_value", 0},
      {"interpreter_frame.size", 88},
      {"interpreter_frame.previous", 8},
      {"interpreter_frame.executable", 0},
      {"interpreter_frame.instr_ptr", 56},
      {"interpreter_frame.localsplus", 80},
      {"interpreter_frame.owner", 74},
      {"interpreter_frame.stackpointer", 64},
      {"interpreter_frame.tlbc_index", 0},
      {"code_object.size", 216},
      {"code_object.filename", 112},
      {"code_object.name", 120},
      {"code_object.qualname", 128},
      {"code_object.linetable", 136},
      {"code_object.firstlineno", 68},
      {"code_object.argcount", 52},
      {"code_object.localsplusnames", 96},
      {"code_object.localspluskinds", 104},
      {"code_object.co_code_adaptive", 208},
      {"code_object.co_tlbc", 0},
      {"pyobject.size", 16},
      {"pyobject.ob_type", 8},
      {"type_object.size", 424},
      {"type_object.tp_name", 24},
      {"type_object.tp_repr", 88},
      {"type_object.tp_flags", 168},
      {"type_object.tp_basicsize", 32},
      {"type_object.tp_dictoffset", 288},
      {"heap_type_object.size", 944},
      {"heap_type_object.ht_cached_keys", 888},
      {"tuple_object.size", 40},
      {"tuple_object.ob_item", 32},
      {"tuple_object.ob_size", 16},
      {"list_object.size", 40},
      {"list_object.ob_item", 24},
      {"list_object.ob_size", 16},
      {"set_object.size", 200},
      {"set_object.used", 24},
      {"set_object.table", 40},
      {"set_object.mask", 32},
      {"dict_object.size", 48},
      {"dict_object.ma_keys", 32},
      {"dict_object.ma_values", 40},
      {"float_object.size", 24},
      {"float_object.ob_fval", 16},
      {"long_object.size", 32},
      {"long_object.lv_tag", 16},
      {"long_object.ob_digit", 24},
      {"bytes_object.size", 40},
      {"bytes_object.ob_size", 16},
      {"bytes_object.ob_sval", 32},
      {"unicode_object.size", 64},
      {"unicode_object.state", 32},
      {"unicode_object.length", 16},
      {"unicode_object.asciiobject_size", 40},
      {"unicode_object.compactunicodeobject_size", 56},
      {"gc.size", 176},
      {"gc.collecting", 112},
      {"gc.frame", 120},
      {"gc.generation_stats_size", 1112},
      {"gc.generation_stats", 104},
      {"gen_object.size", 160},
      {"gen_object.gi_name", 24},
      {"gen_object.gi_iframe", 72},
      {"gen_object.gi_frame_state", 67},
      {"llist_node.next", 0},
      {"llist_node.prev", 8},
      {"debugger_support.eval_breaker", 24},
      {"debugger_support.remote_debugger_support", 336},
      {"debugger_support.remote_debugging_enabled", 7856},
      {"debugger_support.debugger_pending_call", 0},
      {"debugger_support.debugger_script_path", 4},
      {"debugger_support.debugger_script_path_size", 512},
  };
}

namespace {
DebugOffsetsMember* find_member(DebugOffsetsMembers& members, std::string_view name) {
  for (auto& m : members)
    if (m.name == name) return &m;
  throw std::invalid_argument(fmt::format("no _Py_DebugOffsets member {}", name));
}
}  // namespace

uint64_t member(const DebugOffsetsMembers& members, std::string_view name) {
  return find_member(const_cast<DebugOffsetsMembers&>(members), name)->value;
}

void set_member(DebugOffsetsMembers& members, std::string_view name, uint64_t value) {
  find_member(members, name)->value = value;
}

Bytes debug_offsets_block(uint32_t version_hex, bool free_threaded, const DebugOffsetsMembers& members) {
  Bytes b;
  auto put = [&](uint64_t v) {
    auto s = bytes_of(v);
    b.insert(b.end(), s.begin(), s.end());
  };
  for (char c : std::string_view("xdebugpy")) b.push_back(static_cast<std::byte>(c));
  put(version_hex);
  put(free_threaded ? 1 : 0);
  for (const auto& m : members) put(m.value);
  return b;
}

// ---- ObjectBuilder

ObjectLayout object_layout(const DebugOffsetsMembers& m) {
  ObjectLayout l;
  auto get = [&](std::string_view name) { return static_cast<int64_t>(member(m, name)); };
  l.ob_type = get("pyobject.ob_type");
  l.ob_size = get("tuple_object.ob_size");
  l.type_size = get("type_object.size");
  l.tp_name = get("type_object.tp_name");
  l.tp_flags = get("type_object.tp_flags");
  l.ascii_length = get("unicode_object.length");
  l.ascii_state = get("unicode_object.state");
  l.ascii_size = get("unicode_object.asciiobject_size");
  l.bytes_sval = get("bytes_object.ob_sval");
  l.code_size = get("code_object.size");
  l.co_argcount = get("code_object.argcount");
  l.co_firstlineno = get("code_object.firstlineno");
  l.co_filename = get("code_object.filename");
  l.co_name = get("code_object.name");
  l.co_qualname = get("code_object.qualname");
  l.co_linetable = get("code_object.linetable");
  l.co_code_adaptive = get("code_object.co_code_adaptive");
  return l;
}

ObjectBuilder::ObjectBuilder(Image& image, uint64_t base, std::size_t size, ObjectLayout layout)
    : image_(image), layout_(layout), next_(base), end_(base + size) {
  image_.map(base, size);
}

uint64_t ObjectBuilder::alloc(std::size_t size, std::size_t align) {
  uint64_t at = (next_ + align - 1) & ~uint64_t{align - 1};
  if (at + size > end_) throw std::length_error("synthetic heap is full");
  next_ = at + size;
  return at;
}

uint64_t ObjectBuilder::cstring(std::string_view s) {
  uint64_t at = alloc(s.size() + 1, 1);
  image_.write_cstring(at, s);
  return at;
}

uint64_t ObjectBuilder::object(uint64_t type, std::size_t size) {
  uint64_t obj = alloc(size);
  image_.write_u64(obj, 1);  // ob_refcnt
  image_.write_ptr(obj + layout_.ob_type, type);
  return obj;
}

uint64_t ObjectBuilder::type(std::string_view tp_name) {
  if (auto it = types_.find(std::string(tp_name)); it != types_.end()) return it->second;
  // PyType_Type is its own type; every other type object is an instance of it.
  uint64_t meta = tp_name == "type" ? 0 : type("type");
  uint64_t t = alloc(static_cast<std::size_t>(layout_.type_size));
  image_.write_u64(t, 1);
  image_.write_ptr(t + layout_.ob_type, meta ? meta : t);
  image_.write_ptr(t + layout_.tp_name, cstring(tp_name));
  types_.emplace(std::string(tp_name), t);
  return t;
}

uint64_t ObjectBuilder::str(std::string_view ascii, bool interned) {
  uint64_t s = object(type("str"), static_cast<std::size_t>(layout_.ascii_size) + ascii.size() + 1);
  image_.write_u64(s + layout_.ascii_length, ascii.size());
  // PyASCIIObject.state: interned:2, kind:3, compact:1, ascii:1, statically_allocated:1. Names in
  // code objects are interned (SSTATE_INTERNED_MORTAL = 1).
  uint32_t state = (interned ? 1u : 0u) | 1u << 2 | 1u << 5 | 1u << 6;
  image_.write_u32(s + layout_.ascii_state, state);
  image_.write_cstring(s + layout_.ascii_size, ascii);
  return s;
}

uint64_t ObjectBuilder::bytes(std::span<const std::byte> data) {
  uint64_t b = object(type("bytes"), static_cast<std::size_t>(layout_.bytes_sval) + data.size() + 1);
  image_.write_u64(b + layout_.ob_size, data.size());
  image_.write_u64(b + layout_.bytes_sval - 8, ~uint64_t{0});  // ob_shash: -1, not computed yet
  image_.write(b + layout_.bytes_sval, data);
  return b;
}

uint64_t ObjectBuilder::code(const CodeSpec& spec) {
  // Strings and the line table are allocated first, like the compiler's constants.
  uint64_t filename = str(spec.filename);
  uint64_t name = str(spec.name);
  uint64_t qualname = str(spec.qualname);
  uint64_t linetable = bytes(spec.linetable);
  // co_code_adaptive[1] is counted in sizeof(PyCodeObject); Py_SIZE is the number of code units.
  std::size_t size = static_cast<std::size_t>(layout_.co_code_adaptive) + std::max<std::size_t>(spec.code.size(), 8);
  uint64_t c = object(type("code"), std::max<std::size_t>(size, static_cast<std::size_t>(layout_.code_size)));
  image_.write_u64(c + layout_.ob_size, spec.code.size() / 2);
  image_.write_u32(c + layout_.co_flags, spec.flags);
  image_.write_u32(c + layout_.co_argcount, static_cast<uint32_t>(spec.argcount));
  image_.write_u32(c + layout_.co_firstlineno, static_cast<uint32_t>(spec.first_line));
  image_.write_ptr(c + layout_.co_filename, filename);
  image_.write_ptr(c + layout_.co_name, name);
  image_.write_ptr(c + layout_.co_qualname, qualname);
  image_.write_ptr(c + layout_.co_linetable, linetable);
  image_.write_u64(c + layout_.co_unique_id, spec.unique_id_slot);
  image_.write_u32(c + layout_.co_firsttraceable, static_cast<uint32_t>(spec.first_traceable));
  image_.write(c + layout_.co_code_adaptive, spec.code);
  return c;
}

}  // namespace pyxray::synthetic
