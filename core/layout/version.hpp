// CPython versions: parsing, ordering and the range pyxray supports.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "base/expected.hpp"

namespace pyxray {

struct PyVersion {
  int major = 0;
  int minor = 0;
  int micro = 0;  // 0 when only major.minor is known
  bool micro_known = false;

  auto operator<=>(const PyVersion& o) const { return std::tie(major, minor) <=> std::tie(o.major, o.minor); }
  bool operator==(const PyVersion& o) const { return major == o.major && minor == o.minor; }
  bool at_least(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
  bool before(int maj, int min) const { return !at_least(maj, min); }
  std::string text() const;  // "3.11.7", or "3.11" when the micro version is unknown
};

// "3.11.7", "3.11", "3.11.7 (main, ...)", "3.13.0rc1" -> version; nullopt when it is not one.
std::optional<PyVersion> parse_version(std::string_view text);
// PY_VERSION_HEX as stored in Py_Version and _Py_DebugOffsets.version.
PyVersion version_from_hex(uint32_t hex);
// Version named by a file name such as libpython3.11.so.1.0, libpython2.7.so, python3.6m.
std::optional<PyVersion> version_from_path(std::string_view path);

// The newest minor version of CPython 3 whose structures pyxray knows (tables, _Py_DebugOffsets
// block, version rules).
inline constexpr int kNewestKnownMinor = 15;
// A CPython 3 newer than every version pyxray knows: decoded only through its own _Py_DebugOffsets
// (read as the newest known block), with the newest table and rules filling in, and said so.
inline bool newer_than_known(const PyVersion& v) { return v.major == 3 && v.minor > kNewestKnownMinor; }

// The versions the decoders know, and newer CPython 3 versions (see newer_than_known); anything else
// is refused with a message naming what was found.
Expected<void> check_supported(const PyVersion& v);

}  // namespace pyxray
