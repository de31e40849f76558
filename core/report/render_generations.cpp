#include "report/render_generations.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "base/thousands.hpp"
#include "heap/object_size.hpp"
#include "layout/version_traits.hpp"

namespace pyxray {
namespace {

uint64_t tracked(const GenCounts& c) {
  uint64_t n = 0;
  for (int k = kGenList0; k < kGenCodes; ++k) n += c[k];
  return n;
}

}  // namespace

GenerationColumns::GenerationColumns(const GenerationResult* g, const VersionTraits& vt)
    : g_(g), names_(generation_names(vt)), permanent_(vt.gc_permanent) {
  if (g_) unknown_ = g_->total[kGenUnknown] > 0;
  for (int k = 0; k < kGenCodes; ++k) width_[k] = names_[k].size();
}

GenCounts GenerationColumns::of(const TypeInfo& t, uint64_t count) const {
  GenCounts c{};
  if (g_ && t.id < g_->by_type.size()) c = g_->by_type[t.id];
  c[kGenUntracked] = count - std::min(count, tracked(c));
  return c;
}

GenCounts GenerationColumns::total(uint64_t objects) const {
  GenCounts c = g_ ? g_->total : GenCounts{};
  c[kGenUntracked] = objects - std::min(objects, tracked(c));
  return c;
}

// Text leaves "untracked" out of the columns (it is Count minus the rest) and "unknown" unless some
// object is; JSON and the totals line have every code the version has.
bool GenerationColumns::shown(int k, bool everything) const {
  if (k == kGenUntracked) return everything;
  if (k == kGenPermanent) return permanent_;
  if (k == kGenUnknown) return everything || unknown_;
  return true;
}

nlohmann::ordered_json GenerationColumns::json_of(const GenCounts& c) const {
  auto j = nlohmann::ordered_json::object();
  for (int k = 0; k < kGenCodes; ++k)
    if (shown(k, true)) j[names_[k]] = c[k];
  return j;
}

void GenerationColumns::fit(const GenCounts& c) {
  for (int k = 0; k < kGenCodes; ++k) width_[k] = std::max(width_[k], thousands(c[k]).size());
}

std::string GenerationColumns::header() const {
  std::string s;
  if (!g_) return s;
  for (int k = 0; k < kGenCodes; ++k)
    if (shown(k, false)) s += fmt::format("{:>{}}  ", names_[k], width_[k]);
  return s;
}

std::string GenerationColumns::cells(const GenCounts& c) const {
  std::string s;
  if (!g_) return s;
  for (int k = 0; k < kGenCodes; ++k)
    if (shown(k, false)) s += fmt::format("{:>{}}  ", thousands(c[k]), width_[k]);
  return s;
}

std::string GenerationColumns::total_text(uint64_t objects) const {
  if (!g_) return {};
  GenCounts c = total(objects);
  std::string s;
  for (int k = 0; k < kGenCodes; ++k)
    if (shown(k, true)) s += fmt::format("{}{} {}", s.empty() ? "GC generations: " : ", ", names_[k], thousands(c[k]));
  return s + "\n";
}

}  // namespace pyxray
