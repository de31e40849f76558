// Which process run a heap snapshot was taken of, so that two snapshots (or a snapshot and the
// process now) can be told to be of the same run before they are compared. A pid alone is not
// enough: pids are reused. A live process is named by (boot id, pid, start time in clock ticks since
// boot, /proc/PID/stat field 22), which no two runs share; a core file says less (its pid and
// executable), so snapshots of cores can only be said to be "probably" of one run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pyxray {

class Memory;
class Target;

struct ProcessIdentity {
  std::string source;        // "live" or "core"
  int64_t pid = 0;           // 0 when unknown
  uint64_t start_ticks = 0;  // live: /proc/PID/stat field 22; 0 when unknown (cores)
  std::string boot_id;       // live: /proc/sys/kernel/random/boot_id; "" when unknown
  std::string exe;           // the executable's path as the process (or the core) names it
};

// The identity of the target as it is now.
ProcessIdentity process_identity(Target& target);

// Field 22 of /proc/PID/stat (the start time in clock ticks after boot), nullopt when unreadable.
std::optional<uint64_t> proc_start_ticks(int pid);
// The start-time field of one /proc/PID/stat line (the command name may hold spaces and ')').
std::optional<uint64_t> parse_start_ticks(std::string_view stat_line);

// Whether two identities are of one run, and when not, why in a phrase ("process 123 started at
// tick 456 vs process 789 ..."). `certain` is false when cores are involved: then equal pids and
// executables are taken as one run, which a core cannot prove.
struct SameProcess {
  bool same = false;
  bool certain = false;
};
SameProcess same_process(const ProcessIdentity& a, const ProcessIdentity& b);
// "process 1234 (/usr/bin/python3.11, started 5,678 ticks after boot)", for messages.
std::string describe(const ProcessIdentity& p);

}  // namespace pyxray
