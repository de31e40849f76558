// Thread ids of a process in another PID namespace (a container), as the host numbers them.
//
// CPython's native_thread_id is gettid() inside the process's own namespace; the debugger, on the
// host, knows the host's ids. /proc/PID/task/TID/status has an NSpid line per thread with its id in
// every namespace from the reader's down to the innermost ("NSpid: 17241 2").
#pragma once

#include <cstdint>
#include <unordered_map>

namespace pyxray {

// Host thread id by innermost-namespace thread id, for every thread of live process `pid` whose two
// differ; empty when the process shares the reader's PID namespace or /proc cannot say.
std::unordered_map<int64_t, int64_t> host_tids_by_namespace_tid(int pid);

}  // namespace pyxray
