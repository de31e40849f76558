// Struct layouts of one CPython build: every offset the decoders use, resolved once per target from
// the best source available (debuginfo, _Py_DebugOffsets, or a built-in per-version table).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pyxray {

// Offsets are byte offsets inside their struct (sizes for "type:" keys); kAbsent when the build has
// no such field.
inline constexpr int64_t kAbsent = -1;

struct Layout {
#define PYX_FIELD(member, type, path) int64_t member = kAbsent;
#include "layout/layout_fields.def"
#undef PYX_FIELD
  std::string source;  // where the offsets came from, for messages ("debuginfo", "table 3.11", ...)
};

struct LayoutField {
  const char* member;
  const char* type;
  const char* path;
  int64_t Layout::*offset;
};
// All fields in declaration order; keys are "type:path".
const std::vector<LayoutField>& layout_fields();
std::string layout_key(const LayoutField& f);

using OffsetSource = std::function<std::optional<int64_t>(std::string_view type, std::string_view path)>;
// Fills every field that `source` knows (only those still absent, with only_absent); returns how many.
int fill_layout(Layout& layout, const OffsetSource& source, bool only_absent = false);

}  // namespace pyxray
