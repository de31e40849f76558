// CPython 3.13+ publishes its own struct offsets: _PyRuntime begins with a _Py_DebugOffsets block
// (cookie "xdebugpy", PY_VERSION_HEX, free_threaded flag, then per struct its size and field
// offsets, every member a uint64_t). This decodes that block and refuses to trust it unless it
// passes validation.
//
// The block's own layout is versioned: 3.13 (rc2+) has 15 sections, 3.14 (b2+) 19, 3.15 21, and
// 3.15 changed mid-beta (b4 inserted thread_state.last_profiled_frame_seq). Pre-releases whose
// layout is not known exactly are refused rather than guessed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "base/expected.hpp"
#include "layout/version.hpp"

namespace pyxray {

struct DebugOffsets {
  PyVersion version;         // from the block's version field (micro known)
  uint32_t version_hex = 0;  // PY_VERSION_HEX as stored, with release level and serial
  bool free_threaded = false;
  // Every member the block provides, keyed like layout_fields() ("type:path", e.g.
  // {"PyThreadState:next", 8}); struct sizes as "type:" keys ("PyThreadState:" -> 312). Members with
  // no layout key are kept as "debug:section.member" ("debug:thread_state.status"). Members that
  // only exist on free-threaded builds (tlbc_*, co_tlbc, gil_runtime_state_enabled) are left out of
  // a GIL build's map when they hold their placeholder 0; tlbc_index and co_tlbc have layout keys.
  std::map<std::string, int64_t> offsets;
};

// Bytes to read from &_PyRuntime to cover the largest known block (3.15: 24-byte header + 108
// members of 8 bytes). Reading more is harmless: _PyRuntime is far larger than the block.
inline constexpr std::size_t kDebugOffsetsReadSize = 888;

// Size of the block for one PY_VERSION_HEX, or nullopt when its layout is not known.
std::optional<std::size_t> debug_offsets_block_size(uint32_t version_hex);

// Parses the bytes at the start of _PyRuntime (`address` is only used in messages). Fails, with a
// one-line message saying what was wrong, when: fewer bytes than the version's block; the cookie is
// wrong; the version is not 3.13-3.15, is a pre-release whose block layout is not known, or its
// major.minor differ from `expected`; free_threaded is neither 0 nor 1; a struct size is 0 or over
// 1 MiB; a field offset is not inside its struct's declared size (or over 1 MiB where the block
// declares no size for that struct).
Expected<DebugOffsets> parse_debug_offsets(std::span<const std::byte> bytes, uint64_t address,
                                           std::optional<PyVersion> expected = std::nullopt);

}  // namespace pyxray
