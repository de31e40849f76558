#include "base/graph_cycles.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace pyxray {

std::vector<std::vector<CycleStep>> find_cycles(const std::vector<std::vector<std::size_t>>& edges) {
  const std::size_t n = edges.size();
  std::vector<std::vector<CycleStep>> out;
  std::set<std::vector<std::size_t>> seen;
  std::vector<char> state(n, 0);                          // 0 not seen, 1 on the path, 2 done
  std::vector<std::pair<std::size_t, std::size_t>> path;  // (node, next edge to follow)
  for (std::size_t start = 0; start < n; ++start) {
    if (state[start] != 0) continue;
    path.push_back({start, 0});
    state[start] = 1;
    while (!path.empty()) {
      auto& [node, next] = path.back();
      if (next == edges[node].size()) {
        state[node] = 2;
        path.pop_back();
        continue;
      }
      const std::size_t to = edges[node][next++];
      if (to >= n) continue;
      if (state[to] == 0) {
        state[to] = 1;
        path.push_back({to, 0});
      } else if (state[to] == 1) {
        auto from = std::find_if(path.begin(), path.end(), [&](const auto& p) { return p.first == to; });
        std::vector<CycleStep> cycle;
        std::vector<std::size_t> nodes;
        // The edge each node took is the one before its next.
        for (auto it = from; it != path.end(); ++it) {
          cycle.push_back({it->first, it->second - 1});
          nodes.push_back(it->first);
        }
        auto low = std::min_element(nodes.begin(), nodes.end()) - nodes.begin();
        std::rotate(cycle.begin(), cycle.begin() + low, cycle.end());
        std::rotate(nodes.begin(), nodes.begin() + low, nodes.end());
        if (seen.insert(nodes).second) out.push_back(std::move(cycle));
      }
    }
  }
  return out;
}

}  // namespace pyxray
