#include "layout/layout.hpp"

#include <fmt/format.h>

namespace pyxray {

const std::vector<LayoutField>& layout_fields() {
  static const std::vector<LayoutField> fields = {
#define PYX_FIELD(member, type, path) {#member, type, path, &Layout::member},
#include "layout/layout_fields.def"
#undef PYX_FIELD
  };
  return fields;
}

std::string layout_key(const LayoutField& f) { return fmt::format("{}:{}", f.type, f.path); }

int fill_layout(Layout& layout, const OffsetSource& source, bool only_absent) {
  int found = 0;
  for (const auto& f : layout_fields()) {
    if (only_absent && layout.*f.offset != kAbsent) continue;
    if (auto off = source(f.type, f.path)) {
      layout.*f.offset = *off;
      ++found;
    }
  }
  return found;
}

}  // namespace pyxray
