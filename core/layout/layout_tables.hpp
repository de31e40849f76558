// Built-in layouts for targets without debuginfo: one table per CPython build that tools/gen-layout-tables
// read the DWARF of. Patch releases of one minor version share almost every offset, so a target with no
// exact match uses the nearest build of its minor version.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "layout/layout.hpp"
#include "layout/version.hpp"

namespace pyxray {

struct LayoutEntry {
  std::string_view key;  // "type:path", as layout_key()
  int64_t offset;
};

struct LayoutTable {
  PyVersion version;
  std::span<const LayoutEntry> entries;
  std::optional<int64_t> find(std::string_view key) const;
};

const std::vector<LayoutTable>& layout_tables();
// The minor versions (X.Y, no micro) some table describes, oldest first.
std::vector<PyVersion> versions_with_tables();
// The table for `v`: its exact build if known, else the closest micro release of the same minor.
const LayoutTable* table_for(const PyVersion& v);
// The newest table of an older minor version, for versions no table describes.
const LayoutTable* newest_table_before(const PyVersion& v);

}  // namespace pyxray
