#include "layout/layout_tables.hpp"

#include <algorithm>
#include <cstdlib>

namespace pyxray {
namespace {

struct TableRef {
  const char* version;
  std::span<const LayoutEntry> entries;
};

#include "layouts/index.inc"

}  // namespace

std::optional<int64_t> LayoutTable::find(std::string_view key) const {
  for (const auto& e : entries)
    if (e.key == key) return e.offset;
  return std::nullopt;
}

const std::vector<LayoutTable>& layout_tables() {
  static const std::vector<LayoutTable> tables = [] {
    std::vector<LayoutTable> out;
    for (const auto& ref : kTableRefs) out.push_back({*parse_version(ref.version), ref.entries});
    return out;
  }();
  return tables;
}

std::vector<PyVersion> versions_with_tables() {
  std::vector<PyVersion> minors;
  for (const auto& t : layout_tables())
    if (std::find(minors.begin(), minors.end(), t.version) == minors.end())
      minors.push_back({t.version.major, t.version.minor});
  std::sort(minors.begin(), minors.end());
  return minors;
}

const LayoutTable* table_for(const PyVersion& v) {
  const LayoutTable* best = nullptr;
  for (const auto& t : layout_tables()) {
    if (t.version != v) continue;
    if (v.micro_known && t.version.micro == v.micro) return &t;
    if (!best || std::abs(t.version.micro - v.micro) < std::abs(best->version.micro - v.micro)) best = &t;
  }
  return best;
}

const LayoutTable* newest_table_before(const PyVersion& v) {
  const LayoutTable* best = nullptr;
  for (const auto& t : layout_tables()) {
    if (!(t.version < v)) continue;
    if (!best || best->version < t.version || (best->version == t.version && best->version.micro < t.version.micro))
      best = &t;
  }
  return best;
}

}  // namespace pyxray
