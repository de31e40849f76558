// Decoders for CPython's bytecode-offset -> source-line tables (co_lnotab / co_linetable).
//
// Pure functions over bytes read from the target process: no debugger, no I/O, no exceptions.
// They never read outside `table`, and every loop is bounded by the table's size, so corrupt or
// truncated tables (a torn read, a wrong address) give nullopt or some line, never a crash.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

namespace pyxray {

enum class LineTableFormat {
  Lnotab27,      // Python 2.7 co_lnotab: unsigned (byte incr, line incr) pairs
  Lnotab36,      // Python 3.6-3.9 co_lnotab: line increments are signed bytes
  Linetable310,  // Python 3.10 co_linetable
  Locations311,  // Python 3.11+ co_linetable ("location table", PEP 626/657 format)
};

// Source line that CPython itself reports (PyCode_Addr2Line / frame.f_lineno) for the instruction at
// byte offset `byte_offset` in a code object whose line table is `table` and whose co_firstlineno is
// `first_line`. nullopt where CPython reports no line (None / -1). Must never crash or loop unboundedly
// on arbitrary (corrupt, truncated) input.
//
// Callers pass byte offsets: on <=3.9 f_lasti as is; on 3.10 f_lasti * 2; on 3.11+
// (instr_ptr - first code unit) * 2. As in CPython:
//  - a negative offset (a frame that has not started) reports `first_line`, whatever the format;
//  - on <=3.9 an offset past the end of the table reports the table's last line; on 3.10+ it has none;
//  - on 3.10+ a negative line means "no line" (frame.f_lineno is None for it).
std::optional<int> line_for_offset(LineTableFormat format, std::span<const std::byte> table, int first_line,
                                   int byte_offset);

// Format for a CPython major/minor version (2.7 -> Lnotab27, 3.6..3.9 -> Lnotab36, 3.10 -> Linetable310,
// 3.11 and later -> Locations311). 3.0-3.5 used 2.7's unsigned table, so they map to Lnotab27.
LineTableFormat line_table_format(int major, int minor);

}  // namespace pyxray
