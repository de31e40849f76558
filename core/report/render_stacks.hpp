// py-bt-all's two faces: a traceback-like text for people and a stable JSON shape for scripts.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report/thread_report.hpp"

namespace pyxray {

class SourceLines;

nlohmann::ordered_json stacks_json(const ProcessReport& report);
std::string stacks_text(const ProcessReport& report, SourceLines& sources);

}  // namespace pyxray
