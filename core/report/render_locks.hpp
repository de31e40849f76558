// py-locks' three faces: plain words for people (the deadlock first), a JSON shape for scripts and a
// Graphviz graph of who holds and who waits for what.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace pyxray {

struct ProcessReport;
struct LockReport;

// `report.threads` are the threads the lock report's indexes refer to.
std::string locks_text(const ProcessReport& report, const LockReport& locks);
nlohmann::ordered_json locks_json(const ProcessReport& report, const LockReport& locks);
std::string locks_dot(const ProcessReport& report, const LockReport& locks);

// A lock's name for people: its name, else its type and address.
std::string lock_label(const LockReport& locks, std::size_t lock);

}  // namespace pyxray
