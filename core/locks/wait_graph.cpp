#include "locks/wait_graph.hpp"

#include <algorithm>
#include <set>

#include "locks/lock_report.hpp"

namespace pyxray {

namespace {

struct Edge {
  std::size_t to = 0;
  uint64_t lock = 0;  // 0: a join
};

}  // namespace

std::vector<Deadlock> find_deadlocks(const LockReport& report) {
  const std::size_t n = report.waiting_for.size();
  std::vector<std::vector<Edge>> edges(n);
  for (std::size_t t = 0; t < n; ++t) {
    if (auto l = report.waiting_for[t]) {
      const LockInfo& info = report.locks[*l];
      for (const auto& h : info.holders)
        if (h.thread != t) edges[t].push_back({h.thread, info.state.address});
    }
  }
  for (const auto& j : report.joins)
    if (j.joined && *j.joined < n && j.waiter.thread < n) edges[j.waiter.thread].push_back({*j.joined, 0});

  // Depth-first along the path of waits; a thread met again on the current path closes a cycle. A
  // thread waits for one thing (a lock has one holder), so every cycle is found with each thread
  // visited once: linear in the threads, whatever their number.
  std::vector<Deadlock> out;
  std::set<std::vector<std::size_t>> seen;
  std::vector<char> state(n, 0);  // 0 not seen, 1 on the path, 2 done
  // The path as (thread, next edge to follow); iterative, so that a long chain of waits cannot
  // exhaust the debugger's stack.
  std::vector<std::pair<std::size_t, std::size_t>> path;
  for (std::size_t start = 0; start < n; ++start) {
    if (state[start] != 0) continue;
    path.push_back({start, 0});
    state[start] = 1;
    while (!path.empty()) {
      auto& [t, next] = path.back();
      if (next == edges[t].size()) {
        state[t] = 2;
        path.pop_back();
        continue;
      }
      const Edge e = edges[t][next++];
      if (state[e.to] == 0) {
        state[e.to] = 1;
        path.push_back({e.to, 0});
      } else if (state[e.to] == 1) {
        auto from = std::find_if(path.begin(), path.end(), [&](const auto& p) { return p.first == e.to; });
        Deadlock d;
        for (auto it = from; it != path.end(); ++it) {
          d.threads.push_back(it->first);
          // The edge each thread took is the one before its next.
          const auto& taken = edges[it->first][it->second - 1];
          d.locks.push_back(taken.lock);
        }
        // One rotation per cycle: starting at its lowest thread.
        auto low = std::min_element(d.threads.begin(), d.threads.end()) - d.threads.begin();
        std::rotate(d.threads.begin(), d.threads.begin() + low, d.threads.end());
        std::rotate(d.locks.begin(), d.locks.begin() + low, d.locks.end());
        if (seen.insert(d.threads).second) out.push_back(std::move(d));
      }
    }
  }
  return out;
}

}  // namespace pyxray
