#include "locks/wait_graph.hpp"

#include "base/graph_cycles.hpp"
#include "locks/lock_report.hpp"

namespace pyxray {

std::vector<Deadlock> find_deadlocks(const LockReport& report) {
  const std::size_t n = report.waiting_for.size();
  std::vector<std::vector<std::size_t>> edges(n);
  std::vector<std::vector<uint64_t>> edge_locks(n);  // the lock of each edge; 0 for a join
  auto add = [&](std::size_t from, std::size_t to, uint64_t lock) {
    edges[from].push_back(to);
    edge_locks[from].push_back(lock);
  };
  for (std::size_t t = 0; t < n; ++t) {
    if (auto l = report.waiting_for[t]) {
      const LockInfo& info = report.locks[*l];
      for (const auto& h : info.holders)
        if (h.thread != t && h.thread < n) add(t, h.thread, info.state.address);
    }
  }
  for (const auto& j : report.joins)
    if (j.joined && *j.joined < n && j.waiter.thread < n) add(j.waiter.thread, *j.joined, 0);

  std::vector<Deadlock> out;
  for (const auto& cycle : find_cycles(edges)) {
    Deadlock d;
    for (const auto& step : cycle) {
      d.threads.push_back(step.node);
      d.locks.push_back(edge_locks[step.node][step.edge]);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace pyxray
