#include "heap/heap_diff.hpp"

#include <algorithm>
#include <map>
#include <unordered_set>
#include <utility>

namespace pyxray {
namespace {

using Key = std::pair<std::string, std::string>;  // (module, qualname)

// The suspects' generations and samples, from the newest snapshot (and the oldest's addresses).
void describe_suspects(std::vector<DiffRow>& suspects, const HeapSnapshot& oldest, const HeapSnapshot& newest) {
  std::map<Key, DiffRow*> by_key;
  for (auto& r : suspects) by_key[{r.module, r.qualname}] = &r;
  std::vector<DiffRow*> row_of_type(newest.types.size(), nullptr);  // newest's type index -> suspect
  for (std::size_t i = 0; i < newest.types.size(); ++i) {
    const SnapshotType& t = newest.types[i];
    auto it = by_key.find({t.module, t.qualname});
    if (it == by_key.end()) continue;
    row_of_type[i] = it->second;
    DiffRow& r = *it->second;
    for (std::size_t g = 0; g < t.gens.size() && g < newest.generation_names.size(); ++g) {
      auto named = std::find_if(r.generations.begin(), r.generations.end(),
                                [&](const auto& p) { return p.first == newest.generation_names[g]; });
      if (named == r.generations.end()) r.generations.push_back({newest.generation_names[g], t.gens[g]});
      else named->second += t.gens[g];
    }
  }
  auto objects = snapshot_objects(newest);
  if (!objects) return;
  // Addresses the oldest snapshot had an object of the same type at: the sample avoids them.
  std::unordered_set<uint64_t> old_addrs;
  if (auto old = snapshot_objects(oldest)) {
    std::vector<bool> suspect_type(oldest.types.size(), false);
    for (std::size_t i = 0; i < oldest.types.size(); ++i)
      suspect_type[i] = by_key.count({oldest.types[i].module, oldest.types[i].qualname}) > 0;
    for (const auto& o : *old)
      if (suspect_type[o.type]) old_addrs.insert(o.addr);
  }
  // Best: new since the oldest, then the oldest generation (codes 1-4 grow older; 0 and 5 are worst).
  auto rank = [](bool is_new, uint8_t gen) { return (is_new ? 8 : 0) + (gen >= 1 && gen <= 4 ? gen : 0); };
  std::map<DiffRow*, int> best;
  for (const auto& o : *objects) {
    DiffRow* r = o.type < row_of_type.size() ? row_of_type[o.type] : nullptr;
    if (!r) continue;
    const bool is_new = !old_addrs.count(o.addr);
    const int score = rank(is_new, o.gen);
    auto [it, first] = best.try_emplace(r, -1);
    if (score <= it->second) continue;
    it->second = score;
    r->sample = o.addr;
    r->sample_is_new = is_new;
    r->sample_generation =
        !newest.gen_col.empty() && o.gen < newest.generation_names.size() ? newest.generation_names[o.gen] : "";
  }
}

}  // namespace

HeapDiff diff_snapshots(const std::vector<const HeapSnapshot*>& snapshots) {
  HeapDiff d;
  if (snapshots.size() < 2) return d;
  const std::size_t n = snapshots.size();
  struct Acc {
    std::string name;
    std::vector<uint64_t> counts, bytes;
    uint32_t classes = 0;
  };
  std::map<Key, Acc> by_key;
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& t : snapshots[i]->types) {
      Acc& a = by_key[{t.module, t.qualname}];
      if (a.counts.empty()) {
        a.counts.assign(n, 0);
        a.bytes.assign(n, 0);
      }
      a.name = t.name;
      a.counts[i] += t.count;
      a.bytes[i] += t.bytes;
      if (i == n - 1) ++a.classes;
    }
  }
  for (auto& [key, a] : by_key) {
    DiffRow r;
    r.module = key.first;
    r.qualname = key.second;
    r.name = a.name;
    r.count_old = a.counts.front();
    r.count_new = a.counts.back();
    r.bytes_old = a.bytes.front();
    r.bytes_new = a.bytes.back();
    r.count_delta = static_cast<int64_t>(r.count_new - r.count_old);
    r.bytes_delta = static_cast<int64_t>(r.bytes_new - r.bytes_old);
    r.classes = std::max<uint32_t>(a.classes, 1);
    if (n >= 3) {
      r.suspect = true;
      for (std::size_t i = 1; i < n; ++i) r.suspect = r.suspect && a.counts[i] > a.counts[i - 1];
    }
    r.counts = std::move(a.counts);
    if (r.count_delta != 0 || r.bytes_delta != 0) d.rows.push_back(r);
    if (r.suspect) d.suspects.push_back(r);
  }
  auto growth_first = [](const DiffRow& a, const DiffRow& b) {
    if (a.count_delta != b.count_delta) return a.count_delta > b.count_delta;
    if (a.bytes_delta != b.bytes_delta) return a.bytes_delta > b.bytes_delta;
    return a.name < b.name;
  };
  std::sort(d.rows.begin(), d.rows.end(), growth_first);
  std::sort(d.suspects.begin(), d.suspects.end(), growth_first);
  if (!d.suspects.empty()) describe_suspects(d.suspects, *snapshots.front(), *snapshots.back());
  DiffRow& t = d.total;
  t.name = "total";
  t.count_old = snapshots.front()->objects;
  t.count_new = snapshots.back()->objects;
  t.bytes_old = snapshots.front()->bytes;
  t.bytes_new = snapshots.back()->bytes;
  t.count_delta = static_cast<int64_t>(t.count_new - t.count_old);
  t.bytes_delta = static_cast<int64_t>(t.bytes_new - t.bytes_old);
  for (const auto* s : snapshots) t.counts.push_back(s->objects);
  return d;
}

}  // namespace pyxray
