// The wait-for graph: thread -> the lock it waits for -> the thread holding it (or thread -> the
// thread it joins). A cycle is a deadlock: no thread in it can go on.
#pragma once

#include <vector>

namespace pyxray {

struct LockReport;
struct Deadlock;

// Every cycle once, each starting at its lowest thread index; only edges whose holder is known count.
std::vector<Deadlock> find_deadlocks(const LockReport& report);

}  // namespace pyxray
