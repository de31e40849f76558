#include "heap/heap_diff.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace pyxray {

HeapDiff diff_snapshots(const std::vector<const HeapSnapshot*>& snapshots) {
  HeapDiff d;
  if (snapshots.size() < 2) return d;
  const std::size_t n = snapshots.size();
  using Key = std::pair<std::string, std::string>;  // (module, qualname)
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
