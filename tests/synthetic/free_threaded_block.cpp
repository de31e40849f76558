#include "free_threaded_block.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>

namespace pyxray::synthetic {
namespace {

// The 3.13 block's members in order (Include/internal/pycore_runtime.h of 3.13).
// clang-format off
constexpr std::string_view kNames313[] = {
    "runtime_state.size", "runtime_state.finalizing", "runtime_state.interpreters_head",
    "interpreter_state.size", "interpreter_state.id", "interpreter_state.next", "interpreter_state.threads_head",
    "interpreter_state.gc", "interpreter_state.imports_modules", "interpreter_state.sysdict",
    "interpreter_state.builtins", "interpreter_state.ceval_gil", "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled", "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "thread_state.size", "thread_state.prev", "thread_state.next", "thread_state.interp",
    "thread_state.current_frame", "thread_state.thread_id", "thread_state.native_thread_id",
    "thread_state.datastack_chunk", "thread_state.status",
    "interpreter_frame.size", "interpreter_frame.previous", "interpreter_frame.executable",
    "interpreter_frame.instr_ptr", "interpreter_frame.localsplus", "interpreter_frame.owner",
    "code_object.size", "code_object.filename", "code_object.name", "code_object.qualname",
    "code_object.linetable", "code_object.firstlineno", "code_object.argcount", "code_object.localsplusnames",
    "code_object.localspluskinds", "code_object.co_code_adaptive",
    "pyobject.size", "pyobject.ob_type",
    "type_object.size", "type_object.tp_name", "type_object.tp_repr", "type_object.tp_flags",
    "tuple_object.size", "tuple_object.ob_item", "tuple_object.ob_size",
    "list_object.size", "list_object.ob_item", "list_object.ob_size",
    "dict_object.size", "dict_object.ma_keys", "dict_object.ma_values",
    "float_object.size", "float_object.ob_fval",
    "long_object.size", "long_object.lv_tag", "long_object.ob_digit",
    "bytes_object.size", "bytes_object.ob_size", "bytes_object.ob_sval",
    "unicode_object.size", "unicode_object.state", "unicode_object.length", "unicode_object.asciiobject_size",
    "gc.size", "gc.collecting",
};
// clang-format on

constexpr std::string_view kObjectSections[] = {"code_object",  "type_object",    "tuple_object", "list_object",
                                                "set_object",   "dict_object",    "float_object", "long_object",
                                                "bytes_object", "unicode_object", "gen_object"};

}  // namespace

DebugOffsetsMembers debug_offsets_313() {
  std::ifstream in(PYXRAY_TEST_DATA_DIR "/debug_offsets/cpython-3.13.0-pyruntime.bin", std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr std::size_t kHeader = 24;
  if (raw.size() < kHeader + 8 * std::size(kNames313))
    throw std::runtime_error("debug_offsets_313: cannot read the 3.13.0 _Py_DebugOffsets data");
  DebugOffsetsMembers out;
  for (std::size_t i = 0; i < std::size(kNames313); ++i) {
    uint64_t v = 0;
    std::memcpy(&v, raw.data() + kHeader + 8 * i, 8);
    out.push_back({std::string(kNames313[i]), v});
  }
  return out;
}

DebugOffsetsMembers free_threaded_members(DebugOffsetsMembers m, int minor) {
  if (minor != 13 && minor != 14) throw std::invalid_argument("free_threaded_members: 3.13 or 3.14 only");
  const uint64_t adaptive = member(m, "code_object.co_code_adaptive");
  for (auto& [name, value] : m) {
    std::string_view section = std::string_view(name).substr(0, name.find('.'));
    for (std::string_view s : kObjectSections)
      if (section == s) value += 16;
  }
  set_member(m, "pyobject.size", 32);
  set_member(m, "pyobject.ob_type", 24);
  set_member(m, "interpreter_state.gil_runtime_state_enabled", 0);
  set_member(m, "interpreter_state.gil_runtime_state_locked",
             member(m, "interpreter_state.gil_runtime_state_locked") + 8);
  set_member(m, "interpreter_state.gil_runtime_state_holder",
             member(m, "interpreter_state.gil_runtime_state_holder") + 8);
  if (minor == 14) {
    set_member(m, "code_object.co_tlbc", adaptive + 16);
    set_member(m, "code_object.co_code_adaptive", adaptive + 24);
    set_member(m, "code_object.size", member(m, "code_object.size") + 8);
    set_member(m, "interpreter_frame.tlbc_index", member(m, "interpreter_frame.stackpointer") + 8);
    set_member(m, "interpreter_frame.owner", member(m, "interpreter_frame.owner") + 4);
    set_member(m, "interpreter_state.tlbc_generation", member(m, "interpreter_state.code_object_generation") + 8);
  }
  return m;
}

}  // namespace pyxray::synthetic
