// The cycles of a directed graph, for the wait-for graphs of py-locks (threads) and py-tasks (tasks
// awaiting tasks): each cycle is a deadlock.
#pragma once

#include <cstddef>
#include <vector>

namespace pyxray {

struct CycleStep {
  std::size_t node = 0;
  std::size_t edge = 0;  // the index in edges[node] of the edge the cycle leaves it by
};

// Every cycle found along a depth-first walk, once, rotated to start at its lowest node. Iterative,
// so that a long chain of waits cannot exhaust the debugger's stack; each node is visited once, so
// it is linear in nodes and edges. When a node waits for one thing only (a lock has one holder),
// that is every cycle; where nodes wait for several (a task gathering others), cycles sharing an
// edge with one found before may not be reported separately.
std::vector<std::vector<CycleStep>> find_cycles(const std::vector<std::vector<std::size_t>>& edges);

}  // namespace pyxray
