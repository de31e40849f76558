#include "layout/free_threaded_layout.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace pyxray {
namespace {

// sizeof(PyObject) free-threaded (32) minus with the GIL (16).
constexpr int64_t kHeaderGrowth = 16;

// Structs that begin with PyObject_HEAD or PyObject_VAR_HEAD and have no free-threading-only member
// before the fields pyxray reads: every offset, and the size, moves by kHeaderGrowth.
constexpr std::array<std::string_view, 23> kObjectStructs = {
    "PyVarObject",      "PyTypeObject",   "PyHeapTypeObject",  "PyASCIIObject", "PyCompactUnicodeObject",
    "PyUnicodeObject",  "PyBytesObject",  "PyLongObject",      "PyTupleObject", "PyListObject",
    "PyDictObject",     "PyFloatObject",  "PyByteArrayObject", "PySetObject",   "PyModuleObject",
    "PyFunctionObject", "PyMethodObject", "PyCFunctionObject", "PyCellObject",  "PyCodeObject",
    "PyGenObject",      "PyFrameObject",  "dequeobject",
};

// Structs that are not objects and are the same in both builds (PyDictKeysObject's free-threaded
// dk_mutex is one byte that fits in the padding before dk_version).
constexpr std::array<std::string_view, 8> kSameStructs = {
    "_PyStackChunk", "PyDictKeysObject", "PyDictKeyEntry", "PyDictValues",
    "setentry",      "PyMethodDef",      "PyMemberDef",    "digit",
};

// Fields of those structs that do not follow their struct's rule: they come from the block, or
// nowhere. PyCodeObject: 3.14t puts co_tlbc between co_extra and the bytecode. PyHeapTypeObject:
// the free-threaded build appends a unique id, so its size grows by 8 more. _PyInterpreterFrame:
// 3.14t puts int32 tlbc_index after stackpointer, moving owner; the fields before it do not move.
constexpr std::array<std::string_view, 3> kExceptions = {
    "PyCodeObject:co_code_adaptive",
    "PyCodeObject:_co_firsttraceable",
    "PyHeapTypeObject:",
};
constexpr std::array<std::string_view, 5> kSameFrameFields = {
    "_PyInterpreterFrame:f_executable", "_PyInterpreterFrame:previous", "_PyInterpreterFrame:f_globals",
    "_PyInterpreterFrame:f_builtins",   "_PyInterpreterFrame:f_locals",
};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& a, std::string_view s) {
  return std::find(a.begin(), a.end(), s) != a.end();
}

}  // namespace

bool free_threaded_rules_known(const PyVersion& v) { return v.major == 3 && (v.minor == 13 || v.minor == 14); }

std::map<std::string, int64_t> free_threaded_rows(const PyVersion& v, const LayoutTable& gil_table) {
  std::map<std::string, int64_t> out;
  if (!free_threaded_rules_known(v)) return out;
  for (const auto& e : gil_table.entries) {
    std::string_view key = e.key;
    std::string_view type = key.substr(0, key.find(':'));
    if (contains(kExceptions, key)) continue;
    if (contains(kObjectStructs, type)) {
      out[std::string(key)] = e.offset + kHeaderGrowth;
    } else if (contains(kSameStructs, type) || contains(kSameFrameFields, key)) {
      out[std::string(key)] = e.offset;
    }
  }
  // The object header itself (Include/object.h): ob_type comes from the block.
  out["PyObject:ob_ref_local"] = 12;
  out["PyObject:ob_ref_shared"] = 16;
  // struct _PyCodeArray {Py_ssize_t size; char *entries[1];} (Include/cpython/code.h, 3.14+).
  if (v.at_least(3, 14)) {
    out["_PyCodeArray:size"] = 0;
    out["_PyCodeArray:entries"] = 8;
  }
  return out;
}

}  // namespace pyxray
