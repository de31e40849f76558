// Everything in the LLDB front end that depends on the operating system (or its C library) lives
// behind this interface, implemented in platform.cpp, so that a port touches one file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lldb/API/SBProcess.h"

namespace pyxray::lldb_plugin::platform {

// pthread_t of each thread, by the thread id LLDB reports (the kernel tid on Linux), for the threads
// where it can be recovered from the process's memory. LLDB's SB API has no thread handle or thread
// pointer (16 exposes neither fs_base nor TLS on Linux), yet CPython before 3.8 records only
// pthread_t in its thread states. Empty where unsupported (everything but Linux x86-64 with glibc).
std::map<int64_t, uint64_t> findPthreadIds(lldb::SBProcess &Process, int64_t Pid, const std::vector<int64_t> &Tids);

// True when a shared object in a process's mappings names a library (rather than a data file), for
// the "could not be loaded" list.
bool looksLikeSharedObject(const std::string &Path);

// Files the debugger's own process maps from their first byte, each once. LLDB 16 has no
// SBProcess::GetCoreFile, but it maps the whole core file it opened: this is where to find it.
// Empty where unsupported (everything but Linux).
std::vector<std::string> ownMappedFiles();

} // namespace pyxray::lldb_plugin::platform
