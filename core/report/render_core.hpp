// The header py-bt-all puts before the threads of a core file: which process it was and what ended
// it (the signal, its cause, the faulting address, the thread it hit), so that a crash reads first.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/thread_report.hpp"

namespace pyxray {

// Whether the core's signal is one that killed the process (SIGSEGV, SIGABRT, ...), not the stop of
// a process a debugger wrote a core of (gcore).
bool core_crashed(const CoreOrigin& core);
// The order threads are shown in: the thread the signal hit first, then the others as they are.
std::vector<std::size_t> thread_order(const ProcessReport& report);
// Whether `t` is the thread the core's signal hit.
bool is_signalled_thread(const ProcessReport& report, const ThreadReport& t);

std::string core_header_text(const ProcessReport& report);
nlohmann::ordered_json core_json(const CoreOrigin& core);

}  // namespace pyxray
