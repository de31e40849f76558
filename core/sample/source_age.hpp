// Whether a source file may no longer be what a process runs: a file modified after the process
// started may have lines that moved, so the line views say so next to it.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace pyxray {

class Target;

// When process `pid` started, in seconds since the epoch (from /proc/PID/stat's start time in clock
// ticks after boot, and /proc/stat's boot time); nullopt when that cannot be read (it has exited).
std::optional<double> process_start_time(int pid);

// Tells whether a file (a co_filename, read through the target's view of the file system) was
// modified after the target started; always false when that cannot be told.
std::function<bool(const std::string&)> changed_since_start(Target& target);

}  // namespace pyxray
