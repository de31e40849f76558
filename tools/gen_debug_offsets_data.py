# -*- coding: utf-8 -*-
"""Dump a real _Py_DebugOffsets block and the debuginfo's view of the same structs.

README
------
Runs inside gdb (its embedded Python) against a libpython built with debuginfo; no process is
needed, gdb reads _PyRuntime's initialised bytes straight from the file's .PyRuntime section.
Regenerate the 3.13.0 test data (from the repository root):

    gdb -nx -batch /root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0 \
        -x tools/gen_debug_offsets_data.py

It writes, into tests/data/debug_offsets/ (or $PYXRAY_OUT_DIR):

  cpython-<X.Y.Z>-pyruntime.bin   the first READ_SIZE bytes at &_PyRuntime (the block, then
                                  whatever follows it in _PyRuntime; core/layout/debug_offsets.hpp's
                                  kDebugOffsetsReadSize must not exceed READ_SIZE)
  cpython-<X.Y.Z>-expected.json   what DWARF says, computed independently of the block:
      "layout":  every core/layout/layout_fields.def key this build has ("type:path" -> offsetof, or
                 "type:" -> sizeof), plus the sizes of the structs _Py_DebugOffsets describes;
      "members": for each _Py_DebugOffsets member, the offsetof/sizeof expression CPython's
                 _Py_DebugOffsets_INIT uses for it, evaluated on the debuginfo.
      plus runtime_address, version_hex (Py_Version) and free_threaded.

The unit test (tests/unit/debug_offsets_test.cpp) parses the .bin and checks every offset the
parser reports against this JSON.
"""
import json
import os
import re

import gdb

READ_SIZE = 888

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT_DIR = os.environ.get("PYXRAY_OUT_DIR", os.path.join(ROOT, "tests", "data", "debug_offsets"))

# Structs the 3.13-3.15 blocks give sizes for (their "type:" keys), where the build has them.
SIZE_TYPES = [
    "_PyRuntimeState", "PyInterpreterState", "PyThreadState", "_PyInterpreterFrame", "PyCodeObject",
    "PyObject", "PyTypeObject", "PyHeapTypeObject", "PyTupleObject", "PyListObject", "PySetObject",
    "PyDictObject", "PyFloatObject", "PyLongObject", "PyBytesObject", "PyUnicodeObject",
    "PyASCIIObject", "PyCompactUnicodeObject", "struct _gc_runtime_state", "PyGenObject",
]

# 3.13's _Py_DebugOffsets_INIT (Include/internal/pycore_runtime.h), member by member:
# (section.member, "offsetof" | "sizeof", C type, field path).
# interpreter_state.gil_runtime_state_enabled is the constant 0 on GIL builds and is left out.
MEMBERS_313 = [
    ("runtime_state.size", "sizeof", "_PyRuntimeState", ""),
    ("runtime_state.finalizing", "offsetof", "_PyRuntimeState", "_finalizing"),
    ("runtime_state.interpreters_head", "offsetof", "_PyRuntimeState", "interpreters.head"),
    ("interpreter_state.size", "sizeof", "PyInterpreterState", ""),
    ("interpreter_state.id", "offsetof", "PyInterpreterState", "id"),
    ("interpreter_state.next", "offsetof", "PyInterpreterState", "next"),
    ("interpreter_state.threads_head", "offsetof", "PyInterpreterState", "threads.head"),
    ("interpreter_state.gc", "offsetof", "PyInterpreterState", "gc"),
    ("interpreter_state.imports_modules", "offsetof", "PyInterpreterState", "imports.modules"),
    ("interpreter_state.sysdict", "offsetof", "PyInterpreterState", "sysdict"),
    ("interpreter_state.builtins", "offsetof", "PyInterpreterState", "builtins"),
    ("interpreter_state.ceval_gil", "offsetof", "PyInterpreterState", "ceval.gil"),
    ("interpreter_state.gil_runtime_state", "offsetof", "PyInterpreterState", "_gil"),
    ("interpreter_state.gil_runtime_state_locked", "offsetof", "PyInterpreterState", "_gil.locked"),
    ("interpreter_state.gil_runtime_state_holder", "offsetof", "PyInterpreterState", "_gil.last_holder"),
    ("thread_state.size", "sizeof", "PyThreadState", ""),
    ("thread_state.prev", "offsetof", "PyThreadState", "prev"),
    ("thread_state.next", "offsetof", "PyThreadState", "next"),
    ("thread_state.interp", "offsetof", "PyThreadState", "interp"),
    ("thread_state.current_frame", "offsetof", "PyThreadState", "current_frame"),
    ("thread_state.thread_id", "offsetof", "PyThreadState", "thread_id"),
    ("thread_state.native_thread_id", "offsetof", "PyThreadState", "native_thread_id"),
    ("thread_state.datastack_chunk", "offsetof", "PyThreadState", "datastack_chunk"),
    ("thread_state.status", "offsetof", "PyThreadState", "_status"),
    ("interpreter_frame.size", "sizeof", "_PyInterpreterFrame", ""),
    ("interpreter_frame.previous", "offsetof", "_PyInterpreterFrame", "previous"),
    ("interpreter_frame.executable", "offsetof", "_PyInterpreterFrame", "f_executable"),
    ("interpreter_frame.instr_ptr", "offsetof", "_PyInterpreterFrame", "instr_ptr"),
    ("interpreter_frame.localsplus", "offsetof", "_PyInterpreterFrame", "localsplus"),
    ("interpreter_frame.owner", "offsetof", "_PyInterpreterFrame", "owner"),
    ("code_object.size", "sizeof", "PyCodeObject", ""),
    ("code_object.filename", "offsetof", "PyCodeObject", "co_filename"),
    ("code_object.name", "offsetof", "PyCodeObject", "co_name"),
    ("code_object.qualname", "offsetof", "PyCodeObject", "co_qualname"),
    ("code_object.linetable", "offsetof", "PyCodeObject", "co_linetable"),
    ("code_object.firstlineno", "offsetof", "PyCodeObject", "co_firstlineno"),
    ("code_object.argcount", "offsetof", "PyCodeObject", "co_argcount"),
    ("code_object.localsplusnames", "offsetof", "PyCodeObject", "co_localsplusnames"),
    ("code_object.localspluskinds", "offsetof", "PyCodeObject", "co_localspluskinds"),
    ("code_object.co_code_adaptive", "offsetof", "PyCodeObject", "co_code_adaptive"),
    ("pyobject.size", "sizeof", "PyObject", ""),
    ("pyobject.ob_type", "offsetof", "PyObject", "ob_type"),
    ("type_object.size", "sizeof", "PyTypeObject", ""),
    ("type_object.tp_name", "offsetof", "PyTypeObject", "tp_name"),
    ("type_object.tp_repr", "offsetof", "PyTypeObject", "tp_repr"),
    ("type_object.tp_flags", "offsetof", "PyTypeObject", "tp_flags"),
    ("tuple_object.size", "sizeof", "PyTupleObject", ""),
    ("tuple_object.ob_item", "offsetof", "PyTupleObject", "ob_item"),
    ("tuple_object.ob_size", "offsetof", "PyTupleObject", "ob_base.ob_size"),
    ("list_object.size", "sizeof", "PyListObject", ""),
    ("list_object.ob_item", "offsetof", "PyListObject", "ob_item"),
    ("list_object.ob_size", "offsetof", "PyListObject", "ob_base.ob_size"),
    ("dict_object.size", "sizeof", "PyDictObject", ""),
    ("dict_object.ma_keys", "offsetof", "PyDictObject", "ma_keys"),
    ("dict_object.ma_values", "offsetof", "PyDictObject", "ma_values"),
    ("float_object.size", "sizeof", "PyFloatObject", ""),
    ("float_object.ob_fval", "offsetof", "PyFloatObject", "ob_fval"),
    ("long_object.size", "sizeof", "PyLongObject", ""),
    ("long_object.lv_tag", "offsetof", "PyLongObject", "long_value.lv_tag"),
    ("long_object.ob_digit", "offsetof", "PyLongObject", "long_value.ob_digit"),
    ("bytes_object.size", "sizeof", "PyBytesObject", ""),
    ("bytes_object.ob_size", "offsetof", "PyBytesObject", "ob_base.ob_size"),
    ("bytes_object.ob_sval", "offsetof", "PyBytesObject", "ob_sval"),
    ("unicode_object.size", "sizeof", "PyUnicodeObject", ""),
    ("unicode_object.state", "offsetof", "PyUnicodeObject", "_base._base.state"),
    ("unicode_object.length", "offsetof", "PyUnicodeObject", "_base._base.length"),
    ("unicode_object.asciiobject_size", "sizeof", "PyASCIIObject", ""),
    ("gc.size", "sizeof", "struct _gc_runtime_state", ""),
    ("gc.collecting", "offsetof", "struct _gc_runtime_state", "collecting"),
]


def evaluate(kind, ctype, path):
    if kind == "sizeof" or not path:
        return int(gdb.parse_and_eval("sizeof(%s)" % ctype))
    return int(gdb.parse_and_eval("(long)&((%s *)0)->%s" % (ctype, path)))


def try_evaluate(kind, ctype, path):
    try:
        return evaluate(kind, ctype, path)
    except gdb.error:
        return None


def layout_keys():
    text = open(os.path.join(ROOT, "core", "layout", "layout_fields.def")).read()
    return re.findall(r'^PYX_FIELD\(\w+, "([^"]+)", "([^"]*)"\)', text, re.M)


def main():
    runtime = int(gdb.parse_and_eval("(unsigned long)&_PyRuntime"))
    version_hex = int(gdb.parse_and_eval("Py_Version"))
    major, minor, micro = version_hex >> 24, (version_hex >> 16) & 0xFF, (version_hex >> 8) & 0xFF
    if (major, minor) != (3, 13):
        raise gdb.GdbError("MEMBERS_313 describes 3.13 only; this is %d.%d" % (major, minor))
    block = bytes(gdb.selected_inferior().read_memory(runtime, READ_SIZE))
    free_threaded = try_evaluate("offsetof", "PyObject", "ob_tid") is not None

    layout = {}
    for ctype, path in layout_keys():
        v = try_evaluate("sizeof" if not path else "offsetof", ctype, path)
        if v is not None:
            layout["%s:%s" % (ctype, path)] = v
    for ctype in SIZE_TYPES:
        v = try_evaluate("sizeof", ctype, "")
        if v is not None:
            layout["%s:" % ctype] = v

    members = {}
    for name, kind, ctype, path in MEMBERS_313:
        members[name] = evaluate(kind, ctype, path)

    tag = "cpython-%d.%d.%d" % (major, minor, micro)
    if not os.path.isdir(OUT_DIR):
        os.makedirs(OUT_DIR)
    with open(os.path.join(OUT_DIR, tag + "-pyruntime.bin"), "wb") as f:
        f.write(block)
    doc = {
        "source": os.path.basename(gdb.current_progspace().filename),
        "runtime_address": runtime,
        "version_hex": version_hex,
        "free_threaded": free_threaded,
        "read_size": READ_SIZE,
        "layout": layout,
        "members": members,
    }
    with open(os.path.join(OUT_DIR, tag + "-expected.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %s: %d layout keys, %d members" % (tag, len(layout), len(members)))


main()
